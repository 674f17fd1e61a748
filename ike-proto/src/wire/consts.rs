//! IANA numbers of IKEv2, as small newtypes with named constants.
//!
//! Source: the IANA registry "Internet Key Exchange Version 2 (IKEv2)
//! Parameters" and the RFCs named beside each group. A value without a name
//! here is still representable (`ExchangeType(99)`): decoders keep unknown
//! numbers and let the engine decide, as RFC 7296 asks for most fields.

use core::fmt;

/// Defines a newtype over an integer with named constants, a `name()` lookup
/// for the dumper, and `Debug`/`Display` that show the name when known.
macro_rules! iana_enum {
    (
        $(#[$meta:meta])*
        $name:ident($int:ty) {
            $( $(#[$cmeta:meta])* $konst:ident = $value:expr, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(pub $int);

        impl $name {
            $( $(#[$cmeta])* pub const $konst: $name = $name($value); )*

            /// The IANA name of this value, if this crate knows it.
            pub fn name(self) -> Option<&'static str> {
                #[allow(unreachable_patterns)]
                match self.0 {
                    $( $value => Some(stringify!($konst)), )*
                    _ => None,
                }
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.name() {
                    Some(n) => write!(f, "{}({})", n, self.0),
                    None => write!(f, "{}({})", stringify!($name), self.0),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.name() {
                    Some(n) => f.write_str(n),
                    None => write!(f, "{}", self.0),
                }
            }
        }

        impl From<$int> for $name {
            fn from(v: $int) -> Self {
                $name(v)
            }
        }

        impl From<$name> for $int {
            fn from(v: $name) -> Self {
                v.0
            }
        }
    };
}

iana_enum! {
    /// Exchange Type of the IKE header (RFC 7296 3.1).
    ExchangeType(u8) {
        IKE_SA_INIT = 34,
        IKE_AUTH = 35,
        CREATE_CHILD_SA = 36,
        INFORMATIONAL = 37,
        /// RFC 5723
        IKE_SESSION_RESUME = 38,
        /// RFC 9838 (G-IKEv2)
        GSA_AUTH = 39,
        GSA_REGISTRATION = 40,
        GSA_REKEY = 41,
        /// RFC 9242
        IKE_INTERMEDIATE = 43,
        /// RFC 9370
        IKE_FOLLOWUP_KE = 44,
    }
}

iana_enum! {
    /// Payload type, as found in Next Payload fields (RFC 7296 3.2).
    PayloadType(u8) {
        /// End of the payload chain.
        NONE = 0,
        SA = 33,
        KE = 34,
        IDI = 35,
        IDR = 36,
        CERT = 37,
        CERTREQ = 38,
        AUTH = 39,
        NONCE = 40,
        NOTIFY = 41,
        DELETE = 42,
        VENDOR_ID = 43,
        TSI = 44,
        TSR = 45,
        /// Encrypted and Authenticated (RFC 7296 3.14).
        SK = 46,
        CP = 47,
        EAP = 48,
        /// RFC 6467
        GSPM = 49,
        /// G-IKEv2 (RFC 9838): parsed as unknown payloads.
        IDG = 50,
        GSA = 51,
        KD = 52,
        /// Encrypted and Authenticated Fragment (RFC 7383 2.5).
        SKF = 53,
        /// Puzzle Solution (RFC 8019)
        PS = 54,
    }
}

iana_enum! {
    /// Transform Type of a transform substructure (RFC 7296 3.3.2).
    TransformType(u8) {
        ENCR = 1,
        PRF = 2,
        INTEG = 3,
        /// "Diffie-Hellman group", renamed "Key Exchange Method" by RFC 9370.
        KE = 4,
        /// Extended Sequence Numbers; renamed "Sequence Numbers" by RFC 9827.
        ESN = 5,
        /// RFC 9370 additional key exchanges 1..7.
        ADDKE1 = 6,
        ADDKE2 = 7,
        ADDKE3 = 8,
        ADDKE4 = 9,
        ADDKE5 = 10,
        ADDKE6 = 11,
        ADDKE7 = 12,
    }
}

impl TransformType {
    /// RFC 7296 kept the name "D-H"; RFC 9370 calls it KE. Same number.
    pub const DH: TransformType = TransformType::KE;
}

iana_enum! {
    /// Transform IDs for transform type 1, ENCR (RFC 7296 3.3.2).
    EncrId(u16) {
        DES_IV64 = 1,
        DES = 2,
        TRIPLE_DES = 3,
        RC5 = 4,
        IDEA = 5,
        CAST = 6,
        BLOWFISH = 7,
        TRIPLE_IDEA = 8,
        DES_IV32 = 9,
        NULL = 11,
        AES_CBC = 12,
        /// RFC 5930
        AES_CTR = 13,
        /// RFC 5282 AEAD modes: 8, 12, 16 byte ICV.
        AES_CCM_8 = 14,
        AES_CCM_12 = 15,
        AES_CCM_16 = 16,
        AES_GCM_8 = 18,
        AES_GCM_12 = 19,
        AES_GCM_16 = 20,
        NULL_AUTH_AES_GMAC = 21,
        CAMELLIA_CBC = 23,
        CAMELLIA_CTR = 24,
        CAMELLIA_CCM_8 = 25,
        CAMELLIA_CCM_12 = 26,
        CAMELLIA_CCM_16 = 27,
        /// RFC 7634
        CHACHA20_POLY1305 = 28,
    }
}

iana_enum! {
    /// Transform IDs for transform type 2, PRF (RFC 7296 3.3.2).
    PrfId(u16) {
        HMAC_MD5 = 1,
        HMAC_SHA1 = 2,
        HMAC_TIGER = 3,
        AES128_XCBC = 4,
        /// RFC 4868
        HMAC_SHA2_256 = 5,
        HMAC_SHA2_384 = 6,
        HMAC_SHA2_512 = 7,
        /// RFC 4615
        AES128_CMAC = 8,
    }
}

iana_enum! {
    /// Transform IDs for transform type 3, INTEG (RFC 7296 3.3.2).
    IntegId(u16) {
        NONE = 0,
        HMAC_MD5_96 = 1,
        HMAC_SHA1_96 = 2,
        DES_MAC = 3,
        KPDK_MD5 = 4,
        AES_XCBC_96 = 5,
        HMAC_MD5_128 = 6,
        HMAC_SHA1_160 = 7,
        AES_CMAC_96 = 8,
        AES_128_GMAC = 9,
        AES_192_GMAC = 10,
        AES_256_GMAC = 11,
        /// RFC 4868
        HMAC_SHA2_256_128 = 12,
        HMAC_SHA2_384_192 = 13,
        HMAC_SHA2_512_256 = 14,
    }
}

iana_enum! {
    /// Transform IDs for transform type 4, Key Exchange Method / D-H group
    /// (RFC 7296 3.3.2, RFC 3526, RFC 5903, RFC 8031, RFC 9370).
    DhGroup(u16) {
        NONE = 0,
        MODP_768 = 1,
        MODP_1024 = 2,
        MODP_1536 = 5,
        MODP_2048 = 14,
        MODP_3072 = 15,
        MODP_4096 = 16,
        MODP_6144 = 17,
        MODP_8192 = 18,
        ECP_256 = 19,
        ECP_384 = 20,
        ECP_521 = 21,
        MODP_1024_160 = 22,
        MODP_2048_224 = 23,
        MODP_2048_256 = 24,
        ECP_192 = 25,
        ECP_224 = 26,
        BRAINPOOL_P224 = 27,
        BRAINPOOL_P256 = 28,
        BRAINPOOL_P384 = 29,
        BRAINPOOL_P512 = 30,
        /// RFC 8031
        CURVE25519 = 31,
        CURVE448 = 32,
        /// draft-ietf-ipsecme-ikev2-mlkem (IANA early allocation)
        ML_KEM_512 = 35,
        ML_KEM_768 = 36,
        ML_KEM_1024 = 37,
    }
}

iana_enum! {
    /// Transform IDs for transform type 5, Extended Sequence Numbers.
    EsnId(u16) {
        NO_ESN = 0,
        ESN = 1,
    }
}

iana_enum! {
    /// Transform attribute types (RFC 7296 3.3.5).
    AttributeType(u16) {
        /// The only attribute of RFC 7296; always in TV form.
        KEY_LENGTH = 14,
    }
}

iana_enum! {
    /// Security Protocol ID (RFC 7296 3.3.1).
    ProtocolId(u8) {
        /// Used in Notify payloads that concern no SA.
        NONE = 0,
        IKE = 1,
        AH = 2,
        ESP = 3,
        /// RFC 9838 (G-IKEv2)
        FC_ESP_HEADER = 4,
        FC_CT_AUTHENTICATION = 5,
        GIKE_UPDATE = 6,
    }
}

iana_enum! {
    /// Identification type (RFC 7296 3.5).
    IdType(u8) {
        IPV4_ADDR = 1,
        FQDN = 2,
        RFC822_ADDR = 3,
        IPV6_ADDR = 5,
        DER_ASN1_DN = 9,
        DER_ASN1_GN = 10,
        KEY_ID = 11,
        /// RFC 4595
        FC_NAME = 12,
        /// RFC 7619
        NULL = 13,
    }
}

iana_enum! {
    /// Certificate encoding of CERT and CERTREQ (RFC 7296 3.6, RFC 7670).
    CertEncoding(u8) {
        PKCS7_X509 = 1,
        PGP = 2,
        DNS_SIGNED_KEY = 3,
        X509_SIGNATURE = 4,
        KERBEROS_TOKEN = 6,
        CRL = 7,
        ARL = 8,
        SPKI = 9,
        X509_ATTRIBUTE = 10,
        RAW_RSA_KEY = 11,
        HASH_URL_X509_CERT = 12,
        HASH_URL_X509_BUNDLE = 13,
        /// RFC 4806
        OCSP_CONTENT = 14,
        /// RFC 7670
        RAW_PUBLIC_KEY = 15,
    }
}

iana_enum! {
    /// Authentication method of the AUTH payload (RFC 7296 3.8).
    AuthMethod(u8) {
        RSA_SIG = 1,
        /// Shared Key Message Integrity Code (PSK).
        PSK = 2,
        DSS_SIG = 3,
        /// RFC 4754
        ECDSA_SHA256_P256 = 9,
        ECDSA_SHA384_P384 = 10,
        ECDSA_SHA512_P521 = 11,
        /// RFC 6467
        GSPAM = 12,
        /// RFC 7619
        NULL = 13,
        /// RFC 7427
        DIGITAL_SIGNATURE = 14,
    }
}

impl AuthMethod {
    /// RFC 7296 spells it "Shared Key Message Integrity Code".
    pub const SHARED_KEY_MIC: AuthMethod = AuthMethod::PSK;
}

iana_enum! {
    /// Hash algorithms of SIGNATURE_HASH_ALGORITHMS (RFC 7427 7, RFC 8420).
    HashAlgorithm(u16) {
        SHA1 = 1,
        SHA2_256 = 2,
        SHA2_384 = 3,
        SHA2_512 = 4,
        /// RFC 8420 (EdDSA)
        IDENTITY = 5,
    }
}

iana_enum! {
    /// Traffic selector type (RFC 7296 3.13.1).
    TsType(u8) {
        IPV4_ADDR_RANGE = 7,
        IPV6_ADDR_RANGE = 8,
        /// RFC 4595
        FC_ADDR_RANGE = 9,
        /// RFC 9478
        SECLABEL = 10,
    }
}

iana_enum! {
    /// CFG Type of the Configuration payload (RFC 7296 3.15).
    CfgType(u8) {
        REQUEST = 1,
        REPLY = 2,
        SET = 3,
        ACK = 4,
    }
}

iana_enum! {
    /// Configuration attribute types (RFC 7296 3.15.1 and later RFCs).
    CfgAttributeType(u16) {
        INTERNAL_IP4_ADDRESS = 1,
        INTERNAL_IP4_NETMASK = 2,
        INTERNAL_IP4_DNS = 3,
        INTERNAL_IP4_NBNS = 4,
        INTERNAL_IP4_DHCP = 6,
        APPLICATION_VERSION = 7,
        INTERNAL_IP6_ADDRESS = 8,
        INTERNAL_IP6_DNS = 10,
        INTERNAL_IP6_DHCP = 12,
        INTERNAL_IP4_SUBNET = 13,
        SUPPORTED_ATTRIBUTES = 14,
        INTERNAL_IP6_SUBNET = 15,
        /// RFC 5026
        MIP6_HOME_PREFIX = 16,
        /// RFC 5739
        INTERNAL_IP6_LINK = 17,
        INTERNAL_IP6_PREFIX = 18,
        /// RFC 5555
        HOME_AGENT_ADDRESS = 19,
        /// RFC 7651
        P_CSCF_IP4_ADDRESS = 20,
        P_CSCF_IP6_ADDRESS = 21,
        /// 3GPP TS 24.302
        FTT_KAT = 22,
        EXTERNAL_SOURCE_IP4_NAT_INFO = 23,
        TIMEOUT_PERIOD_FOR_LIVENESS_CHECK = 24,
        /// RFC 8598
        INTERNAL_DNS_DOMAIN = 25,
        INTERNAL_DNSSEC_TA = 26,
    }
}

iana_enum! {
    /// Notify Message Type (RFC 7296 3.10.1). Values below 16384 are errors,
    /// the rest are status types.
    NotifyType(u16) {
        // Error types, RFC 7296 3.10.1 unless noted.
        UNSUPPORTED_CRITICAL_PAYLOAD = 1,
        INVALID_IKE_SPI = 4,
        INVALID_MAJOR_VERSION = 5,
        INVALID_SYNTAX = 7,
        INVALID_MESSAGE_ID = 9,
        INVALID_SPI = 11,
        NO_PROPOSAL_CHOSEN = 14,
        INVALID_KE_PAYLOAD = 17,
        AUTHENTICATION_FAILED = 24,
        SINGLE_PAIR_REQUIRED = 34,
        NO_ADDITIONAL_SAS = 35,
        INTERNAL_ADDRESS_FAILURE = 36,
        FAILED_CP_REQUIRED = 37,
        TS_UNACCEPTABLE = 38,
        INVALID_SELECTORS = 39,
        /// RFC 4555
        UNACCEPTABLE_ADDRESSES = 40,
        UNEXPECTED_NAT_DETECTED = 41,
        /// RFC 5026
        USE_ASSIGNED_HOA = 42,
        TEMPORARY_FAILURE = 43,
        CHILD_SA_NOT_FOUND = 44,
        /// RFC 9838
        INVALID_GROUP_ID = 45,
        AUTHORIZATION_FAILED = 46,
        /// RFC 9370
        STATE_NOT_FOUND = 47,

        // Status types.
        INITIAL_CONTACT = 16384,
        SET_WINDOW_SIZE = 16385,
        ADDITIONAL_TS_POSSIBLE = 16386,
        IPCOMP_SUPPORTED = 16387,
        NAT_DETECTION_SOURCE_IP = 16388,
        NAT_DETECTION_DESTINATION_IP = 16389,
        COOKIE = 16390,
        USE_TRANSPORT_MODE = 16391,
        HTTP_CERT_LOOKUP_SUPPORTED = 16392,
        REKEY_SA = 16393,
        ESP_TFC_PADDING_NOT_SUPPORTED = 16394,
        NON_FIRST_FRAGMENTS_ALSO = 16395,
        /// RFC 4555 (MOBIKE)
        MOBIKE_SUPPORTED = 16396,
        ADDITIONAL_IP4_ADDRESS = 16397,
        ADDITIONAL_IP6_ADDRESS = 16398,
        NO_ADDITIONAL_ADDRESSES = 16399,
        UPDATE_SA_ADDRESSES = 16400,
        COOKIE2 = 16401,
        NO_NATS_ALLOWED = 16402,
        /// RFC 4478
        AUTH_LIFETIME = 16403,
        /// RFC 4739
        MULTIPLE_AUTH_SUPPORTED = 16404,
        ANOTHER_AUTH_FOLLOWS = 16405,
        /// RFC 5685 (redirect)
        REDIRECT_SUPPORTED = 16406,
        REDIRECT = 16407,
        REDIRECTED_FROM = 16408,
        /// RFC 5723 (session resumption)
        TICKET_LT_OPAQUE = 16409,
        TICKET_REQUEST = 16410,
        TICKET_ACK = 16411,
        TICKET_NACK = 16412,
        TICKET_OPAQUE = 16413,
        /// RFC 5739
        LINK_ID = 16414,
        /// RFC 5840
        USE_WESP_MODE = 16415,
        /// RFC 5857
        ROHC_SUPPORTED = 16416,
        /// RFC 5998
        EAP_ONLY_AUTHENTICATION = 16417,
        /// RFC 6023
        CHILDLESS_IKEV2_SUPPORTED = 16418,
        /// RFC 6290
        QUICK_CRASH_DETECTION = 16419,
        /// RFC 6311
        IKEV2_MESSAGE_ID_SYNC_SUPPORTED = 16420,
        IPSEC_REPLAY_COUNTER_SYNC_SUPPORTED = 16421,
        IKEV2_MESSAGE_ID_SYNC = 16422,
        IPSEC_REPLAY_COUNTER_SYNC = 16423,
        /// RFC 6467
        SECURE_PASSWORD_METHODS = 16424,
        /// RFC 6631
        PSK_PERSIST = 16425,
        PSK_CONFIRM = 16426,
        /// RFC 6867
        ERX_SUPPORTED = 16427,
        /// 3GPP TS 24.303
        IFOM_CAPABILITY = 16428,
        /// RFC 9838
        SENDER_REQUEST_ID = 16429,
        /// RFC 7383
        IKEV2_FRAGMENTATION_SUPPORTED = 16430,
        /// RFC 7427
        SIGNATURE_HASH_ALGORITHMS = 16431,
        /// RFC 7791
        CLONE_IKE_SA_SUPPORTED = 16432,
        CLONE_IKE_SA = 16433,
        /// RFC 8019
        PUZZLE = 16434,
        /// RFC 8784
        USE_PPK = 16435,
        PPK_IDENTITY = 16436,
        NO_PPK_AUTH = 16437,
        /// RFC 9242
        INTERMEDIATE_EXCHANGE_SUPPORTED = 16438,
        /// RFC 8983
        IP4_ALLOWED = 16439,
        IP6_ALLOWED = 16440,
        /// RFC 9370
        ADDITIONAL_KEY_EXCHANGE = 16441,
        /// RFC 9347
        USE_AGGFRAG = 16442,
        /// RFC 9593
        SUPPORTED_AUTH_METHODS = 16443,
    }
}

impl NotifyType {
    /// RFC 7296 3.10.1: types 0..16383 report errors.
    pub fn is_error(self) -> bool {
        self.0 < 16384
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_debug() {
        assert_eq!(NotifyType(16430), NotifyType::IKEV2_FRAGMENTATION_SUPPORTED);
        assert_eq!(NotifyType(16390).name(), Some("COOKIE"));
        assert_eq!(format!("{:?}", PayloadType(46)), "SK(46)");
        assert_eq!(format!("{:?}", PayloadType(99)), "PayloadType(99)");
        assert_eq!(format!("{}", ExchangeType(43)), "IKE_INTERMEDIATE");
        assert_eq!(TransformType::DH, TransformType(4));
        assert!(NotifyType::INVALID_SYNTAX.is_error());
        assert!(!NotifyType::COOKIE.is_error());
    }
}
