//! Text rendering of IKE messages: the header and the payload tree, one
//! named field per line.

use std::fmt::Write;
use std::net::{Ipv4Addr, Ipv6Addr};

use ike_proto::wire::{
    AttributeValue, CfgAttributeType, DhGroup, EncrId, EsnId, Header, IdType, Identification,
    IntegId, Notify, NotifyType, Payload, PrfId, Proposal, TrafficSelector, TransformType,
};

/// Output buffer with indentation.
pub struct Out {
    pub text: String,
    depth: usize,
}

impl Out {
    pub fn new() -> Out {
        Out {
            text: String::new(),
            depth: 0,
        }
    }

    pub fn line(&mut self, s: impl AsRef<str>) {
        for _ in 0..self.depth {
            self.text.push_str("  ");
        }
        self.text.push_str(s.as_ref());
        self.text.push('\n');
    }

    pub fn field(&mut self, name: &str, value: impl std::fmt::Display) {
        self.line(format!("{name} = {value}"));
    }

    /// Hex, 32 bytes per line, with the length.
    pub fn hex(&mut self, name: &str, data: &[u8]) {
        if data.len() <= 32 {
            self.field(name, format!("{} ({} bytes)", hex(data), data.len()));
            return;
        }
        self.line(format!("{name} = ({} bytes)", data.len()));
        self.depth += 1;
        for chunk in data.chunks(32) {
            self.line(hex(chunk));
        }
        self.depth -= 1;
    }

    pub fn nested(&mut self, title: impl AsRef<str>, f: impl FnOnce(&mut Out)) {
        self.line(title);
        self.depth += 1;
        f(self);
        self.depth -= 1;
    }
}

pub fn hex(data: &[u8]) -> String {
    let mut s = String::with_capacity(data.len() * 2);
    for b in data {
        let _ = write!(s, "{b:02x}");
    }
    s
}

pub fn header(o: &mut Out, h: &Header) {
    o.nested("IKE header", |o| {
        o.field("spi_i", format!("{:016x}", h.spi_i));
        o.field("spi_r", format!("{:016x}", h.spi_r));
        o.field("next_payload", format!("{:?}", h.next_payload));
        o.field(
            "version",
            format!("{}.{}", h.major_version, h.minor_version),
        );
        o.field("exchange", format!("{:?}", h.exchange));
        o.field(
            "flags",
            format!(
                "initiator={} version={} response={}",
                u8::from(h.flags.initiator),
                u8::from(h.flags.version),
                u8::from(h.flags.response)
            ),
        );
        o.field("message_id", h.message_id);
        o.field("length", h.length);
    });
}

/// One payload. SK/SKF are printed by the caller, which may decrypt them.
pub fn payload(o: &mut Out, p: &Payload) {
    match p {
        Payload::Sa(props) => o.nested("SA", |o| props.iter().for_each(|pr| proposal(o, pr))),
        Payload::Ke(k) => o.nested("KE", |o| {
            o.field("group", format!("{:?}", k.group));
            o.hex("data", &k.data);
        }),
        Payload::IdI(id) => o.nested("IDi", |o| identification(o, id)),
        Payload::IdR(id) => o.nested("IDr", |o| identification(o, id)),
        Payload::Cert(c) | Payload::CertReq(c) => {
            let t = if matches!(p, Payload::Cert(_)) {
                "CERT"
            } else {
                "CERTREQ"
            };
            o.nested(t, |o| {
                o.field("encoding", format!("{:?}", c.encoding));
                o.hex("data", &c.data);
            })
        }
        Payload::Auth(a) => o.nested("AUTH", |o| {
            o.field("method", format!("{:?}", a.method));
            o.hex("data", &a.data);
        }),
        Payload::Nonce(n) => o.nested("Nonce", |o| o.hex("data", n)),
        Payload::Notify(n) => o.nested(format!("N({})", n.notify_type), |o| notify(o, n)),
        Payload::Delete(d) => o.nested("Delete", |o| {
            o.field("protocol", format!("{:?}", d.protocol));
            o.field("spi_size", d.spi_size);
            o.field("num_spis", d.spis.len());
            for s in &d.spis {
                o.field("spi", hex(s));
            }
        }),
        Payload::VendorId(v) => o.nested("VendorID", |o| {
            o.hex("data", v);
            if !v.is_empty() && v.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
                o.field("text", String::from_utf8_lossy(v));
            }
        }),
        Payload::TsI(ts) => o.nested("TSi", |o| selectors(o, ts)),
        Payload::TsR(ts) => o.nested("TSr", |o| selectors(o, ts)),
        Payload::Cp(c) => o.nested("CP", |o| {
            o.field("cfg_type", format!("{:?}", c.cfg_type));
            for a in &c.attributes {
                o.nested(format!("attribute {:?}", a.attr_type), |o| {
                    cfg_value(o, a.attr_type, &a.value)
                });
            }
        }),
        Payload::Eap(e) => o.nested("EAP", |o| o.hex("message", e)),
        Payload::Sk(e) => o.nested("SK", |o| {
            o.field("first_inner", format!("{:?}", e.first_inner));
            o.field("body_len", e.body.len());
        }),
        Payload::Skf(f) => o.nested("SKF", |o| {
            o.field("first_inner", format!("{:?}", f.first_inner));
            o.field("fragment_number", f.number);
            o.field("total_fragments", f.total);
            o.field("body_len", f.body.len());
        }),
        Payload::Unknown {
            ptype,
            critical,
            body,
        } => o.nested(format!("unknown payload {}", ptype.0), |o| {
            o.field("critical", critical);
            o.hex("body", body);
        }),
    }
}

fn proposal(o: &mut Out, p: &Proposal) {
    o.nested(format!("proposal #{}", p.num), |o| {
        o.field("protocol", format!("{:?}", p.protocol));
        o.field(
            "spi",
            if p.spi.is_empty() {
                "(none)".into()
            } else {
                hex(&p.spi)
            },
        );
        for t in &p.transforms {
            let id = match t.ttype {
                TransformType::ENCR => format!("{:?}", EncrId(t.id)),
                TransformType::PRF => format!("{:?}", PrfId(t.id)),
                TransformType::INTEG => format!("{:?}", IntegId(t.id)),
                TransformType::KE => format!("{:?}", DhGroup(t.id)),
                TransformType::ESN => format!("{:?}", EsnId(t.id)),
                _ => t.id.to_string(),
            };
            let kl = t
                .key_length
                .map(|k| format!(" key_length={k}"))
                .unwrap_or_default();
            o.line(format!("transform type={:?} id={id}{kl}", t.ttype));
            for a in &t.other_attributes {
                match &a.value {
                    AttributeValue::Tv(v) => o.line(format!("  attribute {} = {v}", a.atype.0)),
                    AttributeValue::Tlv(v) => {
                        o.line(format!("  attribute {} = {}", a.atype.0, hex(v)))
                    }
                }
            }
        }
    });
}

fn identification(o: &mut Out, id: &Identification) {
    o.field("id_type", format!("{:?}", id.id_type));
    let text = match id.id_type {
        IdType::IPV4_ADDR => <[u8; 4]>::try_from(&id.data[..])
            .ok()
            .map(|a| Ipv4Addr::from(a).to_string()),
        IdType::IPV6_ADDR => <[u8; 16]>::try_from(&id.data[..])
            .ok()
            .map(|a| Ipv6Addr::from(a).to_string()),
        IdType::FQDN | IdType::RFC822_ADDR => Some(String::from_utf8_lossy(&id.data).into_owned()),
        _ => None,
    };
    match text {
        Some(t) => o.field("data", t),
        None => o.hex("data", &id.data),
    }
}

fn notify(o: &mut Out, n: &Notify) {
    o.field("protocol", format!("{:?}", n.protocol));
    o.field(
        "spi",
        if n.spi.is_empty() {
            "(none)".into()
        } else {
            hex(&n.spi)
        },
    );
    o.field("notify_type", format!("{:?}", n.notify_type));
    if n.notify_type == NotifyType::SIGNATURE_HASH_ALGORITHMS && n.data.len().is_multiple_of(2) {
        let algs: Vec<String> = n
            .data
            .chunks_exact(2)
            .map(|c| {
                format!(
                    "{:?}",
                    ike_proto::wire::HashAlgorithm(u16::from_be_bytes([c[0], c[1]]))
                )
            })
            .collect();
        o.field("hash_algorithms", algs.join(" "));
    } else if !n.data.is_empty() {
        o.hex("data", &n.data);
    }
}

fn selectors(o: &mut Out, ts: &[TrafficSelector]) {
    o.field("num_ts", ts.len());
    for t in ts {
        o.line(format!(
            "{:?} ip_protocol={} ports={}-{} addresses={}-{}",
            t.ts_type, t.ip_protocol, t.start_port, t.end_port, t.start_addr, t.end_addr
        ));
    }
}

fn cfg_value(o: &mut Out, t: CfgAttributeType, v: &[u8]) {
    let addr = match (t, v.len()) {
        (_, 0) => None,
        (
            CfgAttributeType::INTERNAL_IP4_ADDRESS
            | CfgAttributeType::INTERNAL_IP4_NETMASK
            | CfgAttributeType::INTERNAL_IP4_DNS
            | CfgAttributeType::INTERNAL_IP4_NBNS
            | CfgAttributeType::INTERNAL_IP4_DHCP,
            4,
        ) => <[u8; 4]>::try_from(v)
            .ok()
            .map(|a| Ipv4Addr::from(a).to_string()),
        _ => None,
    };
    match addr {
        Some(a) => o.field("value", a),
        None => o.hex("value", v),
    }
}
