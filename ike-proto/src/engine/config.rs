//! The engine's configuration: what to negotiate with whom.
//!
//! This is deliberately independent of the configuration file: the parent
//! parses the file into its own serde model and the network worker converts
//! that into these plain values. Nothing here is read from the network.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::crypto::x509::{self, CertIdentity, TrustStore};
use crate::crypto::VerifyingKey;
use crate::wire::consts::{DhGroup, EncrId, IdType, IntegId, PrfId};

use super::auth::credentials::{Credentials, KeyStore};
use super::ts::TrafficSelector;

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

/// ESP encapsulation mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Tunnel mode (the default of RFC 7296).
    Tunnel,
    /// Transport mode, asked for with USE_TRANSPORT_MODE (RFC 7296 1.3.1).
    Transport,
}

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

/// Lifetimes of an SA (IKE or child).
#[derive(Clone, Copy, Debug)]
pub struct Lifetime {
    /// Start the rekey this long after creation ...
    pub rekey: Duration,
    /// ... minus a random jitter up to this much (so both peers do not
    /// rekey at the same instant, RFC 7296 2.8.1) ...
    pub jitter: Duration,
    /// ... and delete the SA at this age if it was not replaced.
    pub hard: Duration,
}

impl Lifetime {
    /// Defaults in the range most implementations use.
    pub const IKE_DEFAULT: Lifetime = Lifetime {
        rekey: Duration::from_secs(4 * 3600),
        jitter: Duration::from_secs(360),
        hard: Duration::from_secs(4 * 3600 + 600),
    };
    /// Defaults for CHILD_SAs.
    pub const CHILD_DEFAULT: Lifetime = Lifetime {
        rekey: Duration::from_secs(3600),
        jitter: Duration::from_secs(180),
        hard: Duration::from_secs(3600 + 300),
    };
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
    pub mode: Mode,
    /// IKE SA lifetime.
    pub ike_lifetime: Lifetime,
    /// CHILD_SA lifetime.
    pub child_lifetime: Lifetime,
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
            local_auth: LocalAuth::Psk,
            local_certs: Vec::new(),
            peer_auth: PeerAuth::Psk,
            local_ts: vec![TrafficSelector::host(local)],
            peer_ts: vec![TrafficSelector::host(peer)],
            mode: Mode::Tunnel,
            ike_lifetime: Lifetime::IKE_DEFAULT,
            child_lifetime: Lifetime::CHILD_DEFAULT,
            dpd_interval: Some(Duration::from_secs(30)),
            start: StartAction::Active,
            fragmentation: true,
            childless: false,
            initial_contact: true,
            trap: false,
            natt_keepalive: Some(Duration::from_secs(20)),
            force_natt: false,
            mobike: true,
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
}
