//! `pfkey-sim`: a userspace model of a KAME/Linux key engine speaking PF_KEY v2.
//!
//! [`SimKernel`] is the kernel side without I/O: it takes one message from one
//! "socket" (a connection id) and returns the messages the kernel would deliver
//! and to whom, with the delivery rules of DIALECTS.md 4.1 (replies to the
//! sender with its seq/pid echoed; SA and SPD changes to every socket; ACQUIRE
//! and EXPIRE to sockets registered for the SA type). Time is injected, so
//! tests drive lifetimes without sleeping. [`server`] puts it behind a
//! SOCK_SEQPACKET listener and a control socket.
//!
//! What it models: SAD (larval SAs from GETSPI, ADD/UPDATE/DELETE/GET/FLUSH/
//! DUMP), SPD (SPDADD/SPDUPDATE/SPDDELETE/SPDDELETE2/SPDGET/SPDDUMP/SPDFLUSH),
//! REGISTER with a configurable algorithm list, ACQUIRE on `trigger`, soft and
//! hard EXPIRE on add-time lifetimes, kernel-like errno replies. Per
//! dialect (`SimConfig::dialect`): Linux af_key (the default), FreeBSD
//! (8-byte ipsecrequests, sa_len, errors echoed to the sender, SPI rules)
//! and OpenBSD (flows with ADDFLOW/DELFLOW instead of the KAME SPD, SA
//! flags instead of SA2, broadcast replies, the parser's extension
//! bitmaps and pid check, errors as failed writes). [`rules`] holds each
//! kernel's parser checks, [`flows`] the OpenBSD SPD. What it does not
//! model: traffic (byte/packet/use-time lifetimes never fire), X_PROMISC,
//! MIGRATE, OpenBSD GRPSPIS and rdomains.

pub mod flows;
mod obsd_acquire;
pub mod rules;
pub mod server;
pub mod show;

use crate::dialect::*;
use crate::wire::{
    Address, Alg, Comb, Ext, Header, HeaderView, Key, Lifetime, Message, Policy, Proposal, Sa, Sa2,
};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// One simulated PF_KEY socket.
pub type ConnId = u64;

/// A message the kernel sends to one socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub to: ConnId,
    pub bytes: Vec<u8>,
}

// errno values (Linux numbering, which the simulator speaks; <asm-generic/errno-base.h>).
pub const ENOENT: u8 = 2;
pub const ESRCH: u8 = 3;
pub const EEXIST: u8 = 17;
pub const EINVAL: u8 = 22;
pub const ENOSYS: u8 = 38;

#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Linux (default) or FreeBSD: sockaddrs, request layout, dump order.
    pub dialect: Dialect,
    pub auth: Vec<Alg>,
    pub encrypt: Vec<Alg>,
    /// A GETSPI without UPDATE vanishes after this (FreeBSD larval_lifetime 30 s).
    pub larval_lifetime: Duration,
    /// No second ACQUIRE for the same policy while one is pending.
    pub acquire_lifetime: Duration,
}

impl SimConfig {
    /// The defaults of dialect `d`: Linux's REGISTER list for the KAME
    /// kernels, OpenBSD's own list for OpenBSD.
    pub fn for_dialect(d: Dialect) -> SimConfig {
        let base = SimConfig {
            dialect: d,
            ..SimConfig::default()
        };
        if d != Dialect::OpenBsd {
            return base;
        }
        // OpenBSD's REGISTER list (DIALECTS.md 4.6, from pfkeyv2.c's
        // pfkeyv2_get_proto_alg()): no AEADs, though the kernel takes them.
        let a = |id, bits| Alg {
            id,
            ivlen: 0,
            minbits: bits,
            maxbits: bits,
        };
        let e = |id, ivlen, min, max| Alg {
            id,
            ivlen,
            minbits: min,
            maxbits: max,
        };
        SimConfig {
            auth: vec![
                a(openbsd::SADB_AALG_SHA1HMAC, 160),
                a(openbsd::SADB_AALG_MD5HMAC, 128),
                a(openbsd::SADB_X_AALG_RIPEMD160HMAC, 160),
                a(openbsd::SADB_X_AALG_SHA2_256, 256),
                a(openbsd::SADB_X_AALG_SHA2_384, 384),
                a(openbsd::SADB_X_AALG_SHA2_512, 512),
            ],
            encrypt: vec![
                e(openbsd::SADB_EALG_NULL, 0, 0, 0),
                e(openbsd::SADB_EALG_3DESCBC, 8, 192, 192),
                e(openbsd::SADB_X_EALG_BLF, 8, 40, 448),
                e(openbsd::SADB_X_EALG_CAST, 8, 40, 128),
                e(openbsd::SADB_X_EALG_AES, 16, 128, 256),
                e(openbsd::SADB_X_EALG_AESCTR, 8, 160, 288),
            ],
            ..base
        }
    }
}

impl Default for SimConfig {
    /// The algorithm list of a real Linux kernel's REGISTER reply
    /// (tests/data/linux_register_reply.hex).
    fn default() -> Self {
        let a = |id, min, max| Alg {
            id,
            ivlen: 0,
            minbits: min,
            maxbits: max,
        };
        let e = |id, ivlen, min, max| Alg {
            id,
            ivlen,
            minbits: min,
            maxbits: max,
        };
        SimConfig {
            dialect: Dialect::Linux,
            auth: vec![
                a(251, 0, 0),
                a(2, 128, 128),
                a(3, 160, 160),
                a(5, 256, 256),
                a(6, 384, 384),
                a(7, 512, 512),
                a(8, 160, 160),
                a(9, 128, 128),
            ],
            encrypt: vec![
                e(11, 0, 0, 0),
                e(2, 8, 64, 64),
                e(3, 8, 192, 192),
                e(6, 8, 40, 128),
                e(7, 8, 40, 448),
                e(12, 8, 128, 256),
                e(252, 8, 128, 256),
                e(22, 8, 128, 256),
                e(253, 8, 128, 256),
                e(13, 8, 160, 288),
            ],
            larval_lifetime: Duration::from_secs(30),
            acquire_lifetime: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone)]
pub struct SimSa {
    pub satype: SaType,
    pub spi: u32,
    pub src: Address,
    pub dst: Address,
    pub state: u8,
    pub mode: u8,
    pub reqid: u32,
    pub replay: u8,
    pub auth: u8,
    pub encrypt: u8,
    pub flags: u32,
    pub key_auth: Option<Key>,
    pub key_enc: Option<Key>,
    pub hard: Lifetime,
    pub soft: Lifetime,
    pub created: Instant,
    pub created_epoch: u64,
    pub natt: Option<(u8, u16, u16)>,
    pub pid: u32,
    pub seq: u32,
}

impl SimSa {
    /// Its SA extension, as replies and EXPIREs carry it.
    fn sa_ext(&self) -> Ext {
        Ext::Sa(
            ExtKind::Sa,
            Sa {
                spi: self.spi,
                replay: self.replay,
                state: self.state,
                auth: self.auth,
                encrypt: self.encrypt,
                flags: self.flags,
            },
        )
    }
}

#[derive(Debug, Clone)]
pub struct SimPolicy {
    pub src: Address,
    pub dst: Address,
    /// With the kernel-assigned id filled in.
    pub policy: Policy,
    pub hard: Option<Lifetime>,
    pub created_epoch: u64,
}

type SaKey = (u8, IpAddr, u32);

pub struct SimKernel {
    cfg: SimConfig,
    sad: BTreeMap<SaKey, SimSa>,
    spd: Vec<SimPolicy>,
    /// Socket -> SA types it registered for.
    sockets: BTreeMap<ConnId, Vec<SaType>>,
    next_conn: ConnId,
    next_policy: u32,
    acquire_seq: u32,
    /// Policy id -> (ACQUIRE seq, when it stops blocking a new one).
    acquires: BTreeMap<u32, (u32, Instant)>,
    rng: u64,
    epoch_base: (Instant, u64),
    /// Every lifetime deadline of every SA, earliest first. Entries are
    /// pushed when an SA is stored and never updated: `tick` re-checks the
    /// SA when one falls due, so a stale entry (SA deleted or replaced)
    /// costs one lookup. This keeps `next_deadline` O(1) and lets the
    /// lifetime thread sleep until something is due instead of scanning
    /// the whole SAD on a clock (issue 12: the 100 ms scan kept an idle
    /// simulator holding thousands of SAs busy).
    timers: BinaryHeap<Reverse<(Instant, SaKey)>>,
    /// OpenBSD's SPD.
    flows: Vec<flows::SimFlow>,
    /// Messages the kernel would have refused at write() or answered with
    /// a parse error: a correct daemon never sends one (the e2e tests
    /// check this count stays 0).
    refused: u64,
    last_refused: String,
    /// OpenBSD's global sequence counter for EXPIREs and ACQUIREs.
    event_seq: u32,
    /// OpenBSD acquires pending, by seq: the flow (for ASKPOLICY) and when
    /// the entry expires.
    obsd_acquires: BTreeMap<u32, (flows::SimFlow, Instant)>,
}

fn satype_key(t: SaType) -> u8 {
    // Dialect-independent key: the Linux number (or the raw value).
    Dialect::Linux.sa_type_raw(t).unwrap_or(0)
}

fn ipsec_proto_satype(proto: u16) -> Option<SaType> {
    match proto {
        IPPROTO_ESP => Some(SaType::Esp),
        IPPROTO_AH => Some(SaType::Ah),
        IPPROTO_IPCOMP => Some(SaType::IpComp),
        _ => None,
    }
}

/// Whether `ip` lies in `net/prefix` (families must agree).
pub fn prefix_contains(net: IpAddr, prefix: u8, ip: IpAddr) -> bool {
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(prefix.min(32)))
                .unwrap_or(0);
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(prefix.min(128)))
                .unwrap_or(0);
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}

type Outcome = Result<Vec<Delivery>, u8>;

impl SimKernel {
    pub fn new(cfg: SimConfig, now: Instant) -> SimKernel {
        let epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        SimKernel {
            cfg,
            sad: BTreeMap::new(),
            spd: Vec::new(),
            sockets: BTreeMap::new(),
            next_conn: 1,
            next_policy: 1,
            acquire_seq: 0,
            acquires: BTreeMap::new(),
            // The pid keeps two simulators started in the same second (two
            // daemons on one host, as in the demo) from handing out the same
            // SPIs, which would make their dumps hard to read.
            rng: 0x9e37_79b9_7f4a_7c15 ^ epoch ^ (u64::from(std::process::id()) << 32),
            epoch_base: (now, epoch),
            timers: BinaryHeap::new(),
            flows: Vec::new(),
            refused: 0,
            last_refused: String::new(),
            event_seq: 0,
            obsd_acquires: BTreeMap::new(),
        }
    }

    /// OpenBSD's flows.
    pub fn flows(&self) -> &[flows::SimFlow] {
        &self.flows
    }

    /// How many messages were refused as malformed for this dialect, and why
    /// the last one was.
    pub fn refused(&self) -> (u64, &str) {
        (self.refused, &self.last_refused)
    }

    fn note_refused(&mut self, from: ConnId, why: String) {
        log::warn!(
            "pfkey-sim ({}): refused a message from socket {from}: {why}",
            self.cfg.dialect.name()
        );
        self.refused += 1;
        self.last_refused = why;
    }

    /// Stores an SA and queues its deadlines.
    fn store(&mut self, key: SaKey, sa: SimSa) {
        let mut due = Vec::with_capacity(2);
        if sa.state == SADB_SASTATE_LARVAL {
            due.push(sa.created.checked_add(self.cfg.larval_lifetime));
        } else {
            // Client-chosen lifetimes may be absurd: never overflow the clock.
            for secs in [sa.hard.addtime, sa.soft.addtime] {
                if secs > 0 {
                    due.push(sa.created.checked_add(Duration::from_secs(secs)));
                }
            }
        }
        for t in due.into_iter().flatten() {
            self.timers.push(Reverse((t, key)));
        }
        self.sad.insert(key, sa);
    }

    pub fn dialect(&self) -> Dialect {
        self.cfg.dialect
    }

    pub fn connect(&mut self) -> ConnId {
        let id = self.next_conn;
        self.next_conn += 1;
        self.sockets.insert(id, Vec::new());
        id
    }

    /// Closing a socket ends its registrations (as on every kernel).
    pub fn disconnect(&mut self, id: ConnId) {
        self.sockets.remove(&id);
    }

    pub fn sas(&self) -> impl Iterator<Item = &SimSa> {
        self.sad.values()
    }

    pub fn policies(&self) -> &[SimPolicy] {
        &self.spd
    }

    fn epoch(&self, now: Instant) -> u64 {
        self.epoch_base.1 + now.saturating_duration_since(self.epoch_base.0).as_secs()
    }

    fn random(&mut self) -> u32 {
        // xorshift64*: SPIs only need to look arbitrary, not be secret.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        (self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) as u32
    }

    fn emit(&self, m: &Message) -> Vec<u8> {
        // Everything the engine builds is valid for its dialect; an encoding
        // failure would be a bug in the engine, reported as an empty packet.
        m.emit(self.cfg.dialect).unwrap_or_default()
    }

    fn to_all(&self, m: &Message) -> Vec<Delivery> {
        let bytes = self.emit(m);
        self.sockets
            .keys()
            .map(|&to| Delivery {
                to,
                bytes: bytes.clone(),
            })
            .collect()
    }

    fn to_registered(&self, satype: Option<SaType>, m: &Message) -> Vec<Delivery> {
        let bytes = self.emit(m);
        self.sockets
            .iter()
            .filter(|(_, reg)| match satype {
                Some(t) => reg.contains(&t),
                None => !reg.is_empty(),
            })
            .map(|(&to, _)| Delivery {
                to,
                bytes: bytes.clone(),
            })
            .collect()
    }

    fn reply(&self, to: ConnId, req: &Header, exts: Vec<Ext>) -> Vec<Delivery> {
        let m = Message {
            header: Header {
                errno: 0,
                reserved: 0,
                ..*req
            },
            exts,
        };
        vec![Delivery {
            to,
            bytes: self.emit(&m),
        }]
    }

    /// One message written by socket `from`.
    pub fn handle(&mut self, from: ConnId, bytes: &[u8], now: Instant) -> Vec<Delivery> {
        self.handle_as(from, None, bytes, now)
    }

    /// [`SimKernel::handle`] knowing the writer's process id (OpenBSD's parser
    /// insists that `sadb_msg_pid` is the sender's own).
    pub fn handle_as(
        &mut self,
        from: ConnId,
        sender_pid: Option<u32>,
        bytes: &[u8],
        now: Instant,
    ) -> Vec<Delivery> {
        let d = self.cfg.dialect;
        if let Err((refusal, why)) = rules::check(d, bytes, sender_pid) {
            self.note_refused(from, why);
            return match refusal {
                // A failed write: nothing comes back.
                rules::Refusal::Write(_) => Vec::new(),
                // FreeBSD's key_senderror(): the message, errno set, to the sender.
                rules::Refusal::Reply(errno) => {
                    let mut echo = bytes.to_vec();
                    if let Some(b) = echo.get_mut(2) {
                        *b = errno;
                    }
                    vec![Delivery {
                        to: from,
                        bytes: echo,
                    }]
                }
            };
        }
        let msg = match Message::parse(d, bytes) {
            Ok(m) => m,
            Err(e) => {
                self.note_refused(from, format!("undecodable: {e}"));
                if d == Dialect::OpenBsd {
                    return Vec::new();
                }
                // Answer like Linux does for a bad message: header only, EINVAL,
                // echoing what can be read of the header.
                return match HeaderView::new_prefix(bytes) {
                    Ok(v) => {
                        let mut out = v.header_bytes();
                        out[2] = EINVAL;
                        out[4..6].copy_from_slice(&2u16.to_ne_bytes());
                        vec![Delivery {
                            to: from,
                            bytes: out.to_vec(),
                        }]
                    }
                    Err(_) => Vec::new(),
                };
            }
        };
        let h = msg.header;
        if h.errno != 0 && h.msg_type != MsgType::Acquire {
            return self.error(from, &h, bytes, EINVAL);
        }
        let r = match h.msg_type {
            MsgType::GetSpi => self.getspi(from, &msg, now),
            MsgType::Add | MsgType::Update => self.add_update(&msg, now),
            MsgType::Delete => self.delete(&msg),
            MsgType::Get => self.get(from, &msg, now),
            MsgType::Flush => self.flush(&msg),
            MsgType::Dump => self.dump(from, &msg, now),
            MsgType::Register => self.register(from, &msg),
            MsgType::Acquire => self.acquire_from_user(&msg),
            MsgType::SpdAdd | MsgType::SpdUpdate => self.spdadd(&msg, now),
            MsgType::SpdDelete => self.spddelete(&msg),
            MsgType::SpdDelete2 => self.spddelete2(&msg),
            MsgType::SpdGet => self.spdget(from, &msg),
            MsgType::SpdDump => self.spddump(from, &msg),
            MsgType::SpdFlush => self.spdflush(&msg),
            MsgType::AddFlow | MsgType::DelFlow => self.flow(&msg),
            MsgType::AskPolicy => self.ask_policy(from, &msg),
            _ => Err(EINVAL),
        };
        match r {
            Ok(out) => out,
            Err(errno) => self.error(from, &h, bytes, errno),
        }
    }

    /// An errno answer, the dialect's way (DIALECTS.md 4.2):
    /// - Linux: a header-only reply to the sender;
    /// - FreeBSD: the whole message echoed to the sender (`key_senderror()`);
    /// - OpenBSD: EINVAL, ENOMEM and ENOBUFS fail the write() and nothing is
    ///   sent; other errors are a header-only message to every socket
    ///   (`pfkeyv2_dosend()`, label `ret`).
    fn error(&mut self, to: ConnId, h: &Header, bytes: &[u8], errno: u8) -> Vec<Delivery> {
        let header_only = || {
            Message::new(Header {
                errno,
                reserved: 0,
                ..*h
            })
        };
        match self.cfg.dialect {
            Dialect::Linux => vec![Delivery {
                to,
                bytes: self.emit(&header_only()),
            }],
            Dialect::FreeBsd => {
                let mut echo = bytes.to_vec();
                if let Some(b) = echo.get_mut(2) {
                    *b = errno;
                }
                vec![Delivery { to, bytes: echo }]
            }
            Dialect::OpenBsd if errno == EINVAL => {
                self.note_refused(to, format!("{:?}: EINVAL", h.msg_type));
                Vec::new()
            }
            Dialect::OpenBsd => self.to_all(&header_only()),
        }
    }

    /// OpenBSD ADDFLOW / DELFLOW (see [`flows`]); the reply, the request's
    /// own extensions, goes to every socket.
    fn flow(&mut self, msg: &Message) -> Outcome {
        let f = flows::from_message(msg)?;
        if msg.header.msg_type == MsgType::AddFlow {
            flows::add(&mut self.flows, f);
        } else {
            flows::delete(&mut self.flows, &f)?;
        }
        let out = Message {
            header: Header {
                errno: 0,
                reserved: 0,
                ..msg.header
            },
            exts: msg.exts.clone(),
        };
        Ok(self.to_all(&out))
    }

    fn sa_addrs(msg: &Message) -> Result<(Address, Address), u8> {
        let src = msg.address(ExtKind::AddressSrc).ok_or(EINVAL)?;
        let dst = msg.address(ExtKind::AddressDst).ok_or(EINVAL)?;
        if src.addr.is_ipv4() != dst.addr.is_ipv4() {
            return Err(EINVAL);
        }
        Ok((*src, *dst))
    }

    fn ipsec_satype(h: &Header) -> Result<SaType, u8> {
        match h.satype {
            SaType::Esp | SaType::Ah | SaType::IpComp => Ok(h.satype),
            _ => Err(EINVAL),
        }
    }

    fn getspi(&mut self, from: ConnId, msg: &Message, now: Instant) -> Outcome {
        let satype = Self::ipsec_satype(&msg.header)?;
        let (src, dst) = Self::sa_addrs(msg)?;
        let (min, max) = msg
            .spirange()
            .map(|r| (r.min, r.max))
            .unwrap_or((0x100, 0x0fff_ffff));
        if min > max || max < 0x100 {
            return Err(EINVAL);
        }
        let min = min.max(0x100);
        let key = |spi| (satype_key(satype), dst.ip(), spi);
        let spi = if min == max {
            if self.sad.contains_key(&key(min)) {
                return Err(EEXIST);
            }
            min
        } else {
            let span = u64::from(max - min) + 1;
            let mut found = None;
            for _ in 0..1000 {
                let cand = min + (u64::from(self.random()) % span) as u32;
                if !self.sad.contains_key(&key(cand)) {
                    found = Some(cand);
                    break;
                }
            }
            found.ok_or(ENOENT)?
        };
        let sa2 = msg.sa2().copied().unwrap_or_default();
        let sa = SimSa {
            satype,
            spi,
            src,
            dst,
            state: SADB_SASTATE_LARVAL,
            mode: sa2.mode,
            reqid: sa2.reqid,
            replay: 0,
            auth: 0,
            encrypt: 0,
            flags: 0,
            key_auth: None,
            key_enc: None,
            hard: Lifetime::default(),
            soft: Lifetime::default(),
            created: now,
            created_epoch: self.epoch(now),
            natt: None,
            pid: msg.header.pid,
            seq: msg.header.seq,
        };
        self.store(key(spi), sa);
        let out_sa = Sa {
            spi,
            state: SADB_SASTATE_LARVAL,
            ..Sa::default()
        };
        let exts = vec![
            Ext::Sa(ExtKind::Sa, out_sa),
            Ext::Address(ExtKind::AddressSrc, src),
            Ext::Address(ExtKind::AddressDst, dst),
        ];
        if self.cfg.dialect == Dialect::OpenBsd {
            // OpenBSD broadcasts the GETSPI reply (DIALECTS.md 4.1).
            let m = Message {
                header: Header {
                    errno: 0,
                    reserved: 0,
                    ..msg.header
                },
                exts,
            };
            return Ok(self.to_all(&m));
        }
        Ok(self.reply(from, &msg.header, exts))
    }

    fn find_alg(list: &[Alg], id: u8) -> Option<&Alg> {
        list.iter().find(|a| a.id == id)
    }

    /// Algorithm and key checks of ADD/UPDATE: unknown algorithm -> ENOSYS
    /// (Linux af_key), key missing or of a size outside the advertised range -> EINVAL.
    fn check_algs(&self, satype: SaType, sa: &Sa, msg: &Message) -> Result<(), u8> {
        let key_ok = |alg: &Alg, key: Option<&Key>| -> Result<(), u8> {
            match key {
                None if alg.maxbits == 0 => Ok(()),
                None => Err(EINVAL),
                Some(k) if k.bits >= alg.minbits && k.bits <= alg.maxbits => Ok(()),
                Some(_) => Err(EINVAL),
            }
        };
        if sa.auth != SADB_AALG_NONE {
            let alg = Self::find_alg(&self.cfg.auth, sa.auth).ok_or(ENOSYS)?;
            key_ok(alg, msg.key(ExtKind::KeyAuth))?;
        } else if satype == SaType::Ah {
            return Err(EINVAL);
        }
        if satype == SaType::Esp {
            // OpenBSD takes AES-GCM/GMAC and ChaCha20-Poly1305 without
            // listing them in REGISTER (DIALECTS.md 4.6).
            let unlisted_aead = self.cfg.dialect == Dialect::OpenBsd
                && (openbsd::SADB_X_EALG_AESGCM8..=openbsd::SADB_X_EALG_CHACHA20POLY1305)
                    .contains(&sa.encrypt);
            if !unlisted_aead {
                let alg = Self::find_alg(&self.cfg.encrypt, sa.encrypt).ok_or(ENOSYS)?;
                key_ok(alg, msg.key(ExtKind::KeyEncrypt))?;
            }
        }
        Ok(())
    }

    fn add_update(&mut self, msg: &Message, now: Instant) -> Outcome {
        let h = msg.header;
        let satype = Self::ipsec_satype(&h)?;
        let sa = *msg.sa().ok_or(EINVAL)?;
        let (src, dst) = Self::sa_addrs(msg)?;
        let hard = msg.lifetime(ExtKind::LifetimeHard).copied();
        let soft = msg.lifetime(ExtKind::LifetimeSoft).copied();
        let d = self.cfg.dialect;
        // Linux and FreeBSD: both or neither (DIALECTS.md 5.3, 2.8).
        if d.is_kame() && hard.is_some() != soft.is_some() {
            return Err(EINVAL);
        }
        self.check_algs(satype, &sa, msg)?;
        let key = (satype_key(satype), dst.ip(), sa.spi);
        if d == Dialect::FreeBsd && h.msg_type == MsgType::Add {
            // key.c key_add(): SPIs up to 255 are reserved, and since 12.0
            // one SPI namespace spans all SAs (DIALECTS.md 2.8).
            if sa.spi <= 0xff {
                return Err(EINVAL);
            }
            if self.sad.values().any(|o| o.spi == sa.spi) {
                return Err(EEXIST);
            }
        }
        let existing = self.sad.get(&key);
        // The BSDs keep the keys of a MATURE SA: an UPDATE may change
        // lifetimes and flags only (FreeBSD key_update(), OpenBSD
        // pfkeyv2_dosend() SADB_UPDATE).
        let has_keys =
            msg.key(ExtKind::KeyAuth).is_some() || msg.key(ExtKind::KeyEncrypt).is_some();
        if d != Dialect::Linux
            && h.msg_type == MsgType::Update
            && existing.is_some_and(|o| o.state != SADB_SASTATE_LARVAL)
            && has_keys
        {
            return Err(EINVAL);
        }
        match (h.msg_type, existing) {
            (MsgType::Add, Some(_)) => return Err(EEXIST),
            (MsgType::Update, None) => return Err(ESRCH),
            (MsgType::Update, Some(old)) if old.src.ip() != src.ip() => return Err(ESRCH),
            // FreeBSD: only the process that did GETSPI/ADD may UPDATE (DIALECTS.md 4.9).
            (MsgType::Update, Some(old))
                if self.cfg.dialect == Dialect::FreeBsd && old.pid != h.pid =>
            {
                return Err(EINVAL)
            }
            _ => {}
        }
        let sa2 = msg.sa2().copied();
        let natt = match (
            msg.nat_t_type(),
            msg.nat_t_port(ExtKind::NatTSport),
            msg.nat_t_port(ExtKind::NatTDport),
        ) {
            (Some(t), Some(s), Some(d)) => Some((t, s, d)),
            // OpenBSD: the peer's port in X_UDPENCAP, with SAFLAGS_UDPENCAP.
            (None, None, None) => msg.exts.iter().find_map(|e| match e {
                Ext::UdpEncap(port) => Some((UDP_ENCAP_ESPINUDP, 0, *port)),
                _ => None,
            }),
            _ => return Err(EINVAL),
        };
        // OpenBSD has no SA2: the mode is the TUNNEL flag.
        let flag_mode =
            (d == Dialect::OpenBsd).then_some(if sa.flags & openbsd::SADB_X_SAFLAGS_TUNNEL != 0 {
                IPSEC_MODE_TUNNEL
            } else {
                IPSEC_MODE_TRANSPORT
            });
        let (created, created_epoch) = match existing {
            Some(old) if h.msg_type == MsgType::Update && old.state != SADB_SASTATE_LARVAL => {
                (old.created, old.created_epoch)
            }
            _ => (now, self.epoch(now)),
        };
        let record = SimSa {
            satype,
            spi: sa.spi,
            src,
            dst,
            state: SADB_SASTATE_MATURE,
            mode: flag_mode
                .or(sa2.map(|s| s.mode))
                .or(existing.map(|e| e.mode))
                .unwrap_or(IPSEC_MODE_ANY),
            reqid: sa2
                .map(|s| s.reqid)
                .or(existing.map(|e| e.reqid))
                .unwrap_or(0),
            replay: sa.replay,
            auth: sa.auth,
            encrypt: sa.encrypt,
            flags: sa.flags,
            key_auth: msg.key(ExtKind::KeyAuth).cloned(),
            key_enc: msg.key(ExtKind::KeyEncrypt).cloned(),
            hard: hard.unwrap_or_default(),
            soft: soft.unwrap_or_default(),
            created,
            created_epoch,
            natt,
            pid: h.pid,
            seq: h.seq,
        };
        // Linux sends the full SA, keys included, to every socket; FreeBSD
        // and OpenBSD leave the keys out (DIALECTS.md 4.1).
        let mut out = Message::new(Header {
            errno: 0,
            reserved: 0,
            ..h
        });
        out.exts = self.sa_exts(&record, now, d == Dialect::Linux);
        self.store(key, record);
        Ok(self.to_all(&out))
    }

    fn sa_exts(&self, sa: &SimSa, now: Instant, keys: bool) -> Vec<Ext> {
        let mut v = vec![
            sa.sa_ext(),
            Ext::Lifetime(
                ExtKind::LifetimeCurrent,
                Lifetime {
                    allocations: 0,
                    bytes: 0,
                    addtime: sa.created_epoch,
                    usetime: 0,
                },
            ),
            Ext::Lifetime(ExtKind::LifetimeHard, sa.hard),
            Ext::Lifetime(ExtKind::LifetimeSoft, sa.soft),
            Ext::Address(ExtKind::AddressSrc, sa.src),
            Ext::Address(ExtKind::AddressDst, sa.dst),
        ];
        let _ = now;
        if keys {
            if let Some(k) = &sa.key_auth {
                v.push(Ext::Key(ExtKind::KeyAuth, k.clone()));
            }
            if let Some(k) = &sa.key_enc {
                v.push(Ext::Key(ExtKind::KeyEncrypt, k.clone()));
            }
        }
        if self.cfg.dialect == Dialect::OpenBsd {
            if let Some((_, _, port)) = sa.natt {
                v.push(Ext::UdpEncap(port));
            }
            return v;
        }
        v.push(Ext::Sa2(Sa2 {
            mode: sa.mode,
            sequence: 0,
            reqid: sa.reqid,
        }));
        if let Some((t, s, d)) = sa.natt {
            v.push(Ext::NatTType(t));
            v.push(Ext::NatTPort(ExtKind::NatTSport, s));
            v.push(Ext::NatTPort(ExtKind::NatTDport, d));
        }
        v
    }

    fn lookup(&self, msg: &Message) -> Result<SaKey, u8> {
        let satype = Self::ipsec_satype(&msg.header)?;
        let sa = msg.sa().ok_or(EINVAL)?;
        let dst = msg.address(ExtKind::AddressDst).ok_or(EINVAL)?;
        let key = (satype_key(satype), dst.ip(), sa.spi);
        if self.sad.contains_key(&key) {
            Ok(key)
        } else {
            Err(ESRCH)
        }
    }

    fn delete(&mut self, msg: &Message) -> Outcome {
        let key = self.lookup(msg)?;
        let Some(sa) = self.sad.remove(&key) else {
            return Err(ESRCH);
        };
        let mut out = Message::new(Header {
            errno: 0,
            reserved: 0,
            ..msg.header
        });
        out.exts = vec![
            Ext::Sa(
                ExtKind::Sa,
                Sa {
                    spi: sa.spi,
                    state: SADB_SASTATE_DEAD,
                    ..Sa::default()
                },
            ),
            Ext::Address(ExtKind::AddressSrc, sa.src),
            Ext::Address(ExtKind::AddressDst, sa.dst),
        ];
        Ok(self.to_all(&out))
    }

    fn get(&mut self, from: ConnId, msg: &Message, now: Instant) -> Outcome {
        let key = self.lookup(msg)?;
        let sa = self.sad.get(&key).ok_or(ESRCH)?;
        let exts = self.sa_exts(sa, now, true);
        Ok(self.reply(from, &msg.header, exts))
    }

    fn flush(&mut self, msg: &Message) -> Outcome {
        let t = msg.header.satype;
        if t == SaType::Unspec {
            self.sad.clear();
            // OpenBSD's FLUSH of every type removes the flows too (DIALECTS.md 3.3).
            if self.cfg.dialect == Dialect::OpenBsd {
                self.flows.clear();
            }
        } else {
            let k = satype_key(Self::ipsec_satype(&msg.header)?);
            self.sad.retain(|key, _| key.0 != k);
        }
        Ok(self.to_all(&Message::new(Header {
            errno: 0,
            reserved: 0,
            ..msg.header
        })))
    }

    /// Multi-message replies: Linux numbers them 1, 2, ... and the last 0;
    /// FreeBSD counts down to 0 (DIALECTS.md 4.3). Empty -> ENOENT.
    fn dump_seq(&self, i: usize, n: usize) -> u32 {
        let s = if i + 1 == n {
            0
        } else if self.cfg.dialect == Dialect::FreeBsd {
            n - 1 - i
        } else {
            i + 1
        };
        u32::try_from(s).unwrap_or(u32::MAX)
    }

    fn dump(&mut self, from: ConnId, msg: &Message, now: Instant) -> Outcome {
        let t = msg.header.satype;
        let sas: Vec<&SimSa> = self
            .sad
            .values()
            .filter(|s| t == SaType::Unspec || s.satype == t)
            .collect();
        if sas.is_empty() {
            // OpenBSD sends nothing at all for an empty SADB (DIALECTS.md 4.3).
            if self.cfg.dialect == Dialect::OpenBsd {
                return Ok(Vec::new());
            }
            return Err(ENOENT);
        }
        let n = sas.len();
        Ok(sas
            .iter()
            .enumerate()
            .map(|(i, sa)| {
                let m = Message {
                    header: Header {
                        errno: 0,
                        reserved: 0,
                        satype: sa.satype,
                        seq: self.dump_seq(i, n),
                        ..msg.header
                    },
                    exts: self.sa_exts(sa, now, true),
                };
                Delivery {
                    to: from,
                    bytes: self.emit(&m),
                }
            })
            .collect())
    }

    fn supported_exts(&self) -> Vec<Ext> {
        let mut v = vec![
            Ext::Supported(ExtKind::SupportedAuth, self.cfg.auth.clone()),
            Ext::Supported(ExtKind::SupportedEncrypt, self.cfg.encrypt.clone()),
        ];
        // Required in OpenBSD's REGISTER reply (sadb_exts_required_out).
        if self.cfg.dialect == Dialect::OpenBsd {
            let deflate = Alg {
                id: openbsd::SADB_X_CALG_DEFLATE,
                ivlen: 0,
                minbits: 0,
                maxbits: 0,
            };
            v.push(Ext::Supported(ExtKind::SupportedComp, vec![deflate]));
        }
        v
    }

    fn register(&mut self, from: ConnId, msg: &Message) -> Outcome {
        let h = Header {
            errno: 0,
            reserved: 0,
            ..msg.header
        };
        if h.satype == SaType::Unspec {
            return Ok(self.reply(from, &h, self.supported_exts()));
        }
        let t = Self::ipsec_satype(&h)?;
        let kame = self.cfg.dialect.is_kame();
        let reg = self.sockets.entry(from).or_default();
        if reg.contains(&t) {
            // KAME refuses a second REGISTER; OpenBSD just sets the bit again.
            if kame {
                return Err(EEXIST);
            }
        } else {
            reg.push(t);
        }
        let out = Message {
            header: h,
            exts: self.supported_exts(),
        };
        if !kame {
            // OpenBSD broadcasts the REGISTER reply (DIALECTS.md 4.1).
            return Ok(self.to_all(&out));
        }
        Ok(self.to_registered(None, &out))
    }

    /// A key manager reporting that negotiation failed (errno != 0) ends the
    /// pending ACQUIRE so that the next packet triggers a new one.
    fn acquire_from_user(&mut self, msg: &Message) -> Outcome {
        if msg.header.errno == 0 {
            return Err(EINVAL);
        }
        let seq = msg.header.seq;
        self.acquires.retain(|_, (s, _)| *s != seq);
        Ok(Vec::new())
    }

    fn policy_parts(msg: &Message) -> Result<(Address, Address, Policy), u8> {
        let (src, dst) = Self::sa_addrs(msg)?;
        let pol = msg.policy().ok_or(EINVAL)?.clone();
        Ok((src, dst, pol))
    }

    fn same_selector(p: &SimPolicy, src: &Address, dst: &Address, dir: u8) -> bool {
        p.policy.dir == dir && p.src == *src && p.dst == *dst
    }

    fn spdadd(&mut self, msg: &Message, now: Instant) -> Outcome {
        let h = msg.header;
        if h.satype != SaType::Unspec {
            return Err(EINVAL);
        }
        let (src, dst, mut pol) = Self::policy_parts(msg)?;
        let max_dir = if self.cfg.dialect == Dialect::Linux {
            linux::IPSEC_DIR_FWD
        } else {
            IPSEC_DIR_OUTBOUND
        };
        if pol.dir < IPSEC_DIR_INBOUND || pol.dir > max_dir || src.proto != dst.proto {
            return Err(EINVAL);
        }
        match pol.policy_type {
            IPSEC_POLICY_DISCARD | IPSEC_POLICY_NONE => pol.requests.clear(),
            IPSEC_POLICY_IPSEC if !pol.requests.is_empty() => {}
            _ => return Err(EINVAL),
        }
        for r in &pol.requests {
            let tunnel_ok = (r.mode == IPSEC_MODE_TUNNEL) == r.tunnel.is_some();
            if ipsec_proto_satype(r.proto).is_none() || !tunnel_ok {
                return Err(EINVAL);
            }
        }
        let existing = self
            .spd
            .iter()
            .position(|p| Self::same_selector(p, &src, &dst, pol.dir));
        let id = match (h.msg_type, existing) {
            (MsgType::SpdAdd, Some(_)) => return Err(EEXIST),
            (_, Some(i)) => self.spd.get(i).map(|p| p.policy.id).unwrap_or(0),
            // Linux's policy index carries the direction in its low 3 bits.
            (_, None) => {
                let id = self.next_policy.wrapping_mul(8) | u32::from(pol.dir - 1);
                self.next_policy = self.next_policy.wrapping_add(1);
                id
            }
        };
        pol.id = id;
        let entry = SimPolicy {
            src,
            dst,
            policy: pol,
            hard: msg.lifetime(ExtKind::LifetimeHard).copied(),
            created_epoch: self.epoch(now),
        };
        match existing {
            Some(i) => {
                if let Some(slot) = self.spd.get_mut(i) {
                    *slot = entry.clone();
                }
            }
            None => self.spd.push(entry.clone()),
        }
        let out = Message {
            header: Header {
                errno: 0,
                reserved: 0,
                ..h
            },
            exts: self.policy_exts(&entry),
        };
        Ok(self.to_all(&out))
    }

    fn policy_exts(&self, p: &SimPolicy) -> Vec<Ext> {
        let mut v = vec![
            Ext::Address(ExtKind::AddressSrc, p.src),
            Ext::Address(ExtKind::AddressDst, p.dst),
            Ext::Policy(p.policy.clone()),
            Ext::Lifetime(
                ExtKind::LifetimeCurrent,
                Lifetime {
                    addtime: p.created_epoch,
                    ..Lifetime::default()
                },
            ),
        ];
        if let Some(h) = p.hard {
            v.push(Ext::Lifetime(ExtKind::LifetimeHard, h));
        }
        v
    }

    fn not_found(&self) -> u8 {
        // FreeBSD answers EINVAL for a missing policy, Linux ENOENT (DIALECTS.md 2.6).
        if self.cfg.dialect == Dialect::FreeBsd {
            EINVAL
        } else {
            ENOENT
        }
    }

    fn remove_policy(&mut self, i: usize, h: &Header) -> Outcome {
        if i >= self.spd.len() {
            return Err(self.not_found());
        }
        let p = self.spd.remove(i);
        self.acquires.remove(&p.policy.id);
        let out = Message {
            header: Header {
                errno: 0,
                reserved: 0,
                ..*h
            },
            exts: vec![
                Ext::Address(ExtKind::AddressSrc, p.src),
                Ext::Address(ExtKind::AddressDst, p.dst),
                Ext::Policy(Policy {
                    requests: Vec::new(),
                    ..p.policy
                }),
            ],
        };
        Ok(self.to_all(&out))
    }

    fn spddelete(&mut self, msg: &Message) -> Outcome {
        let (src, dst, pol) = Self::policy_parts(msg)?;
        let i = self
            .spd
            .iter()
            .position(|p| Self::same_selector(p, &src, &dst, pol.dir))
            .ok_or(self.not_found())?;
        self.remove_policy(i, &msg.header)
    }

    fn spddelete2(&mut self, msg: &Message) -> Outcome {
        let id = msg.policy().ok_or(EINVAL)?.id;
        let i = self
            .spd
            .iter()
            .position(|p| p.policy.id == id)
            .ok_or(self.not_found())?;
        self.remove_policy(i, &msg.header)
    }

    fn spdget(&mut self, from: ConnId, msg: &Message) -> Outcome {
        let id = msg.policy().ok_or(EINVAL)?.id;
        let p = self.spd.iter().find(|p| p.policy.id == id).ok_or(ENOENT)?;
        Ok(self.reply(from, &msg.header, self.policy_exts(p)))
    }

    fn spddump(&mut self, from: ConnId, msg: &Message) -> Outcome {
        let n = self.spd.len();
        if n == 0 {
            return Err(ENOENT);
        }
        Ok(self
            .spd
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let m = Message {
                    header: Header {
                        errno: 0,
                        reserved: 0,
                        seq: self.dump_seq(i, n),
                        ..msg.header
                    },
                    exts: self.policy_exts(p),
                };
                Delivery {
                    to: from,
                    bytes: self.emit(&m),
                }
            })
            .collect())
    }

    fn spdflush(&mut self, msg: &Message) -> Outcome {
        self.spd.clear();
        self.acquires.clear();
        Ok(self.to_all(&Message::new(Header {
            errno: 0,
            reserved: 0,
            ..msg.header
        })))
    }

    fn has_sa(&self, satype: SaType, src: IpAddr, dst: IpAddr, reqid: Option<u32>) -> bool {
        self.sad.values().any(|s| {
            s.satype == satype
                && s.src.ip() == src
                && s.dst.ip() == dst
                && (s.state == SADB_SASTATE_MATURE || s.state == SADB_SASTATE_DYING)
                && reqid.is_none_or(|r| s.reqid == r)
        })
    }

    /// A packet from `src` to `dst` leaves the host: find the outbound policy;
    /// if it wants an SA the SAD does not have, send ACQUIRE to the sockets
    /// registered for that SA type. Returns what happened, for the operator.
    pub fn trigger(
        &mut self,
        src: IpAddr,
        dst: IpAddr,
        now: Instant,
    ) -> Result<(String, Vec<Delivery>), String> {
        if self.cfg.dialect == Dialect::OpenBsd {
            return self.trigger_flows(src, dst, now);
        }
        let pol = self
            .spd
            .iter()
            .filter(|p| {
                p.policy.dir == IPSEC_DIR_OUTBOUND
                    && prefix_contains(p.src.ip(), p.src.prefix_len, src)
                    && prefix_contains(p.dst.ip(), p.dst.prefix_len, dst)
            })
            .min_by_key(|p| p.policy.priority)
            .cloned()
            .ok_or_else(|| format!("no outbound policy matches {src} -> {dst}"))?;
        let id = pol.policy.id;
        if pol.policy.policy_type != IPSEC_POLICY_IPSEC {
            return Ok((format!("policy {id} is not IPSEC: no ACQUIRE"), Vec::new()));
        }
        let missing = pol.policy.requests.iter().find_map(|r| {
            let satype = ipsec_proto_satype(r.proto)?;
            let (s, d) = r
                .tunnel
                .map(|(s, d)| (s.ip(), d.ip()))
                .unwrap_or((src, dst));
            let reqid = (r.level == IPSEC_LEVEL_UNIQUE && r.reqid != 0).then_some(r.reqid);
            (!self.has_sa(satype, s, d, reqid)).then_some((satype, s, d, r.mode, r.reqid))
        });
        let Some((satype, s, d, mode, reqid)) = missing else {
            return Ok((format!("policy {id}: SAs present, no ACQUIRE"), Vec::new()));
        };
        if let Some((seq, until)) = self.acquires.get(&id) {
            if now < *until {
                return Ok((
                    format!("policy {id}: ACQUIRE {seq} still pending"),
                    Vec::new(),
                ));
            }
        }
        self.acquire_seq = self.acquire_seq.wrapping_add(1);
        let seq = self.acquire_seq;
        let combs = self
            .cfg
            .encrypt
            .iter()
            .filter(|e| satype == SaType::Esp && e.id != SADB_EALG_NONE)
            .map(|e| Comb {
                auth: linux::SADB_AALG_SHA1HMAC,
                encrypt: e.id,
                auth_minbits: 160,
                auth_maxbits: 160,
                encrypt_minbits: e.minbits,
                encrypt_maxbits: e.maxbits,
                // Linux's defaults (DIALECTS.md 4.4).
                soft_addtime: 72_000,
                hard_addtime: 86_400,
                soft_usetime: 25_200,
                hard_usetime: 28_800,
                ..Comb::default()
            })
            .collect();
        let mut m = Message::new(Header::new(MsgType::Acquire, satype, seq, 0));
        m.exts = vec![
            Ext::Address(
                ExtKind::AddressSrc,
                Address {
                    proto: 0,
                    ..Address::host(s)
                },
            ),
            Ext::Address(
                ExtKind::AddressDst,
                Address {
                    proto: 0,
                    ..Address::host(d)
                },
            ),
            // Linux: dir always OUTBOUND, id and priority, no requests.
            Ext::Policy(Policy {
                requests: Vec::new(),
                ..pol.policy.clone()
            }),
            Ext::Proposal(Proposal { replay: 32, combs }),
        ];
        if self.cfg.dialect == Dialect::FreeBsd && reqid != 0 {
            m.exts.push(Ext::Sa2(Sa2 {
                mode,
                sequence: 0,
                reqid,
            }));
        }
        let out = self.to_registered(Some(satype), &m);
        if out.is_empty() {
            return Ok((
                format!("policy {id}: no socket registered for {satype:?}; ACQUIRE dropped"),
                out,
            ));
        }
        self.acquires
            .insert(id, (seq, now + self.cfg.acquire_lifetime));
        Ok((
            format!(
                "policy {id}: ACQUIRE seq {seq} sent to {} socket(s)",
                out.len()
            ),
            out,
        ))
    }

    /// When the next lifetime runs out (possibly that of an SA deleted
    /// since: `tick` then finds nothing to do).
    pub fn next_deadline(&self) -> Option<Instant> {
        let sa = self.timers.peek().map(|Reverse((t, _))| *t);
        let acq = self.acquires.values().map(|(_, until)| *until).min();
        match (sa, acq) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Fire the lifetimes that have run out by `now`.
    pub fn tick(&mut self, now: Instant) -> Vec<Delivery> {
        let mut out = Vec::new();
        self.acquires.retain(|_, (_, until)| now < *until);
        let larval = self.cfg.larval_lifetime;
        let mut keys: Vec<SaKey> = Vec::new();
        while let Some(Reverse((t, key))) = self.timers.peek() {
            if *t > now {
                break;
            }
            keys.push(*key);
            self.timers.pop();
        }
        keys.sort_unstable();
        keys.dedup();
        for key in keys {
            let Some(sa) = self.sad.get(&key) else {
                continue;
            };
            if sa.state == SADB_SASTATE_LARVAL {
                if now >= sa.created + larval {
                    self.sad.remove(&key);
                }
                continue;
            }
            let age = now.saturating_duration_since(sa.created).as_secs();
            let hard = sa.hard.addtime > 0 && age >= sa.hard.addtime;
            let soft = !hard
                && sa.soft.addtime > 0
                && age >= sa.soft.addtime
                && sa.state == SADB_SASTATE_MATURE;
            if !hard && !soft {
                continue;
            }
            let sa = if hard {
                match self.sad.remove(&key) {
                    Some(sa) => sa,
                    None => continue,
                }
            } else {
                match self.sad.get_mut(&key) {
                    Some(sa) => {
                        sa.state = SADB_SASTATE_DYING;
                        sa.clone()
                    }
                    None => continue,
                }
            };
            let (kind, limit) = if hard {
                (ExtKind::LifetimeHard, sa.hard)
            } else {
                (ExtKind::LifetimeSoft, sa.soft)
            };
            // Linux EXPIRE: seq 0, pid 0; SA, HARD or SOFT, CURRENT, addresses, SA2.
            // FreeBSD: seq of the message that made the SA. OpenBSD: a
            // global counter, no SA2, to every socket (DIALECTS.md 4.5).
            let seq = match self.cfg.dialect {
                Dialect::Linux => 0,
                Dialect::FreeBsd => sa.seq,
                Dialect::OpenBsd => {
                    self.event_seq = self.event_seq.wrapping_add(1);
                    self.event_seq
                }
            };
            let mut m = Message::new(Header::new(MsgType::Expire, sa.satype, seq, 0));
            m.exts = vec![
                sa.sa_ext(),
                Ext::Lifetime(kind, limit),
                Ext::Lifetime(
                    ExtKind::LifetimeCurrent,
                    Lifetime {
                        addtime: sa.created_epoch,
                        ..Lifetime::default()
                    },
                ),
                Ext::Address(ExtKind::AddressSrc, sa.src),
                Ext::Address(ExtKind::AddressDst, sa.dst),
                Ext::Sa2(Sa2 {
                    mode: sa.mode,
                    sequence: 0,
                    reqid: sa.reqid,
                }),
            ];
            if self.cfg.dialect == Dialect::OpenBsd {
                m.exts.retain(|e| !matches!(e, Ext::Sa2(_)));
                out.extend(self.to_all(&m));
            } else {
                out.extend(self.to_registered(Some(sa.satype), &m));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;
