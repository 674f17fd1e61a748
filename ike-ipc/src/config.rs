//! The configuration data model: plain values the parent builds from
//! `ike.conf` (see `ike_parent::config`) and sends to its children over IPC.
//!
//! Nothing here parses text or touches files. Every field is already
//! validated by the parser, so the children can trust the shape (not the
//! wisdom) of what they receive. Secrets live in [`Secret`], which is
//! zeroized on drop and never printed by `Debug`.

pub mod algorithms;
pub mod certs;
#[cfg(feature = "os")]
pub mod check;
pub mod cp;
pub mod identity;
pub mod policy;
pub mod reload;
pub mod scope;
pub mod secret;
pub mod select;

pub use algorithms::{DhGroup, Encryption, Esn, Integrity, Prf};
pub use certs::{CertFile, LocalCert, PeerAuthSource};
pub use cp::CpConfig;
pub use identity::Identity;
pub use policy::{
    Auth, ChildProposal, Encapsulation, Flow, IkeProposal, IpNet, IpsecProtocol, Lifetime, Policy,
    PolicyMode, PublicKeyMethod,
};
pub use reload::{policy_changes, PolicyChanges};
pub use scope::{ChildScope, SaRules, Suite};
pub use secret::{KeyFormat, KeyMaterial, Secret};
pub use select::{select_policy, PolicyQuery};

use serde::{Deserialize, Serialize};

/// The whole parsed daemon configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Config {
    pub global: Global,
    /// In file order: selection is last-match (with `quick`), so order matters.
    pub policies: Vec<Policy>,
    /// `private/local.key` next to the configuration, loaded only when a
    /// policy uses public-key authentication.
    pub local_key: Option<KeyMaterial>,
    /// Every key found under `pubkeys/{ipv4,ipv6,fqdn,ufqdn}/`, by identity
    /// (the OpenIKED layout), loaded only when a policy uses public keys.
    pub peer_keys: Vec<PeerKey>,
    /// Trust anchors from `ca/` (PEM or DER files), loaded only when a
    /// policy uses public keys; a peer without a key in `pubkeys/` must
    /// send a certificate that chains to one of them.
    pub ca_files: Vec<CertFile>,
    /// Our certificates from `certs/<local identity>.crt`, one per local
    /// identity of a public-key policy that has one.
    pub local_certs: Vec<LocalCert>,
}

impl Config {
    /// The configuration without secrets, for the PF_KEY broker, which needs
    /// the policies (to build its allowed set) but never a PSK or private key
    /// (DESIGN.md: "Private keys and PSKs reach only the process that needs them").
    pub fn broker_view(&self) -> Config {
        let mut view = self.clone();
        view.local_key = None;
        view.peer_keys.clear();
        // Certificates are public, but the broker has no use for them, and
        // what it does not hold it cannot be made to misuse or leak.
        view.ca_files.clear();
        view.local_certs.clear();
        for policy in &mut view.policies {
            if let Auth::Psk(_) = policy.auth {
                policy.auth = Auth::Psk(Secret::redacted());
            }
        }
        view
    }

    /// A policy by its name (names are unique; the parser enforces it).
    pub fn policy(&self, name: &str) -> Option<&Policy> {
        self.policies.iter().find(|p| p.name == name)
    }
}

/// A public key of a peer, from `pubkeys/<type>/<identity>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerKey {
    pub id: Identity,
    pub key: KeyMaterial,
}

/// `set active` / `set passive`: whether the daemon initiates at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum GlobalMode {
    /// Per-policy `active`/`passive` is respected (the default, as in iked).
    #[default]
    Active,
    /// Never send a request first, whatever the policies say.
    Passive,
}

/// The `set` options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Global {
    pub mode: GlobalMode,
    /// `set dpd_check_interval T`: seconds of silence before a liveness
    /// check (RFC 7296 2.4); 0 disables.
    pub dpd_check_interval: u32,
    /// `set fragmentation` / `set nofragmentation` (RFC 7383).
    pub fragmentation: bool,
    /// `set cookie-threshold N`: half-open IKE SAs beyond which a responder
    /// demands a cookie (RFC 7296 2.6).
    pub cookie_threshold: u32,
    /// `set half-open-limit N`: half-open IKE SAs beyond which new
    /// IKE_SA_INIT requests are dropped. 0 = sized from memory by
    /// ike-parent ([`half_open_limit_for_memory`]).
    pub half_open_limit: u32,
    /// `set window N`: the message window we announce with SET_WINDOW_SIZE
    /// (RFC 7296 2.3), within 1..=[`MAX_WINDOW`].
    pub window: u32,
    /// `set user NAME`: the unprivileged user the children run as;
    /// `None` = the daemon's default (command line, then `_ike`).
    pub user: Option<String>,
    /// `set chroot DIR`: the empty directory the children chroot into;
    /// `None` = the daemon's default (command line, then `/var/empty`).
    pub chroot: Option<String>,
    /// `set flush-on-start yes|no`: flush the kernel's SAD/SPD at start.
    pub flush_on_start: bool,
    /// `set delete-on-exit yes|no`: delete our SAs and policies on exit.
    pub delete_on_exit: bool,
    /// `set natt_keepalive T`: seconds between NAT keepalives (RFC 3948
    /// 2.3) from the side behind a NAT; 0 = none.
    pub natt_keepalive: u32,
    /// `set mobike` / `set nomobike`: offer and accept MOBIKE (RFC 4555);
    /// on by default, as in iked.
    pub mobike: bool,
    /// `set stickyaddress`: a peer identity gets the address it had
    /// before from a `config address` pool, when it is free.
    pub sticky_address: bool,
    /// `set sa-limit N`: the most child SAs (kernel SAs, each direction
    /// one) the PF_KEY broker installs; policies get [`POLICIES_PER_SA`]
    /// times as many. 0 = sized from memory ([`sa_limit_for_memory`]);
    /// ike-parent resolves 0 before the broker sees it.
    pub sa_limit: u32,
    /// `set half-open-per-source N`: half-open IKE SAs one source address
    /// may hold (a valid cookie admits only within this budget).
    pub half_open_per_source: u32,
    /// `set half-open-per-prefix N`: the same per IPv4 /24 or IPv6 /64.
    pub half_open_per_prefix: u32,
    /// `set initiate-limit N`: IKE SAs we initiate that may be half open
    /// at once (issue 12); the other active policies wait their turn.
    pub initiate_limit: u32,
}

/// `set initiate-limit` unset: as many initiations in flight as a peer of
/// our own kind takes before it demands cookies (`cookie-threshold`), so
/// starting thousands of tunnels costs it no extra round trip.
pub const DEFAULT_INITIATE_LIMIT: u32 = 64;

/// Kernel memory budgeted per installed SA (with its share of policies):
/// Linux's xfrm_state with its algorithms and replay state is about 1 KiB,
/// a policy about 0.5 KiB; 4 KiB leaves room for the BSDs and for growth.
pub const SA_MEMORY_BUDGET: u64 = 4 * 1024;
/// At most this share (1/N) of physical memory goes to IPsec state.
pub const SA_MEMORY_SHARE: u64 = 8;
/// Bounds of the automatic SA limit.
pub const MIN_AUTO_SA_LIMIT: u32 = 16_384;
pub const MAX_AUTO_SA_LIMIT: u32 = 1_048_576;
/// The limit when memory cannot be read (and in the broker when nothing
/// resolved it): enough for 32,768 tunnels with one child each.
pub const FALLBACK_SA_LIMIT: u32 = 65_536;
/// Linux installs in, out and fwd policies for each pair of SAs: 3/2 per SA.
pub const POLICIES_PER_SA: u32 = 2;
/// The largest `set sa-limit`.
pub const MAX_SA_LIMIT: u32 = 16_777_216;

/// The automatic SA limit for `total` bytes of physical memory: an
/// eighth of it at [`SA_MEMORY_BUDGET`] per SA, within
/// [`MIN_AUTO_SA_LIMIT`]..=[`MAX_AUTO_SA_LIMIT`]. 4 GiB gives 131,072.
pub fn sa_limit_for_memory(total: u64) -> u32 {
    let n = total / SA_MEMORY_SHARE / SA_MEMORY_BUDGET;
    n.clamp(u64::from(MIN_AUTO_SA_LIMIT), u64::from(MAX_AUTO_SA_LIMIT)) as u32
}

/// Heap budgeted per half-open IKE SA: 2,927 bytes measured (a responder
/// SA after IKE_SA_INIT with its key exchange, nonces and the cached
/// answer: ike-proto/tests/engine_half_open_memory.rs), rounded up.
pub const HALF_OPEN_MEMORY_BUDGET: u64 = 4 * 1024;
/// At most this share (1/N) of physical memory goes to half-open SAs.
pub const HALF_OPEN_MEMORY_SHARE: u64 = 64;
/// Bounds of the automatic half-open cap.
pub const MIN_AUTO_HALF_OPEN_LIMIT: u32 = 1024;
pub const MAX_AUTO_HALF_OPEN_LIMIT: u32 = 262_144;

/// The automatic half-open cap for `total` bytes of physical memory: a
/// 64th of it at [`HALF_OPEN_MEMORY_BUDGET`] per half-open SA, within
/// [`MIN_AUTO_HALF_OPEN_LIMIT`]..=[`MAX_AUTO_HALF_OPEN_LIMIT`]. 1 GiB
/// gives 4096 (the old fixed default), 4 GiB 16,384.
pub fn half_open_limit_for_memory(total: u64) -> u32 {
    let n = total / HALF_OPEN_MEMORY_SHARE / HALF_OPEN_MEMORY_BUDGET;
    n.clamp(
        u64::from(MIN_AUTO_HALF_OPEN_LIMIT),
        u64::from(MAX_AUTO_HALF_OPEN_LIMIT),
    ) as u32
}

/// Defaults, documented in ike.conf(5).
pub const DEFAULT_DPD_CHECK_INTERVAL: u32 = 60;
/// 20 s: below the UDP timeouts of common NATs (Linux conntrack: 30 s for
/// a flow seen one way, 120 s once answered).
pub const DEFAULT_NATT_KEEPALIVE: u32 = 20;
pub const DEFAULT_COOKIE_THRESHOLD: u32 = 64;
/// The half-open cap when memory cannot be read (and in ike-net when
/// nothing resolved `half_open_limit` 0).
pub const DEFAULT_HALF_OPEN_LIMIT: u32 = 4096;
pub const DEFAULT_HALF_OPEN_PER_SOURCE: u32 = 32;
pub const DEFAULT_HALF_OPEN_PER_PREFIX: u32 = 256;
/// RFC 7296 2.3: one outstanding request unless the peer allows more.
pub const DEFAULT_WINDOW: u32 = 1;
/// The largest `set window`: the engine's own cap
/// (`ike_proto::engine::MAX_WINDOW`, which this crate cannot name; ike-net
/// checks at compile time that the two agree). Each window slot may hold a
/// cached answer, so the cap bounds what a peer can make us keep.
pub const MAX_WINDOW: u32 = 32;

impl Default for Global {
    fn default() -> Self {
        Global {
            mode: GlobalMode::Active,
            dpd_check_interval: DEFAULT_DPD_CHECK_INTERVAL,
            natt_keepalive: DEFAULT_NATT_KEEPALIVE,
            mobike: true,
            sticky_address: false,
            fragmentation: false,
            cookie_threshold: DEFAULT_COOKIE_THRESHOLD,
            half_open_limit: 0,
            window: DEFAULT_WINDOW,
            user: None,
            chroot: None,
            flush_on_start: false,
            delete_on_exit: true,
            sa_limit: 0,
            half_open_per_source: DEFAULT_HALF_OPEN_PER_SOURCE,
            half_open_per_prefix: DEFAULT_HALF_OPEN_PER_PREFIX,
            initiate_limit: DEFAULT_INITIATE_LIMIT,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_automatic_sa_limit_follows_memory_within_bounds() {
        assert_eq!(sa_limit_for_memory(4 << 30), 131_072);
        assert_eq!(sa_limit_for_memory(0), MIN_AUTO_SA_LIMIT);
        assert_eq!(sa_limit_for_memory(u64::MAX), MAX_AUTO_SA_LIMIT);
        assert_ne!(sa_limit_for_memory(512 << 20), 4096);
    }

    #[test]
    fn the_automatic_half_open_cap_follows_memory_within_bounds() {
        assert_eq!(half_open_limit_for_memory(1 << 30), 4096);
        assert_eq!(half_open_limit_for_memory(4 << 30), 16_384);
        assert_eq!(half_open_limit_for_memory(0), MIN_AUTO_HALF_OPEN_LIMIT);
        assert_eq!(
            half_open_limit_for_memory(u64::MAX),
            MAX_AUTO_HALF_OPEN_LIMIT
        );
        // What the cap costs stays within the stated share of memory.
        let total = 8u64 << 30;
        let cap = u64::from(half_open_limit_for_memory(total));
        assert!(cap * HALF_OPEN_MEMORY_BUDGET <= total / HALF_OPEN_MEMORY_SHARE);
    }

    fn sample() -> Config {
        let mut policy = Policy::new("p1");
        policy.auth = Auth::Psk(Secret::new(b"very secret".to_vec()));
        Config {
            global: Global::default(),
            policies: vec![policy],
            local_key: Some(KeyMaterial {
                format: KeyFormat::Pkcs8,
                der: Secret::new(vec![1, 2, 3]),
            }),
            peer_keys: Vec::new(),
            ca_files: vec![CertFile {
                path: "ca/ca.crt".into(),
                ders: vec![b"CA certificate".to_vec()],
            }],
            local_certs: vec![LocalCert {
                id: Identity::Fqdn("a.test".into()),
                file: CertFile {
                    path: "certs/a.test.crt".into(),
                    ders: vec![b"our certificate".to_vec(), b"intermediate".to_vec()],
                },
            }],
        }
    }

    #[test]
    fn postcard_round_trip_keeps_everything() {
        let config = sample();
        let bytes = postcard::to_allocvec(&config).unwrap();
        let back: Config = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, config);
    }

    #[test]
    fn broker_view_has_no_secrets() {
        let view = sample().broker_view();
        assert!(view.local_key.is_none());
        match &view.policies[0].auth {
            Auth::Psk(s) => assert!(s.is_empty()),
            other => panic!("auth changed kind: {other:?}"),
        }
        let bytes = postcard::to_allocvec(&view).unwrap();
        assert!(!bytes.windows(11).any(|w| w == b"very secret"));
    }

    #[test]
    fn broker_view_has_no_certificates() {
        let config = sample();
        let full = postcard::to_allocvec(&config).unwrap();
        assert!(full.windows(14).any(|w| w == b"CA certificate"));
        let view = config.broker_view();
        assert!(view.ca_files.is_empty() && view.local_certs.is_empty());
        let bytes = postcard::to_allocvec(&view).unwrap();
        for needle in [&b"CA certificate"[..], b"our certificate", b"intermediate"] {
            assert!(!bytes.windows(needle.len()).any(|w| w == needle));
        }
        // The policies themselves are what the broker needs, unchanged.
        assert_eq!(view.policies.len(), config.policies.len());
        assert_eq!(view.policies[0].name, config.policies[0].name);
    }

    #[test]
    fn debug_output_redacts_secrets() {
        let text = format!("{:?}", sample());
        assert!(!text.contains("very secret"));
        assert!(!text.contains("118, 101, 114")); // "ver" as a byte list
        assert!(text.contains("redacted"));
    }

    #[test]
    fn truncated_bytes_are_an_error_not_a_panic() {
        let bytes = postcard::to_allocvec(&sample()).unwrap();
        for len in 0..bytes.len() {
            assert!(postcard::from_bytes::<Config>(&bytes[..len]).is_err());
        }
    }
}
