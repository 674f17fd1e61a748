//! The engine's configuration: what to negotiate with whom.
//!
//! The parent parses the file into the configuration model
//! (`ike_ipc::config`, DESIGN.md 3 "Configuration model"); the engine takes
//! its values: the encapsulation mode is the model's type, and proposals,
//! identities and flows convert here, where the names meet the IANA numbers
//! the engine negotiates with (the engine also negotiates transforms the
//! file cannot name, so it keeps numbers). Nothing here is read from the
//! network.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::crypto::x509::{self, CertIdentity, TrustStore};
use crate::crypto::VerifyingKey;
use crate::wire::consts::{DhGroup, EncrId, IdType, IntegId, PrfId};

use super::auth::credentials::{Credentials, KeyStore};
use super::ts::TrafficSelector;
use ike_ipc::config as cfg;

/// Engine-wide settings and the list of policies. No secret is here: PSKs
/// and private keys stay behind `credentials` (issue 16).
#[derive(Clone, Debug)]
pub struct Config {
    /// One entry per configured connection.
    pub policies: Vec<Arc<Policy>>,
    /// From this many half-open IKE SAs on, an IKE_SA_INIT must carry a
    /// valid cookie (RFC 7296 2.6). 0 demands cookies always.
    pub cookie_threshold: usize,
    /// Hard cap on half-open IKE SAs. When reached, a newcomer from a
    /// lighter source prefix evicts the oldest half-open SA of the heaviest
    /// prefix; one from the heaviest is dropped (see `admission.rs`).
    pub max_half_open: usize,
    /// Most half-open IKE SAs one source address may hold (a valid cookie
    /// admits only within this budget).
    pub max_half_open_per_source: usize,
    /// Most half-open IKE SAs one source prefix (IPv4 /24, IPv6 /64) may hold.
    pub max_half_open_per_prefix: usize,
    /// How long a half-open (responder) IKE SA may wait for IKE_AUTH.
    pub half_open_timeout: Duration,
    /// How often the cookie secret rotates.
    pub cookie_rotation: Duration,
    /// Retransmission schedule for our requests.
    pub retransmit: Retransmit,
    /// IKE messages larger than this (UDP payload bytes) are sent as RFC 7383
    /// fragments when the peer supports it.
    pub fragment_mtu: usize,
    /// Reassembly bounds (RFC 7383 2.6.1): at most this many fragments ...
    pub max_fragments: u16,
    /// ... and this many bytes of fragment data per message ...
    pub max_reassembly_bytes: usize,
    /// ... and this many over all partial messages of one IKE SA (with a
    /// window above one, several fragmented messages may arrive at once).
    pub max_reassembly_total: usize,
    /// The NAT-T port (RFC 3948): messages there carry the non-ESP marker.
    pub natt_port: u16,
    /// Most CHILD_SAs one IKE SA may carry; a peer asking for more gets
    /// NO_ADDITIONAL_SAS (each child costs kernel state).
    pub max_children: usize,
    /// Message window (RFC 7296 2.3): requests the peer may have
    /// outstanding with us, announced with SET_WINDOW_SIZE when above one,
    /// and the most we keep outstanding with it. Capped at
    /// [`MAX_WINDOW`](super::MAX_WINDOW): each slot may hold a cached answer.
    pub window: u32,
    /// How long the kernel may take to confirm a CHILD_SA's SAs. Past it
    /// the install counts as refused: the answer waiting for it goes out
    /// as an error, the initiator deletes the child (issue 12).
    pub kernel_timeout: Duration,
    /// Who computes and checks the AUTH values that need our secrets: the
    /// credential process in the daemon, a [`KeyStore`] in tests and tools.
    pub credentials: Arc<dyn Credentials>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            policies: Vec::new(),
            cookie_threshold: 64,
            max_half_open: 4096,
            max_half_open_per_source: 32,
            max_half_open_per_prefix: 256,
            half_open_timeout: Duration::from_secs(30),
            cookie_rotation: Duration::from_secs(120),
            retransmit: Retransmit::default(),
            fragment_mtu: 1280,
            max_fragments: 32,
            max_reassembly_bytes: 64 * 1024,
            max_reassembly_total: 128 * 1024,
            natt_port: 4500,
            max_children: 64,
            window: 1,
            kernel_timeout: Duration::from_secs(10),
            credentials: Arc::new(KeyStore::new()),
        }
    }
}

/// Retransmission with exponential back-off (RFC 7296 2.1, 2.4).
#[derive(Clone, Copy, Debug)]
pub struct Retransmit {
    /// Wait before the first retransmission.
    pub initial: Duration,
    /// Upper bound on one wait.
    pub max_interval: Duration,
    /// Retransmissions before giving up on the peer (the SA is then deleted).
    pub tries: u32,
}

impl Default for Retransmit {
    fn default() -> Self {
        Retransmit {
            initial: Duration::from_secs(1),
            max_interval: Duration::from_secs(32),
            tries: 6,
        }
    }
}

/// Who starts the IKE SA of a policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartAction {
    /// Only answer the peer.
    Passive,
    /// Initiate when the kernel reports traffic (ACQUIRE) or on command.
    OnDemand,
    /// Initiate as soon as the engine is told to start (and on command).
    Active,
}

/// ESP encapsulation mode: the configuration model's type.
pub use ike_ipc::config::Encapsulation;

/// An identity as carried in IDi/IDr (RFC 7296 3.5): type and data bytes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Identity {
    /// ID type (ID_FQDN, ID_IPV4_ADDR, ...).
    pub kind: IdType,
    /// The identification data, exactly as on the wire.
    pub data: Vec<u8>,
}

impl Identity {
    /// An ID_FQDN identity.
    pub fn fqdn(name: &str) -> Self {
        Identity {
            kind: IdType::FQDN,
            data: name.as_bytes().to_vec(),
        }
    }

    /// An ID_RFC822_ADDR identity.
    pub fn email(addr: &str) -> Self {
        Identity {
            kind: IdType::RFC822_ADDR,
            data: addr.as_bytes().to_vec(),
        }
    }

    /// An ID_IPV4_ADDR or ID_IPV6_ADDR identity.
    pub fn addr(a: IpAddr) -> Self {
        match a {
            IpAddr::V4(v) => Identity {
                kind: IdType::IPV4_ADDR,
                data: v.octets().to_vec(),
            },
            IpAddr::V6(v) => Identity {
                kind: IdType::IPV6_ADDR,
                data: v.octets().to_vec(),
            },
        }
    }

    /// An ID_DER_ASN1_DN identity from the DER encoding of a Name (the
    /// SEQUENCE, as in a certificate's subject).
    pub fn dn(der: &[u8]) -> Self {
        Identity {
            kind: IdType::DER_ASN1_DN,
            data: der.to_vec(),
        }
    }

    /// What a certificate must name for this identity (RFC 4945 3.1).
    pub fn cert_identity(&self) -> CertIdentity<'_> {
        match self.kind {
            IdType::FQDN => CertIdentity::Fqdn(&self.data),
            IdType::RFC822_ADDR => CertIdentity::Email(&self.data),
            IdType::DER_ASN1_DN => CertIdentity::Dn(&self.data),
            IdType::IPV4_ADDR => <[u8; 4]>::try_from(self.data.as_slice())
                .map(|a| CertIdentity::Ip(IpAddr::from(a)))
                .unwrap_or(CertIdentity::Other),
            IdType::IPV6_ADDR => <[u8; 16]>::try_from(self.data.as_slice())
                .map(|a| CertIdentity::Ip(IpAddr::from(a)))
                .unwrap_or(CertIdentity::Other),
            _ => CertIdentity::Other,
        }
    }
}

/// How we prove our identity. Only public parts: the PSK or private key
/// is the credentials' (`Config::credentials`), found by the policy name.
#[derive(Clone, Debug)]
pub enum LocalAuth {
    /// Shared key message integrity code (RFC 7296 2.15).
    Psk,
    /// RFC 7427 digital signature (auth method 14) with our private key,
    /// whose public half this is (it decides the scheme). RSA keys sign
    /// sha256WithRSAEncryption and need a peer that announced
    /// SIGNATURE_HASH_ALGORITHMS (ring cannot make method 1's SHA-1
    /// signatures).
    Signature(Arc<VerifyingKey>),
    /// RFC 4754 ECDSA: auth method 9 with a P-256 key, 10 with a P-384 key.
    /// Other keys are refused by [`Policy::check_auth`].
    Rfc4754(Arc<VerifyingKey>),
}

impl LocalAuth {
    /// The public half of our private key, for the public-key methods.
    pub fn public_key(&self) -> Option<&VerifyingKey> {
        match self {
            LocalAuth::Psk => None,
            LocalAuth::Signature(k) | LocalAuth::Rfc4754(k) => Some(k),
        }
    }
}

/// How the peer must prove its identity.
#[derive(Clone, Debug)]
pub enum PeerAuth {
    /// Shared key MIC with the policy's PSK (checked by the credentials).
    Psk,
    /// A signature verifiable with this raw public key, by any public-key
    /// method that fits the key: 14 (RFC 7427), 9/10 (RFC 4754), 1 (RSA).
    Signature(Arc<VerifyingKey>),
    /// The peer sends an X.509 certificate chaining to one of these trust
    /// anchors and naming `peer_id` (RFC 4945); its key then verifies AUTH
    /// by the same methods as `Signature`. We send CERTREQ for them.
    Certificate(Arc<TrustStore>),
}

/// An encryption transform with its key length in bits (Key Length attribute;
/// `None` for fixed-length ciphers such as ChaCha20-Poly1305).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Encr {
    /// Transform ID.
    pub id: EncrId,
    /// Key length in bits, sent as the Key Length attribute.
    pub key_bits: Option<u16>,
}

/// One IKE SA proposal: every combination of the listed transforms is
/// acceptable. AEAD ciphers take an empty `integ`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IkeProposal {
    pub encr: Vec<Encr>,
    pub prf: Vec<PrfId>,
    pub integ: Vec<IntegId>,
    pub dh: Vec<DhGroup>,
}

/// One CHILD_SA (ESP) proposal. `dh` lists the PFS groups; empty means no
/// PFS (then no KE payload in CREATE_CHILD_SA).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChildProposal {
    pub encr: Vec<Encr>,
    pub integ: Vec<IntegId>,
    pub dh: Vec<DhGroup>,
    /// Offer/accept extended sequence numbers.
    pub esn: bool,
}

/// When an SA (IKE or child) is rekeyed and when it dies: the schedule the
/// engine runs, derived from the configured hard limit
/// ([`RekeySchedule::from_hard_limit`]; the file's own `Lifetime` in
/// `ike_ipc::config` is that limit, in seconds and bytes).
#[derive(Clone, Copy, Debug)]
pub struct RekeySchedule {
    /// Start the rekey this long after creation ...
    pub rekey: Duration,
    /// ... minus a random jitter up to this much (so both peers do not
    /// rekey at the same instant, RFC 7296 2.8.1) ...
    pub jitter: Duration,
    /// ... and delete the SA at this age if it was not replaced.
    pub hard: Duration,
}

impl RekeySchedule {
    /// Defaults in the range most implementations use.
    pub const IKE_DEFAULT: RekeySchedule = RekeySchedule {
        rekey: Duration::from_secs(4 * 3600),
        jitter: Duration::from_secs(360),
        hard: Duration::from_secs(4 * 3600 + 600),
    };
    /// Defaults for CHILD_SAs.
    pub const CHILD_DEFAULT: RekeySchedule = RekeySchedule {
        rekey: Duration::from_secs(3600),
        jitter: Duration::from_secs(180),
        hard: Duration::from_secs(3600 + 300),
    };

    /// The configured seconds are the hard limit (iked.conf(5) `lifetime`,
    /// `ikelifetime`); the rekey starts at 90 % minus up to 5 % jitter, so
    /// the replacement is in place well before the kernel drops the old SA.
    pub fn from_hard_limit(seconds: u64) -> RekeySchedule {
        let hard = Duration::from_secs(seconds.max(1));
        RekeySchedule {
            rekey: hard.mul_f64(0.9),
            jitter: hard.mul_f64(0.05),
            hard,
        }
    }
}

/// One connection: peer, algorithms, identities, authentication, selectors.
#[derive(Clone, Debug)]
pub struct Policy {
    /// Name used by commands, events and logs.
    pub name: String,
    /// Our address; `None` accepts any local address (responder only).
    pub local_addr: Option<IpAddr>,
    /// The peer's address; `None` accepts any peer (responder only).
    pub peer_addr: Option<IpAddr>,
    /// UDP port of the peer (500 unless configured otherwise).
    pub peer_port: u16,
    /// Our UDP port for IKE (500).
    pub local_port: u16,
    /// IKE proposals, in order of preference.
    pub ike_proposals: Vec<IkeProposal>,
    /// CHILD_SA proposals, in order of preference.
    pub child_proposals: Vec<ChildProposal>,
    /// Our identity (IDi or IDr).
    pub local_id: Identity,
    /// The identity the peer must present.
    pub peer_id: Identity,
    /// Responder: accept any identity the peer authenticates (iked's
    /// policy without `dstid`); `peer_id` is then not compared. The AUTH
    /// check still applies: PSK, or a certificate naming the identity the
    /// peer sent and chaining to our CAs.
    pub any_peer_id: bool,
    /// How we authenticate.
    pub local_auth: LocalAuth,
    /// Our certificate chain as DER, end entity first, then intermediates:
    /// sent as CERT payloads (RFC 7296 3.6) in IKE_AUTH. Empty: no CERT.
    /// The end entity must hold the key of `local_auth` and name
    /// `local_id` ([`Policy::check_auth`]).
    pub local_certs: Vec<Vec<u8>>,
    /// How the peer must authenticate.
    pub peer_auth: PeerAuth,
    /// Our side of the traffic selectors (TSi when initiating).
    pub local_ts: Vec<TrafficSelector>,
    /// The peer's side of the traffic selectors.
    pub peer_ts: Vec<TrafficSelector>,
    /// Tunnel or transport.
    pub mode: Encapsulation,
    /// IKE SA lifetime.
    pub ike_lifetime: RekeySchedule,
    /// CHILD_SA lifetime.
    pub child_lifetime: RekeySchedule,
    /// Liveness check after this much silence from the peer (`None`: off).
    pub dpd_interval: Option<Duration>,
    /// Who starts.
    pub start: StartAction,
    /// Offer and use RFC 7383 fragmentation.
    pub fragmentation: bool,
    /// Create the IKE SA without a CHILD_SA (RFC 6023) when initiating; as
    /// responder, always accept a childless IKE_AUTH if the peer offered it.
    pub childless: bool,
    /// Send INITIAL_CONTACT in our first IKE_AUTH, and honour the peer's.
    pub initial_contact: bool,
    /// Install the policy's selectors in the kernel at start and keep them
    /// while no CHILD_SA exists, so that traffic is held back (fail closed)
    /// and triggers ACQUIRE instead of leaving in clear. Without it the
    /// kernel policies come and go with the CHILD_SAs.
    pub trap: bool,
    /// NAT keepalive interval (RFC 3948 2.3) while our own address is
    /// behind a NAT (`None`: never).
    pub natt_keepalive: Option<Duration>,
    /// UDP-encapsulate (port 4500, ESP in UDP) even without a NAT: we make
    /// the peer detect one (iked's `natt`).
    pub force_natt: bool,
    /// Offer and accept MOBIKE (RFC 4555; `set mobike`, the default).
    pub mobike: bool,
    /// Configuration payload: pools and servers we hand out, or the
    /// address we ask for (RFC 7296 3.15; default: none).
    pub cp: super::cp::CpPolicy,
}

impl Policy {
    /// A policy with the library's defaults: PSK (the key itself goes into
    /// the credentials under `name`), AES-256-GCM, X25519, tunnel mode,
    /// active start. Tests and examples refine it field by field.
    pub fn new(name: &str, local: IpAddr, peer: IpAddr) -> Self {
        Policy {
            name: name.to_string(),
            local_addr: Some(local),
            peer_addr: Some(peer),
            peer_port: 500,
            local_port: 500,
            ike_proposals: vec![IkeProposal {
                encr: vec![Encr {
                    id: EncrId::AES_GCM_16,
                    key_bits: Some(256),
                }],
                prf: vec![PrfId::HMAC_SHA2_256],
                integ: vec![],
                dh: vec![DhGroup::CURVE25519],
            }],
            child_proposals: vec![ChildProposal {
                encr: vec![Encr {
                    id: EncrId::AES_GCM_16,
                    key_bits: Some(256),
                }],
                integ: vec![],
                dh: vec![],
                esn: false,
            }],
            local_id: Identity::addr(local),
            peer_id: Identity::addr(peer),
            any_peer_id: false,
            local_auth: LocalAuth::Psk,
            local_certs: Vec::new(),
            peer_auth: PeerAuth::Psk,
            local_ts: vec![TrafficSelector::host(local)],
            peer_ts: vec![TrafficSelector::host(peer)],
            mode: Encapsulation::Tunnel,
            ike_lifetime: RekeySchedule::IKE_DEFAULT,
            child_lifetime: RekeySchedule::CHILD_DEFAULT,
            dpd_interval: Some(Duration::from_secs(30)),
            start: StartAction::Active,
            fragmentation: true,
            childless: false,
            initial_contact: true,
            trap: false,
            natt_keepalive: Some(Duration::from_secs(20)),
            force_natt: false,
            mobike: true,
            cp: Default::default(),
        }
    }
}

impl Policy {
    /// Checks what the engine cannot decide later without failing a
    /// negotiation: an RFC 4754 key is ECDSA P-256 or P-384; a peer
    /// authenticated by certificate has an ID type a certificate can name;
    /// our certificate (if any) goes with a private key, holds that key and
    /// names `local_id`. Call it when loading the configuration.
    pub fn check_auth(&self) -> Result<(), String> {
        if let LocalAuth::Rfc4754(k) = &self.local_auth {
            if k.rfc4754_method().is_none() {
                return Err(format!(
                    "policy {}: RFC 4754 (ecdsa256/ecdsa384) needs an ECDSA P-256 or P-384 key, not {:?}",
                    self.name,
                    k.scheme()
                ));
            }
        }
        if matches!(self.peer_auth, PeerAuth::Certificate(_))
            && !self.any_peer_id
            && self.peer_id.cert_identity() == CertIdentity::Other
        {
            return Err(format!(
                "policy {}: the peer's identity type {} cannot be checked against a certificate",
                self.name, self.peer_id.kind
            ));
        }
        if self.local_certs.is_empty() {
            return Ok(());
        }
        let Some(key) = self.local_auth.public_key() else {
            return Err(format!(
                "policy {}: a certificate needs public-key authentication, not a PSK",
                self.name
            ));
        };
        x509::check_own_certificate(&self.local_certs, key, &self.local_id.cert_identity())
            .map_err(|e| format!("policy {}: our certificate: {e}", self.name))
    }
}

// From the configuration model. The names' IANA numbers are defined once,
// in `ike_ipc::config::algorithms` (`transform_id`, and `from_transform*`
// back); these only carry them over.

impl From<cfg::Encryption> for Encr {
    fn from(e: cfg::Encryption) -> Encr {
        Encr {
            id: EncrId(e.transform_id()),
            key_bits: e.key_bits(),
        }
    }
}

fn integ_ids(list: &[cfg::Integrity]) -> Vec<IntegId> {
    list.iter().map(|x| IntegId(x.transform_id())).collect()
}

fn dh_ids(list: &[cfg::DhGroup]) -> Vec<DhGroup> {
    list.iter().map(|x| DhGroup(x.transform_id())).collect()
}

impl From<&cfg::IkeProposal> for IkeProposal {
    fn from(p: &cfg::IkeProposal) -> IkeProposal {
        IkeProposal {
            encr: p.encryption.iter().copied().map(Encr::from).collect(),
            prf: p.prf.iter().map(|x| PrfId(x.transform_id())).collect(),
            integ: integ_ids(&p.integrity),
            dh: dh_ids(&p.groups),
        }
    }
}

impl From<&cfg::ChildProposal> for ChildProposal {
    /// ESN is offered when the file lists `esn` at all: the engine offers
    /// both with and without then, as the peer chooses.
    fn from(p: &cfg::ChildProposal) -> ChildProposal {
        ChildProposal {
            encr: p.encryption.iter().copied().map(Encr::from).collect(),
            integ: integ_ids(&p.integrity),
            dh: dh_ids(&p.groups),
            esn: p.esn.contains(&cfg::Esn::Extended),
        }
    }
}

impl From<&cfg::Identity> for Identity {
    /// The file's identities are a subset of the wire's (no DN): type and
    /// data come from the model's own `id_type`/`data`.
    fn from(id: &cfg::Identity) -> Identity {
        Identity {
            kind: IdType(id.id_type()),
            data: id.data(),
        }
    }
}

impl TrafficSelector {
    /// One side of a configured flow (`from NET port P` or `to NET port P`,
    /// with the flow's protocol) as a selector: the prefix as an address
    /// range, any port unless one is given.
    pub fn from_flow_side(net: &cfg::IpNet, proto: Option<u8>, port: Option<u16>) -> Self {
        let (start, end) = net.range();
        let mut ts = TrafficSelector::range(start, end);
        ts.protocol = proto.unwrap_or(0);
        if let Some(p) = port {
            ts.start_port = p;
            ts.end_port = p;
        }
        ts
    }
}

/// A policy address matches if it is unset (any) or equal.
pub(crate) fn addr_matches(configured: Option<IpAddr>, actual: IpAddr) -> bool {
    configured.is_none() || configured == Some(actual)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_hold_no_secret_and_addresses_match() {
        let p = Policy::new(
            "x",
            "192.0.2.1".parse().unwrap(),
            "192.0.2.2".parse().unwrap(),
        );
        assert!(matches!(
            (&p.local_auth, &p.peer_auth),
            (LocalAuth::Psk, PeerAuth::Psk)
        ));
        let store = KeyStore::new().with_psk("x", b"hunter2-secret");
        let shown = format!("{store:?}");
        assert!(shown.contains("redacted"));
        assert!(!shown.contains("hunter2"));
        assert!(addr_matches(None, "192.0.2.9".parse().unwrap()));
        assert!(addr_matches(p.local_addr, "192.0.2.1".parse().unwrap()));
        assert!(!addr_matches(p.local_addr, "192.0.2.2".parse().unwrap()));
    }

    #[test]
    fn configured_names_become_the_engines_numbers() {
        let e = Encr::from(cfg::Encryption::Aes256Gcm16);
        assert_eq!((e.id, e.key_bits), (EncrId::AES_GCM_16, Some(256)));
        let e = Encr::from(cfg::Encryption::Aes128Cbc);
        assert_eq!((e.id, e.key_bits), (EncrId::AES_CBC, Some(128)));
        // ... and back, for the broker requests and `ike-ctl show`.
        assert_eq!(
            cfg::Encryption::from_transform(EncrId::AES_CBC.0, Some(128)),
            Some(cfg::Encryption::Aes128Cbc)
        );
        assert_eq!(
            cfg::Integrity::from_transform_id(IntegId(12).0),
            Some(cfg::Integrity::HmacSha2_256)
        );
        let ike = IkeProposal::from(&cfg::IkeProposal {
            encryption: vec![cfg::Encryption::Aes256Gcm16],
            prf: vec![cfg::Prf::HmacSha2_256],
            integrity: vec![],
            groups: vec![cfg::DhGroup::Curve25519],
        });
        assert_eq!(ike.prf, vec![PrfId::HMAC_SHA2_256]);
        assert_eq!(ike.dh, vec![DhGroup::CURVE25519]);
        let child = ChildProposal::from(&cfg::ChildProposal {
            encryption: vec![cfg::Encryption::Aes128Cbc],
            integrity: vec![cfg::Integrity::HmacSha2_256],
            groups: vec![],
            esn: vec![cfg::Esn::None, cfg::Esn::Extended],
        });
        assert_eq!(child.integ, vec![IntegId(12)]);
        assert!(child.esn);
        assert_eq!(
            Identity::from(&cfg::Identity::Fqdn("a.test".into())),
            Identity::fqdn("a.test")
        );
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(
            Identity::from(&cfg::Identity::Ipv4("192.0.2.7".parse().unwrap())),
            Identity::addr(v4)
        );
    }

    #[test]
    fn a_flow_side_is_a_range_with_its_protocol_and_port() {
        let net = cfg::IpNet::new("10.1.0.0".parse().unwrap(), 16).unwrap();
        let ts = TrafficSelector::from_flow_side(&net, Some(6), Some(443));
        assert_eq!(ts.start, "10.1.0.0".parse::<IpAddr>().unwrap());
        assert_eq!(ts.end, "10.1.255.255".parse::<IpAddr>().unwrap());
        assert_eq!((ts.protocol, ts.start_port, ts.end_port), (6, 443, 443));
        let any = TrafficSelector::from_flow_side(&net, None, None);
        assert_eq!(
            (any.protocol, any.start_port, any.end_port),
            (0, 0, u16::MAX)
        );
    }

    #[test]
    fn the_schedule_rekeys_before_the_hard_limit() {
        let l = RekeySchedule::from_hard_limit(3600);
        assert_eq!(l.hard, Duration::from_secs(3600));
        assert!(l.rekey + l.jitter < l.hard);
        assert!(l.rekey > l.jitter);
        // A configured 0 is never "no limit".
        assert_eq!(
            RekeySchedule::from_hard_limit(0).hard,
            Duration::from_secs(1)
        );
    }
}
