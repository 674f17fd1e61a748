//! The adapter between the worker's event loop and ike-proto's sans-IO
//! IKEv2 engine.
//!
//! The worker feeds inputs (a datagram arrived on socket N, time passed, a
//! broker message, a new configuration, an operator command); this module
//! hands them to [`ike_proto::engine::Engine`] and collects what it asks
//! for: datagrams (mapped to the UDP socket bound to the engine's local
//! address), kernel requests (translated by `kernel`), the next deadline,
//! and events (logged and streamed to `monitor`). `show sa` reads the
//! engine's own snapshot; the kernel's byte counters are read on demand
//! when `show sa` asks (the worker pages the GETs), never periodically:
//! byte lifetimes come from the kernel's own soft/hard EXPIRE (issue 12).

use crate::caps;
use crate::kernel::KernelMap;
use crate::pacing::Pacer;
use crate::policy::{self, Listen};
use crate::show;
use ike_ipc::config::Config;
use ike_ipc::msg::pfkey::{NetToPfkey, PfkeyToNet, Supported};
use ike_ipc::msg::ListenSocket;
use ike_proto::engine::{self as ike, Command, Event, SystemRng};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

/// A datagram the engine wants sent.
#[derive(Debug)]
pub struct SocketTransmit {
    /// Index into the worker's UDP sockets.
    pub socket: usize,
    /// Our address to send from (matters on a wildcard socket).
    pub from: SocketAddr,
    pub to: SocketAddr,
    pub bytes: Vec<u8>,
}

/// Everything the engine may ask the worker to do after an input.
#[derive(Debug, Default)]
pub struct Outputs {
    pub transmits: Vec<SocketTransmit>,
    /// Requests for the broker (SPIs, SAs, policies).
    pub kernel: Vec<NetToPfkey>,
    /// When the engine next wants `on_timeout`.
    pub next_timeout: Option<Instant>,
    /// One line per event, for `ike-ctl monitor`.
    pub events: Vec<String>,
}

pub struct EngineAdapter {
    config: Config,
    /// Where AUTH values that need our secrets come from: ike-cred's
    /// channel in the daemon (issue 16).
    credentials: Arc<dyn ike::Credentials>,
    listen: Vec<ListenSocket>,
    ports: Listen,
    engine: ike::Engine,
    kernel: KernelMap,
    /// Policies of `config` the engine does not serve, with the reason.
    skipped: Vec<(String, String)>,
    /// The broker said Ready: active policies may start.
    broker_ready: bool,
    /// What the broker's kernel interface can install (its Ready); child
    /// proposals are narrowed to it (`caps.rs`).
    caps: Option<Supported>,
    /// Names of the active policies (the engine has them as on-demand).
    active: Vec<String>,
    /// Starts the active policies, a bounded number at a time.
    pacer: Pacer,
}

impl EngineAdapter {
    pub fn new(
        config: Config,
        listen: &[ListenSocket],
        now: Instant,
        credentials: Arc<dyn ike::Credentials>,
    ) -> Self {
        let ports = Listen::from_sockets(listen);
        let (ecfg, skipped, active) = convert(&config, &ports, &credentials, None);
        let pacer = Pacer::new(config.global.initiate_limit);
        let mut e = Self {
            kernel: KernelMap::new(),
            engine: ike::Engine::new(ecfg, Box::new(SystemRng::new()), now),
            config,
            credentials,
            listen: listen.to_vec(),
            ports,
            skipped,
            broker_ready: false,
            caps: None,
            active,
            pacer,
        };
        e.kernel_hints();
        e
    }

    /// A datagram arrived on UDP socket `socket`, sent to `local` (the
    /// socket's address, or on a wildcard socket the one IP_PKTINFO gave).
    pub fn on_datagram(
        &mut self,
        now: Instant,
        socket: usize,
        local: SocketAddr,
        from: SocketAddr,
        bytes: &[u8],
    ) -> Outputs {
        if socket >= self.listen.len() || local.ip().is_unspecified() {
            log::debug!("datagram from {from} without a local address: dropped");
            return Outputs::default();
        }
        self.engine.handle_datagram(now, local, from, bytes);
        self.drain(now)
    }

    /// A reply or event from the broker (ACQUIRE, EXPIRE, GETSPI result...).
    pub fn on_kernel(&mut self, now: Instant, msg: PfkeyToNet) -> Outputs {
        if let PfkeyToNet::Ready(supported) = &msg {
            log::info!(
                "broker ready: kernel offers {} encryption and {} integrity algorithms, ESN {}",
                supported.encryption.len(),
                supported.integrity.len(),
                if supported.esn { "yes" } else { "no" }
            );
            self.kernel.linux_fwd = supported.fwd_policies;
            if !self.broker_ready {
                self.broker_ready = true;
                // Before start(): no trap or initiation may use a proposal
                // the kernel cannot install. Until now (responder SAs made
                // before Ready) nothing was narrowed.
                self.caps = Some(supported.clone());
                if let Some(gated) = caps::gate(&self.config, supported) {
                    let (ecfg, skipped, active) =
                        convert(&self.config, &self.ports, &self.credentials, Some(gated));
                    self.engine.set_config(now, ecfg);
                    self.skipped = skipped;
                    self.active = active;
                    self.kernel_hints();
                }
                // Active policies start once the kernel side can take SAs
                // (the engine installs the traps; the pacer initiates).
                self.engine.start(now);
                for name in &self.active {
                    self.pacer.enqueue(name);
                }
                let (waiting, _) = self.pacer.counts();
                if waiting > 0 {
                    log::info!(
                        "initiating {waiting} active policies, at most {} at a time",
                        self.config.global.initiate_limit
                    );
                }
            }
            return self.drain(now);
        }
        for ev in self.kernel.reply(msg) {
            self.engine.handle_kernel_event(now, ev);
        }
        self.drain(now)
    }

    /// A timer the engine armed has expired.
    pub fn on_timeout(&mut self, now: Instant) -> Outputs {
        self.engine.handle_timeout(now);
        self.drain(now)
    }

    /// The kernel SAs (src, dst, SPI) of every established child SA, for
    /// an on-demand counter read; forgets counters of SAs no longer here.
    pub fn start_counters(&mut self) -> Vec<(std::net::IpAddr, std::net::IpAddr, u32)> {
        let mut list = Vec::new();
        for s in self
            .engine
            .sa_info()
            .iter()
            .filter(|s| s.status == ike::IkeStatus::Established)
        {
            let (l, r) = (s.local.ip(), s.remote.ip());
            for c in &s.children {
                list.push((r, l, c.spi_in));
                list.push((l, r, c.spi_out));
            }
        }
        self.kernel.start_counters(&list);
        list
    }

    /// The GETs for some of those SAs.
    pub fn request_counters(
        &mut self,
        sas: &[(std::net::IpAddr, std::net::IpAddr, u32)],
    ) -> Vec<NetToPfkey> {
        let mut out = Vec::new();
        self.kernel.request_counters(sas, &mut out);
        out
    }

    /// Counter GETs not yet answered.
    pub fn counters_outstanding(&self) -> usize {
        self.kernel.counters_outstanding()
    }

    /// A new configuration (SIGHUP / ike-ctl reload): policies whose
    /// settings did not change keep their SAs, removed ones are deleted,
    /// changed ones are deleted and (if active) established again.
    pub fn reload(&mut self, now: Instant, config: Config) -> Outputs {
        // A policy also counts as changed when the credentials it was
        // authenticated with changed (our key or certificate, the peer's
        // key, the trust anchors): its SAs must not outlive them.
        let ike_ipc::config::PolicyChanges {
            removed: gone,
            mut changed,
            ..
        } = ike_ipc::config::policy_changes(&self.config, &config);
        // Global settings apply to every policy: treat them as a change.
        if config.global != self.config.global {
            changed = config.policies.iter().map(|p| p.name.clone()).collect();
            changed.retain(|n| self.config.policy(n).is_some());
        }
        for name in gone.iter().chain(&changed) {
            log::info!("reload: policy {name} removed or changed, deleting its SAs");
            self.engine.handle_command(
                now,
                Command::Terminate {
                    policy: name.clone(),
                },
            );
        }
        let gated = self.caps.as_ref().and_then(|c| caps::gate(&config, c));
        let (ecfg, skipped, active) = convert(&config, &self.ports, &self.credentials, gated);
        self.pacer.set_limit(config.global.initiate_limit);
        for name in gone.iter().chain(&changed) {
            self.pacer.forget(name);
        }
        self.config = config;
        self.skipped = skipped;
        self.active = active;
        // The engine tells policies apart by name: a changed one would keep
        // the kernel trap of its old settings. Remove the changed ones
        // first (their traps go), then hand over the whole new set (their
        // new traps come). New active policies start; SAs of unchanged
        // policies keep theirs.
        if !changed.is_empty() {
            let mut without = ecfg.clone();
            without.policies.retain(|p| !changed.contains(&p.name));
            self.engine.set_config(now, without);
        }
        self.engine.set_config(now, ecfg);
        // Before drain() translates what set_config queued.
        self.kernel_hints();
        // Active policies without a live IKE SA (new ones, changed ones)
        // are established again, paced.
        if self.broker_ready {
            let live: std::collections::HashSet<String> = self
                .engine
                .sa_info()
                .into_iter()
                .filter(|s| !matches!(s.status, ike::IkeStatus::Deleting | ike::IkeStatus::Rekeyed))
                .map(|s| s.policy)
                .collect();
            for name in self.active.iter().filter(|n| !live.contains(*n)) {
                self.pacer.enqueue(name);
            }
        }
        self.drain(now)
    }

    /// Orderly stop: tell every peer (INFORMATIONAL DELETE, sent once; no
    /// time to wait for answers). The broker removes the kernel state.
    pub fn shutdown(&mut self, now: Instant) -> Outputs {
        // Every SA by its handle, in one pass: a Terminate per policy walks
        // every SA once per policy, and with 10,000 policies and SAs that
        // took longer than the parent's 5 s grace (SIGKILL, exit 1: the
        // issue 12 soak).
        let all: Vec<_> = self.engine.sa_info().into_iter().map(|i| i.id).collect();
        for ike in all {
            self.engine
                .handle_command(now, Command::TerminateSa { ike });
        }
        self.drain(now)
    }

    /// `ike-ctl up NAME`.
    pub fn up(&mut self, now: Instant, name: &str) -> Result<Outputs, String> {
        self.known(name)?;
        self.engine.handle_command(
            now,
            Command::Initiate {
                policy: name.to_string(),
            },
        );
        Ok(self.drain(now))
    }

    /// `ike-ctl down NAME`.
    pub fn down(&mut self, now: Instant, name: &str) -> Result<Outputs, String> {
        self.known(name)?;
        self.engine.handle_command(
            now,
            Command::Terminate {
                policy: name.to_string(),
            },
        );
        Ok(self.drain(now))
    }

    /// `ike-ctl rekey NAME`: rekeys the IKE SAs of the policy and their
    /// CHILD_SAs.
    pub fn rekey(&mut self, now: Instant, name: &str) -> Result<Outputs, String> {
        self.known(name)?;
        let mut n = 0;
        let up: Vec<_> = self
            .engine
            .sa_info()
            .into_iter()
            .filter(|s| s.policy == name && s.status == ike::IkeStatus::Established)
            .collect();
        for sa in up {
            for c in &sa.children {
                self.engine.handle_command(
                    now,
                    Command::RekeyChild {
                        ike: sa.id,
                        spi_in: c.spi_in,
                    },
                );
            }
            self.engine
                .handle_command(now, Command::RekeyIke { ike: sa.id });
            n += 1;
        }
        if n == 0 {
            return Err(format!("{name}: no established IKE SA"));
        }
        Ok(self.drain(now))
    }

    /// `ike-ctl move NAME ADDRESS`: our address is now ADDRESS; the IKE
    /// SAs of NAME that we initiated ask the peer to follow (MOBIKE, RFC
    /// 4555 3.5). The engine logs why one cannot (no MOBIKE, a policy
    /// with another local address).
    pub fn move_local(
        &mut self,
        now: Instant,
        name: &str,
        local: std::net::IpAddr,
    ) -> Result<Outputs, String> {
        self.known(name)?;
        let ours: Vec<_> = self
            .engine
            .sa_info()
            .into_iter()
            .filter(|s| s.policy == name && s.status == ike::IkeStatus::Established && s.initiator)
            .map(|s| s.id)
            .filter(|id| self.engine.mobike_of(*id).is_some())
            .collect();
        if ours.is_empty() {
            return Err(format!(
                "{name}: no established IKE SA of ours with MOBIKE negotiated"
            ));
        }
        for ike in ours {
            self.engine
                .handle_command(now, Command::MoveLocal { ike, local });
        }
        Ok(self.drain(now))
    }

    fn known(&self, name: &str) -> Result<(), String> {
        if self.engine.config().policies.iter().any(|p| p.name == name) {
            return Ok(());
        }
        match self.skipped.iter().find(|(n, _)| n == name) {
            Some((_, why)) => Err(format!("{name}: not negotiated: {why}")),
            None => Err(format!("{name}: no such policy")),
        }
    }

    /// Counts for `show stats`: (IKE SAs, child SAs).
    pub fn sa_counts(&self) -> (u64, u64) {
        show::counts(&self.engine.sa_info())
    }

    /// (addresses leased now, requests refused on an empty pool), for
    /// `show stats`.
    pub fn lease_stats(&self) -> (u64, u64) {
        let (n, failed) = self.engine.lease_stats();
        (n as u64, failed)
    }

    /// Half-open count, cookie mode and drop counters for `show stats`.
    pub fn admission_stats(&self) -> ike_proto::engine::AdmissionStats {
        self.engine.admission_stats()
    }

    /// `show sa` (text or JSON).
    pub fn show_sa(&self, json: bool) -> String {
        let (now, sas) = (Instant::now(), self.engine.sa_info());
        let counters = |dst, spi| self.kernel.counters(dst, spi);
        if json {
            show::sa_json(now, &sas, &counters)
        } else {
            show::sa_text(now, &sas, &counters)
        }
    }

    /// `show policy` (text or JSON).
    pub fn show_policy(&self, json: bool) -> String {
        let sas = self.engine.sa_info();
        if json {
            show::policies_json(&self.config, &self.skipped, &sas)
        } else {
            show::policies_text(&self.config, &self.skipped, &sas, &self.ports)
        }
    }

    /// Tells the kernel translation what the engine's requests leave out:
    /// the mode and byte limit per pair of tunnel ends.
    fn kernel_hints(&mut self) {
        self.kernel.modes.clear();
        self.kernel.byte_limits.clear();
        self.kernel.byte_limit_nets.clear();
        let mut traps = Vec::new();
        for p in self.engine.config().policies.iter().filter(|p| p.trap) {
            let (Some(local), Some(peer)) = (p.local_addr, p.peer_addr) else {
                continue;
            };
            for l in &p.local_ts {
                for r in &p.peer_ts {
                    traps.push((local, peer, *l, *r));
                }
            }
        }
        self.kernel.reqids.set_traps(traps);
        for p in &self.config.policies {
            let Some(peer) = p.peer.filter(|n| n.is_host()).map(|n| n.addr) else {
                self.kernel
                    .byte_limit_nets
                    .push((p.local, p.peer, p.lifetime.bytes));
                continue;
            };
            let locals = match p.local {
                Some(l) => vec![l],
                None => self.ports.addrs.clone(),
            };
            let mode = p.encapsulation;
            for l in locals {
                self.kernel.modes.insert((l, peer), mode);
                self.kernel.byte_limits.insert((l, peer), p.lifetime.bytes);
            }
        }
    }

    /// Collects everything the engine produced, then starts the paced
    /// initiations there is room for (and collects what they produced).
    fn drain(&mut self, now: Instant) -> Outputs {
        let mut out = Outputs::default();
        self.collect(now, &mut out);
        if self.initiate_paced(now) {
            self.collect(now, &mut out);
        }
        out.next_timeout = match (self.engine.poll_timeout(), self.pacer.deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        out
    }

    /// Initiates queued active policies while fewer than the limit are in
    /// flight; true when it initiated any.
    fn initiate_paced(&mut self, now: Instant) -> bool {
        let mut any = false;
        while let Some(policy) = self.pacer.next(now) {
            let before = self.engine.ike_sa_count();
            self.engine.handle_command(
                now,
                Command::Initiate {
                    policy: policy.clone(),
                },
            );
            // No new SA: one exists or is being negotiated for the policy.
            let began = self.engine.ike_sa_count() > before;
            self.pacer.started(now, policy, began);
            any |= began;
        }
        any
    }

    fn collect(&mut self, now: Instant, out: &mut Outputs) {
        // Kernel refusals decided here (untranslatable requests) go back
        // into the engine at once, which may produce more output.
        loop {
            let mut refused = Vec::new();
            while let Some(req) = self.engine.poll_kernel_request() {
                self.kernel.request(req, &mut out.kernel, &mut refused);
            }
            if refused.is_empty() {
                break;
            }
            for ev in refused {
                self.engine.handle_kernel_event(now, ev);
            }
        }
        while let Some(t) = self.engine.poll_transmit() {
            match self.socket_for(t.local) {
                Some(socket) => out.transmits.push(SocketTransmit {
                    socket,
                    from: t.local,
                    to: t.remote,
                    bytes: t.bytes,
                }),
                None => log::warn!(
                    "no UDP socket bound to {} (add --listen {}): datagram to {} dropped",
                    t.local,
                    t.local.ip(),
                    t.remote
                ),
            }
        }
        while let Some(ev) = self.engine.poll_event() {
            // The broker allows a policy into an address pool only for the
            // peer the address is lent to (issue 15): tell it each lease.
            if let Event::Lease {
                peer, addrs, lent, ..
            } = &ev
            {
                out.kernel.push(NetToPfkey::Lease {
                    peer: peer.ip(),
                    addrs: addrs.clone(),
                    lent: *lent,
                });
            }
            let line = describe(&ev);
            match &ev {
                Event::Failed { .. } => log::warn!("{line}"),
                _ => log::info!("{line}"),
            }
            match &ev {
                Event::IkeUp { policy, .. }
                | Event::IkeDown { policy, .. }
                | Event::Failed {
                    policy: Some(policy),
                    ..
                } => self.pacer.finished(policy),
                _ => {}
            }
            out.events.push(line);
        }
    }

    /// The socket bound to `local`, or a wildcard socket on its port.
    fn socket_for(&self, local: SocketAddr) -> Option<usize> {
        self.listen
            .iter()
            .position(|l| l.addr == local)
            .or_else(|| {
                self.listen.iter().position(|l| {
                    l.addr.ip().is_unspecified()
                        && l.addr.port() == local.port()
                        && l.addr.is_ipv4() == local.is_ipv4()
                })
            })
    }
}

/// The engine's configuration, the policies skipped (with the reason) and
/// the names of the active policies, which the engine gets as on-demand
/// ones: the pacer initiates them (`pacing.rs`).
/// `gated`: `config` narrowed to what the kernel interface can install and
/// the policies that refused (`caps::gate`), used instead when given.
fn convert(
    config: &Config,
    ports: &Listen,
    credentials: &Arc<dyn ike::Credentials>,
    gated: Option<(Config, Vec<(String, String)>)>,
) -> (ike::Config, Vec<(String, String)>, Vec<String>) {
    let (gated, refused) = match gated {
        Some((g, r)) => (std::borrow::Cow::Owned(g), r),
        None => (std::borrow::Cow::Borrowed(config), Vec::new()),
    };
    let (mut ecfg, mut skipped) = policy::engine_config(&gated, ports);
    skipped.extend(refused);
    ecfg.credentials = credentials.clone();
    for (name, why) in &skipped {
        log::warn!("policy {name} is not negotiated: {why}");
    }
    let mut active = Vec::new();
    for p in ecfg.policies.iter_mut() {
        if p.start == ike::StartAction::Active {
            active.push(p.name.clone());
            std::sync::Arc::make_mut(p).start = ike::StartAction::OnDemand;
        }
    }
    (ecfg, skipped, active)
}

/// One log/monitor line per event: peer, IDs, algorithms; never keys.
pub fn describe(ev: &Event) -> String {
    match ev {
        Event::IkeUp {
            ike,
            policy,
            local,
            remote,
            local_id,
            peer_id,
            suite,
            initiator,
        } => format!(
            "IKE SA {:016x} up: policy {policy}, {local} {} {remote}, ids {} -> {}, {}{} {} {}",
            ike.0,
            if *initiator { "->" } else { "<-" },
            show::identity_text(local_id),
            show::identity_text(peer_id),
            show::encr_text(suite.encr.id.0, suite.encr.key_bits),
            suite
                .integ
                .map(|i| format!(" {}", show::integ_text(i.0)))
                .unwrap_or_default(),
            show::prf_text(suite.prf.0),
            show::group_text(suite.dh.0),
        ),
        Event::IkeDown {
            ike,
            policy,
            reason,
        } => format!("IKE SA {:016x} down: policy {policy}, {reason:?}", ike.0),
        Event::ChildUp {
            ike,
            policy,
            spi_in,
            spi_out,
            local_ts,
            remote_ts,
            mode,
            suite,
        } => format!(
            "CHILD SA up: policy {policy} (IKE SA {:016x}), spi in 0x{spi_in:08x} out 0x{spi_out:08x}, {}, {}{}{}, {} === {}",
            ike.0,
            show::mode_text(*mode),
            show::encr_text(suite.encr.id.0, suite.encr.key_bits),
            suite
                .integ
                .map(|i| format!(" {}", show::integ_text(i.0)))
                .unwrap_or_default(),
            suite
                .dh
                .map(|g| format!(" pfs {}", show::group_text(g.0)))
                .unwrap_or_default(),
            local_ts.iter().map(show::ts_text).collect::<Vec<_>>().join(","),
            remote_ts.iter().map(show::ts_text).collect::<Vec<_>>().join(",")
        ),
        Event::ChildDown {
            ike,
            spi_in,
            spi_out,
            reason,
        } => format!(
            "CHILD SA down: IKE SA {:016x}, spi in 0x{spi_in:08x} out 0x{spi_out:08x}, {reason:?}",
            ike.0
        ),
        Event::IkeRekeyed { old, new } => {
            format!("IKE SA {:016x} rekeyed as {:016x}", old.0, new.0)
        }
        Event::ChildRekeyed {
            ike,
            old_spi_in,
            new_spi_in,
        } => format!(
            "CHILD SA rekeyed: IKE SA {:016x}, spi in 0x{old_spi_in:08x} -> 0x{new_spi_in:08x}",
            ike.0
        ),
        Event::Failed {
            policy,
            remote,
            reason,
            ..
        } => format!(
            "negotiation with {remote} failed: policy {}, {reason:?}",
            policy.as_deref().unwrap_or("(none)")
        ),
        Event::Lease {
            ike,
            peer,
            addrs,
            lent,
        } => format!(
            "IKE SA {:016x}: {addrs:?} {} {peer}",
            ike.0,
            if *lent { "lent to" } else { "given back by" }
        ),
        Event::CookieMode { on, half_open } => format!(
            "cookie mode {}: {half_open} half-open IKE SAs",
            if *on { "on" } else { "off" }
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An engine as the daemon runs it: ike-net's view of `config` (no
    /// secret), the secrets in ike-cred's store, here in-process.
    fn test_engine(config: Config, listen: &[ListenSocket], now: Instant) -> EngineAdapter {
        let store = Arc::new(ike_cred::views::keystore(&config).0);
        EngineAdapter::new(ike_cred::views::net_view(&config).0, listen, now, store)
    }
    use ike_ipc::config::{Auth, Flow, IpNet, IpsecProtocol, Policy, PolicyMode, Secret};

    fn sock(a: &str, natt: bool) -> ListenSocket {
        ListenSocket {
            addr: a.parse().unwrap(),
            natt,
        }
    }

    fn config() -> Config {
        let mut p = Policy::new("tun");
        p.mode = PolicyMode::Active;
        p.local = Some("127.0.0.1".parse().unwrap());
        p.peer = Some(IpNet::host("127.0.0.2".parse().unwrap()));
        p.auth = Auth::Psk(Secret::new(b"k".to_vec()));
        p.flows.push(Flow {
            proto: None,
            src: IpNet::host("10.0.0.1".parse().unwrap()),
            src_port: None,
            dst: IpNet::host("10.0.0.2".parse().unwrap()),
            dst_port: None,
        });
        p.ike_proposals.push(ike_ipc::config::IkeProposal {
            encryption: vec![ike_ipc::config::Encryption::Aes256Gcm16],
            prf: vec![ike_ipc::config::Prf::HmacSha2_256],
            integrity: vec![],
            groups: vec![ike_ipc::config::DhGroup::Curve25519],
        });
        p.child_proposals.push(ike_ipc::config::ChildProposal {
            encryption: vec![ike_ipc::config::Encryption::Aes256Cbc],
            integrity: vec![ike_ipc::config::Integrity::HmacSha2_512],
            groups: vec![],
            esn: vec![],
        });
        let mut ah = p.clone();
        ah.name = "ah".into();
        ah.protocol = IpsecProtocol::Ah;
        Config {
            policies: vec![p, ah],
            ..Config::default()
        }
    }

    #[test]
    fn transmits_use_the_bound_socket_or_a_wildcard_on_the_port() {
        let listen = [
            sock("127.0.0.1:500", false),
            sock("127.0.0.1:4500", true),
            sock("0.0.0.0:500", false),
            sock("[::]:500", false),
        ];
        let e = test_engine(Config::default(), &listen, Instant::now());
        let at = |s: &str| e.socket_for(s.parse().unwrap());
        assert_eq!(at("127.0.0.1:500"), Some(0));
        assert_eq!(at("127.0.0.1:4500"), Some(1));
        assert_eq!(at("192.0.2.1:500"), Some(2));
        assert_eq!(at("[2001:db8::1]:500"), Some(3));
        assert_eq!(at("192.0.2.1:4500"), None);
    }

    #[test]
    fn active_policy_starts_only_when_the_broker_is_ready() {
        let now = Instant::now();
        let mut e = test_engine(config(), &[sock("127.0.0.1:500", false)], now);
        let out = e.on_timeout(now);
        assert!(out.transmits.is_empty() && out.kernel.is_empty());
        let out = e.on_kernel(now, PfkeyToNet::Ready(Default::default()));
        // IKE_SA_INIT to the peer from the socket bound to our address.
        assert_eq!(out.transmits.len(), 1);
        assert_eq!(out.transmits[0].socket, 0);
        assert_eq!(out.transmits[0].to, "127.0.0.2:500".parse().unwrap());
        // Its trap: out and in (and Linux's fwd) through the broker.
        assert!(out.kernel.len() >= 2, "{:?}", out.kernel);
        assert!(out.next_timeout.is_some());
        // A datagram for an unknown local address is dropped.
        let out = e.on_datagram(
            now,
            0,
            "0.0.0.0:500".parse().unwrap(),
            "127.0.0.2:500".parse().unwrap(),
            &[0; 28],
        );
        assert!(out.transmits.is_empty());
    }

    /// Whether the trap gets a `fwd` policy is the broker's word (its
    /// dialect), not the OS ike-net was built for.
    #[test]
    fn fwd_policies_follow_the_brokers_ready() {
        use ike_ipc::msg::pfkey::{BrokerRequest, NetToPfkey, PolicyDir, Supported};
        let fwd_count = |fwd_policies: bool| {
            let now = Instant::now();
            let mut e = test_engine(config(), &[sock("127.0.0.1:500", false)], now);
            let ready = Supported {
                fwd_policies,
                ..Supported::default()
            };
            let out = e.on_kernel(now, PfkeyToNet::Ready(ready));
            assert!(out.kernel.len() >= 2, "{:?}", out.kernel);
            out.kernel
                .iter()
                .filter(|m| {
                    matches!(m, NetToPfkey::Request { req: BrokerRequest::AddPolicy(p), .. }
                        if p.dir == PolicyDir::Fwd)
                })
                .count()
        };
        assert_eq!(fwd_count(false), 0, "a BSD broker: no fwd policy");
        assert!(
            fwd_count(true) >= 1,
            "a Linux broker: fwd beside the inbound policy"
        );
    }

    /// The broker's Ready narrows the child proposals before anything is
    /// proposed: Linux af_key's lists lose GCM and SHA2-256, a policy left
    /// with nothing is not started; XFRM's lists leave them whole.
    #[test]
    fn ready_narrows_child_proposals_to_what_the_kernel_installs() {
        use ike_ipc::config::{ChildProposal as CP, Encryption as E, Esn, Integrity as I};
        let linux_pfkey = Supported {
            encryption: vec![E::Aes128Cbc, E::Aes256Cbc],
            integrity: vec![I::HmacSha1, I::HmacSha2_384, I::HmacSha2_512],
            esn: false,
            fwd_policies: true,
        };
        let xfrm = Supported {
            encryption: E::ALL.to_vec(),
            integrity: I::ALL.to_vec(),
            esn: true,
            fwd_policies: true,
        };
        let with_children = |children: Vec<CP>| {
            let mut c = config();
            c.policies.truncate(1);
            c.policies[0].child_proposals = children;
            c
        };
        let gcm = CP {
            encryption: vec![E::Aes256Gcm16],
            integrity: vec![],
            groups: vec![],
            esn: vec![Esn::None],
        };
        let cbc = CP {
            encryption: vec![E::Aes256Cbc],
            integrity: vec![I::HmacSha2_256, I::HmacSha2_512],
            groups: vec![],
            esn: vec![Esn::Extended, Esn::None],
        };
        let now = Instant::now();
        let start = |c: Config, caps: &Supported| {
            let mut e = test_engine(c, &[sock("127.0.0.1:500", false)], now);
            let out = e.on_kernel(now, PfkeyToNet::Ready(caps.clone()));
            (e, out)
        };
        // Both proposals over af_key: GCM goes, CBC keeps SHA2-512 without ESN.
        let (e, out) = start(with_children(vec![gcm.clone(), cbc.clone()]), &linux_pfkey);
        assert_eq!(out.transmits.len(), 1, "still initiated");
        let p = &e.engine.config().policies[0];
        assert_eq!(p.child_proposals.len(), 1, "{:?}", p.child_proposals);
        let c = &p.child_proposals[0];
        assert_eq!(c.encr.len(), 1);
        assert_eq!(c.encr[0].id, ike_proto::wire::consts::EncrId::AES_CBC);
        assert_eq!(
            c.integ,
            [ike_proto::wire::consts::IntegId(14)],
            "HMAC-SHA2-512-256 only"
        );
        assert!(!c.esn);
        // GCM alone over af_key: the policy is refused, nothing is sent.
        let (e, out) = start(with_children(vec![gcm.clone()]), &linux_pfkey);
        assert!(out.transmits.is_empty() && out.kernel.is_empty(), "{out:?}");
        assert!(e.engine.config().policies.is_empty());
        assert!(e
            .skipped
            .iter()
            .any(|(n, why)| n == "tun" && why.contains("aes-256-gcm")));
        // XFRM: both proposals as configured.
        let (e, out) = start(with_children(vec![gcm, cbc]), &xfrm);
        assert_eq!(out.transmits.len(), 1);
        assert_eq!(e.engine.config().policies[0].child_proposals.len(), 2);
    }

    /// The policy "tun" of `config()` seen from the peer: the mirror
    /// image, as a passive responder (without the AH policy).
    fn peer_config() -> Config {
        let mut c = config();
        c.policies.truncate(1);
        let p = &mut c.policies[0];
        p.mode = PolicyMode::Passive;
        p.local = Some("127.0.0.2".parse().unwrap());
        p.peer = Some(IpNet::host("127.0.0.1".parse().unwrap()));
        let f = &mut p.flows[0];
        std::mem::swap(&mut f.src, &mut f.dst);
        c
    }

    /// A broker that answers at once: SPIs from 0x1000 on, every other
    /// request done, except SA installs while `refuse_sa` (ENOSPC, as a
    /// full SA table would answer).
    struct Broker {
        next_spi: u32,
        refuse_sa: bool,
    }

    impl Broker {
        fn answer(&mut self, reqs: Vec<NetToPfkey>) -> Vec<PfkeyToNet> {
            use ike_ipc::msg::pfkey::{BrokerRequest as Req, KernelError, KernelReply};
            reqs.into_iter()
                .filter_map(|m| match m {
                    NetToPfkey::Request { id, req } => Some((id, req)),
                    NetToPfkey::Lease { .. } => None,
                })
                .map(|(id, req)| {
                    let result = match req {
                        Req::GetSpi { .. } => {
                            self.next_spi += 1;
                            Ok(KernelReply::Spi(self.next_spi))
                        }
                        Req::AddSa(_) | Req::UpdateSa(_) if self.refuse_sa => {
                            Err(KernelError::Kernel(28))
                        }
                        _ => Ok(KernelReply::Done),
                    };
                    PfkeyToNet::Reply { id, result }
                })
                .collect()
        }
    }

    fn is_install(req: &ike_ipc::msg::pfkey::BrokerRequest) -> bool {
        use ike_ipc::msg::pfkey::BrokerRequest as Req;
        matches!(req, Req::AddSa(_) | Req::UpdateSa(_))
    }

    /// The ike-net initiator `a` and responder `b`, with their brokers.
    struct Glue {
        now: Instant,
        a: EngineAdapter,
        b: EngineAdapter,
        broker_a: Broker,
        broker_b: Broker,
        /// B's SA installs not answered yet (while `hold_b`).
        held_b: Vec<NetToPfkey>,
        hold_b: bool,
        events_a: Vec<String>,
        events_b: Vec<String>,
        /// IKE datagrams B sent.
        sent_b: usize,
    }

    impl Glue {
        fn new() -> Glue {
            let now = Instant::now();
            let sa = sock("127.0.0.1:500", false);
            let sb = sock("127.0.0.2:500", false);
            Glue {
                now,
                a: test_engine(config(), &[sa], now),
                b: test_engine(peer_config(), &[sb], now),
                broker_a: Broker {
                    next_spi: 0xa000,
                    refuse_sa: false,
                },
                broker_b: Broker {
                    next_spi: 0xb000,
                    refuse_sa: false,
                },
                held_b: Vec::new(),
                hold_b: false,
                events_a: Vec::new(),
                events_b: Vec::new(),
                sent_b: 0,
            }
        }

        /// Runs until neither side has anything left to send or answer.
        fn run(&mut self, first_a: Outputs, first_b: Outputs) {
            let (mut oa, mut ob) = (vec![first_a], vec![first_b]);
            while !oa.is_empty() || !ob.is_empty() {
                let now = self.now;
                for o in std::mem::take(&mut oa) {
                    self.events_a.extend(o.events);
                    for r in self.broker_a.answer(o.kernel) {
                        oa.push(self.a.on_kernel(now, r));
                    }
                    for t in o.transmits {
                        ob.push(self.b.on_datagram(now, 0, t.to, t.from, &t.bytes));
                    }
                }
                for o in std::mem::take(&mut ob) {
                    self.events_b.extend(o.events);
                    self.sent_b += o.transmits.len();
                    let (held, now_answered): (Vec<_>, Vec<_>) =
                        o.kernel.into_iter().partition(|m| {
                            self.hold_b
                                && matches!(m, NetToPfkey::Request { req, .. } if is_install(req))
                        });
                    self.held_b.extend(held);
                    for r in self.broker_b.answer(now_answered) {
                        ob.push(self.b.on_kernel(now, r));
                    }
                    for t in o.transmits {
                        oa.push(self.a.on_datagram(now, 0, t.to, t.from, &t.bytes));
                    }
                }
            }
        }

        fn start(&mut self) {
            let now = self.now;
            let ob = self.b.on_kernel(now, PfkeyToNet::Ready(Default::default()));
            let oa = self.a.on_kernel(now, PfkeyToNet::Ready(Default::default()));
            self.run(oa, ob);
        }

        fn release_b(&mut self) {
            self.hold_b = false;
            let now = self.now;
            let held = std::mem::take(&mut self.held_b);
            let outs = self
                .broker_b
                .answer(held)
                .into_iter()
                .map(|r| self.b.on_kernel(now, r))
                .collect::<Vec<_>>();
            for o in outs {
                self.run(Outputs::default(), o);
            }
        }

        fn count(events: &[String], what: &str) -> usize {
            events.iter().filter(|e| e.contains(what)).count()
        }
    }

    #[test]
    fn the_responder_answers_after_the_broker_confirmed_both_sas() {
        let mut g = Glue::new();
        g.hold_b = true;
        g.start();
        // B answered IKE_SA_INIT only; its UPDATE and ADD wait.
        assert_eq!(g.sent_b, 1);
        assert_eq!(g.held_b.len(), 2, "{:?}", g.held_b);
        assert_eq!(Glue::count(&g.events_a, "IKE SA"), 0);
        g.release_b();
        assert_eq!(g.sent_b, 2);
        assert_eq!(
            Glue::count(&g.events_a, "CHILD SA up"),
            1,
            "{:?}",
            g.events_a
        );
        assert_eq!(
            Glue::count(&g.events_b, "CHILD SA up"),
            1,
            "{:?}",
            g.events_b
        );
        assert_eq!(g.b.sa_counts(), (1, 1));
    }

    #[test]
    fn a_broker_refusal_becomes_an_error_answer_and_the_ike_sa_stays() {
        let mut g = Glue::new();
        g.broker_b.refuse_sa = true;
        g.start();
        assert_eq!(
            Glue::count(&g.events_a, "up: policy tun"),
            1,
            "{:?}",
            g.events_a
        );
        assert_eq!(
            Glue::count(&g.events_b, "up: policy tun"),
            1,
            "{:?}",
            g.events_b
        );
        assert_eq!(Glue::count(&g.events_a, "CHILD SA up"), 0);
        assert_eq!(Glue::count(&g.events_b, "CHILD SA up"), 0);
        assert_eq!(Glue::count(&g.events_b, "Kernel"), 1, "{:?}", g.events_b);
        assert_eq!(
            Glue::count(&g.events_a, "NoProposalChosen"),
            1,
            "{:?}",
            g.events_a
        );
        assert_eq!(g.a.sa_counts(), (1, 0));
        assert_eq!(g.b.sa_counts(), (1, 0));
    }

    #[test]
    fn an_initiator_whose_broker_refuses_deletes_the_child() {
        let mut g = Glue::new();
        g.broker_a.refuse_sa = true;
        g.start();
        assert_eq!(
            Glue::count(&g.events_a, "CHILD SA up"),
            0,
            "{:?}",
            g.events_a
        );
        assert_eq!(Glue::count(&g.events_a, "Kernel"), 1, "{:?}", g.events_a);
        assert_eq!(Glue::count(&g.events_b, "CHILD SA up"), 1);
        assert_eq!(
            Glue::count(&g.events_b, "DeletedByPeer"),
            1,
            "{:?}",
            g.events_b
        );
        assert_eq!(g.a.sa_counts(), (1, 0));
        assert_eq!(g.b.sa_counts(), (1, 0));
    }

    #[test]
    fn commands_name_unknown_and_unserved_policies() {
        let now = Instant::now();
        let mut e = test_engine(config(), &[sock("127.0.0.1:500", false)], now);
        let err = |r: Result<Outputs, String>| r.err().unwrap_or_default();
        assert!(err(e.up(now, "nosuch")).contains("no such policy"));
        assert!(err(e.up(now, "ah")).contains("not negotiated: AH"));
        assert!(err(e.rekey(now, "tun")).contains("no established IKE SA"));
        assert!(e.down(now, "tun").is_ok());
        assert!(e.show_policy(false).contains("NOT NEGOTIATED: AH"));
        assert_eq!(e.sa_counts(), (0, 0));
    }
}
