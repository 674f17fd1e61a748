//! The simulated key engine, driven message by message with injected time.

use super::*;
use crate::test_support::{ip, raw_sa, raw_spd, with_addtime};
use crate::wire::SpiRange;

const D: Dialect = Dialect::Linux;

fn host(s: &str) -> Address {
    Address {
        proto: 0,
        ..Address::host(ip(s))
    }
}

/// An engine of dialect `d` and one socket on it, at the current time.
fn engine_of(d: Dialect) -> (SimKernel, ConnId, Instant) {
    let now = Instant::now();
    let mut e = SimKernel::new(
        SimConfig {
            dialect: d,
            ..SimConfig::default()
        },
        now,
    );
    let a = e.connect();
    (e, a, now)
}

fn engine() -> (SimKernel, ConnId, Instant) {
    engine_of(D)
}

fn parse(d: &Delivery) -> Message {
    Message::parse(D, &d.bytes).unwrap()
}

fn req(t: MsgType, satype: SaType, seq: u32) -> Message {
    Message::new(Header::new(t, satype, seq, 500))
}

fn add_msg(t: MsgType, spi: u32, src: &str, dst: &str, hard: u64, soft: u64) -> Message {
    let m = raw_sa(Header::new(t, SaType::Esp, 10, 500), spi, src, dst, 1);
    with_addtime(m, hard, soft).with(Ext::Sa2(Sa2 {
        mode: IPSEC_MODE_TUNNEL,
        sequence: 0,
        reqid: 7,
    }))
}

fn send(e: &mut SimKernel, from: ConnId, m: &Message, now: Instant) -> Vec<Delivery> {
    e.handle(from, &m.emit(e.dialect()).unwrap(), now)
}

fn errno_of(out: &[Delivery]) -> u8 {
    assert_eq!(out.len(), 1, "{out:?}");
    parse(&out[0]).header.errno
}

fn spd(dir: u8, src: &str, dst: &str, tunnel: (&str, &str)) -> Message {
    raw_spd(
        Header::new(MsgType::SpdAdd, SaType::Unspec, 20, 500),
        dir,
        src,
        dst,
        tunnel,
        7,
    )
}

/// The tunnel's outbound policy, which most tests install.
fn out_spd() -> Message {
    spd(
        IPSEC_DIR_OUTBOUND,
        "10.1.0.0/16",
        "10.2.0.0/16",
        ("192.0.2.1", "192.0.2.2"),
    )
}

/// The tunnel's inbound policy.
fn in_spd() -> Message {
    spd(
        IPSEC_DIR_INBOUND,
        "10.2.0.0/16",
        "10.1.0.0/16",
        ("192.0.2.2", "192.0.2.1"),
    )
}

#[test]
fn register_replies_to_registered_sockets_with_algorithms() {
    let (mut e, a, now) = engine();
    let b = e.connect();
    let out = send(&mut e, a, &req(MsgType::Register, SaType::Esp, 1), now);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].to, a);
    let m = parse(&out[0]);
    assert_eq!((m.header.seq, m.header.pid), (1, 500));
    assert_eq!(m.supported(ExtKind::SupportedEncrypt).unwrap().len(), 10);
    // Registering twice is EEXIST; a second socket's REGISTER reaches both.
    assert_eq!(
        errno_of(&send(
            &mut e,
            a,
            &req(MsgType::Register, SaType::Esp, 2),
            now
        )),
        EEXIST
    );
    let out = send(&mut e, b, &req(MsgType::Register, SaType::Ah, 3), now);
    assert_eq!(out.iter().map(|d| d.to).collect::<Vec<_>>(), [a, b]);
}

#[test]
fn getspi_update_get_delete() {
    let (mut e, a, now) = engine();
    let other = e.connect();
    let g = req(MsgType::GetSpi, SaType::Esp, 4)
        .with(Ext::Address(ExtKind::AddressSrc, host("192.0.2.2")))
        .with(Ext::Address(ExtKind::AddressDst, host("192.0.2.1")))
        .with(Ext::SpiRange(SpiRange {
            min: 0x1000,
            max: 0x1fff,
        }));
    let out = send(&mut e, a, &g, now);
    assert_eq!(out.len(), 1, "GETSPI answers the sender only");
    let spi = parse(&out[0]).sa().unwrap().spi;
    assert!((0x1000..=0x1fff).contains(&spi));
    assert_eq!(e.sas().next().unwrap().state, SADB_SASTATE_LARVAL);
    // UPDATE of an unknown SPI: ESRCH. Of the larval one: mature, broadcast.
    assert_eq!(
        errno_of(&send(
            &mut e,
            a,
            &add_msg(MsgType::Update, spi + 1, "192.0.2.2", "192.0.2.1", 0, 0),
            now
        )),
        ESRCH
    );
    let out = send(
        &mut e,
        a,
        &add_msg(MsgType::Update, spi, "192.0.2.2", "192.0.2.1", 100, 80),
        now,
    );
    assert_eq!(out.len(), 2);
    assert_eq!(e.sas().next().unwrap().state, SADB_SASTATE_MATURE);
    // ADD of the same SPI: EEXIST.
    assert_eq!(
        errno_of(&send(
            &mut e,
            a,
            &add_msg(MsgType::Add, spi, "192.0.2.2", "192.0.2.1", 0, 0),
            now
        )),
        EEXIST
    );
    let get = req(MsgType::Get, SaType::Esp, 5)
        .with(Ext::Sa(
            ExtKind::Sa,
            Sa {
                spi,
                ..Sa::default()
            },
        ))
        .with(Ext::Address(ExtKind::AddressDst, host("192.0.2.1")));
    let out = send(&mut e, other, &get, now);
    let m = parse(&out[0]);
    assert_eq!(out[0].to, other);
    assert_eq!(m.lifetime(ExtKind::LifetimeHard).unwrap().addtime, 100);
    assert_eq!(m.key(ExtKind::KeyEncrypt).unwrap().bits, 128);
    let mut del = get.clone();
    del.header.msg_type = MsgType::Delete;
    assert_eq!(send(&mut e, a, &del, now).len(), 2);
    assert_eq!(errno_of(&send(&mut e, a, &get, now)), ESRCH);
}

#[test]
fn unsupported_algorithm_and_bad_key_are_refused() {
    let (mut e, a, now) = engine();
    let mut m = add_msg(MsgType::Add, 0x500, "192.0.2.1", "192.0.2.2", 0, 0);
    if let Some(Ext::Sa(_, sa)) = m.exts.get_mut(0) {
        sa.encrypt = 20; // AES-GCM: not in Linux af_key's list
    }
    assert_eq!(errno_of(&send(&mut e, a, &m, now)), ENOSYS);
    let mut m = add_msg(MsgType::Add, 0x500, "192.0.2.1", "192.0.2.2", 0, 0);
    m.exts.retain(|x| x.kind() != Some(ExtKind::KeyEncrypt));
    assert_eq!(errno_of(&send(&mut e, a, &m, now)), EINVAL);
    // Hard without soft.
    let mut m = add_msg(MsgType::Add, 0x500, "192.0.2.1", "192.0.2.2", 10, 5);
    m.exts.retain(|x| x.kind() != Some(ExtKind::LifetimeSoft));
    assert_eq!(errno_of(&send(&mut e, a, &m, now)), EINVAL);
    // Garbage gets an EINVAL header back.
    let mut junk = add_msg(MsgType::Add, 1, "192.0.2.1", "192.0.2.2", 0, 0)
        .emit(D)
        .unwrap();
    junk[16] = 0;
    assert_eq!(e.handle(a, &junk, now)[0].bytes[2], EINVAL);
}

#[test]
fn dumps_count_like_each_kernel() {
    for (d, want) in [
        (Dialect::Linux, [1u32, 2, 0]),
        (Dialect::FreeBsd, [2, 1, 0]),
    ] {
        let (mut e, a, now) = engine_of(d);
        let dump = req(MsgType::Dump, SaType::Unspec, 9);
        let out = e.handle(a, &dump.emit(d).unwrap(), now);
        assert_eq!(
            Message::parse(d, &out[0].bytes).unwrap().header.errno,
            ENOENT
        );
        for spi in [0x301, 0x302, 0x303] {
            let m = add_msg(MsgType::Add, spi, "192.0.2.1", "192.0.2.2", 0, 0);
            e.handle(a, &m.emit(d).unwrap(), now);
        }
        let out = e.handle(a, &dump.emit(d).unwrap(), now);
        let seqs: Vec<u32> = out
            .iter()
            .map(|x| Message::parse(d, &x.bytes).unwrap().header.seq)
            .collect();
        assert_eq!(seqs, want, "{d:?}");
    }
}

#[test]
fn spd_add_get_delete_and_ids() {
    let (mut e, a, now) = engine();
    let out = send(&mut e, a, &out_spd(), now);
    let id = parse(&out[0]).policy().unwrap().id;
    assert_eq!(id & 7, 1, "Linux policy ids carry dir-1 in the low bits");
    assert_eq!(errno_of(&send(&mut e, a, &out_spd(), now)), EEXIST);
    let mut upd = spd(
        IPSEC_DIR_OUTBOUND,
        "10.1.0.0/16",
        "10.2.0.0/16",
        ("192.0.2.1", "192.0.2.3"),
    );
    upd.header.msg_type = MsgType::SpdUpdate;
    let out = send(&mut e, a, &upd, now);
    assert_eq!(
        parse(&out[0]).policy().unwrap().id,
        id,
        "SPDUPDATE keeps the id"
    );
    let get = req(MsgType::SpdGet, SaType::Unspec, 3).with(Ext::Policy(Policy {
        policy_type: 0,
        dir: 0,
        scope: 0,
        id,
        priority: 0,
        requests: vec![],
    }));
    let m = parse(&send(&mut e, a, &get, now)[0]);
    assert_eq!(
        m.policy().unwrap().requests[0].tunnel.unwrap().1,
        "192.0.2.3:0".parse().unwrap()
    );
    let mut del2 = get.clone();
    del2.header.msg_type = MsgType::SpdDelete2;
    assert_eq!(parse(&send(&mut e, a, &del2, now)[0]).header.errno, 0);
    assert_eq!(errno_of(&send(&mut e, a, &del2, now)), ENOENT);
    assert_eq!(errno_of(&send(&mut e, a, &get, now)), ENOENT);
    // SPD messages need satype 0.
    let mut bad = in_spd();
    bad.header.satype = SaType::Esp;
    assert_eq!(errno_of(&send(&mut e, a, &bad, now)), EINVAL);
}

#[test]
fn trigger_sends_acquire_to_registered_sockets_once() {
    let (mut e, km, now) = engine();
    let bystander = e.connect();
    assert!(
        e.trigger(ip("10.1.0.5"), ip("10.2.0.9"), now).is_err(),
        "no policy yet"
    );
    send(&mut e, km, &out_spd(), now);
    let (what, out) = e.trigger(ip("10.1.0.5"), ip("10.2.0.9"), now).unwrap();
    assert!(out.is_empty(), "{what}");
    send(&mut e, km, &req(MsgType::Register, SaType::Esp, 1), now);
    let (_, out) = e.trigger(ip("10.1.0.5"), ip("10.2.0.9"), now).unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].to, km);
    assert_ne!(out[0].to, bystander);
    let m = parse(&out[0]);
    assert_eq!((m.header.msg_type, m.header.pid), (MsgType::Acquire, 0));
    assert_eq!(
        m.address(ExtKind::AddressDst).unwrap().ip(),
        ip("192.0.2.2")
    );
    assert!(m.policy().unwrap().id != 0);
    assert!(m.get(ExtKind::Proposal).is_some());
    // Pending: no second ACQUIRE until it times out or an SA appears.
    assert!(e
        .trigger(ip("10.1.0.5"), ip("10.2.0.9"), now)
        .unwrap()
        .1
        .is_empty());
    let later = now + Duration::from_secs(31);
    e.tick(later);
    assert_eq!(
        e.trigger(ip("10.1.0.5"), ip("10.2.0.9"), later)
            .unwrap()
            .1
            .len(),
        1
    );
    send(
        &mut e,
        km,
        &add_msg(MsgType::Add, 0x777, "192.0.2.1", "192.0.2.2", 0, 0),
        later,
    );
    let (what, out) = e.trigger(ip("10.1.0.5"), ip("10.2.0.9"), later).unwrap();
    assert!(out.is_empty() && what.contains("present"), "{what}");
}

#[test]
fn soft_then_hard_expire_on_time_and_larval_timeout() {
    let t0 = Instant::now();
    let mut e = SimKernel::new(SimConfig::default(), t0);
    let km = e.connect();
    send(&mut e, km, &req(MsgType::Register, SaType::Esp, 1), t0);
    send(
        &mut e,
        km,
        &add_msg(MsgType::Add, 0x900, "192.0.2.1", "192.0.2.2", 10, 6),
        t0,
    );
    let g = req(MsgType::GetSpi, SaType::Esp, 4)
        .with(Ext::Address(ExtKind::AddressSrc, host("192.0.2.2")))
        .with(Ext::Address(ExtKind::AddressDst, host("192.0.2.1")));
    send(&mut e, km, &g, t0);
    assert_eq!(e.next_deadline(), Some(t0 + Duration::from_secs(6)));
    assert!(e.tick(t0 + Duration::from_secs(5)).is_empty());
    let out = e.tick(t0 + Duration::from_secs(6));
    let m = parse(&out[0]);
    assert_eq!(m.header.msg_type, MsgType::Expire);
    assert!(
        m.lifetime(ExtKind::LifetimeSoft).is_some() && m.lifetime(ExtKind::LifetimeHard).is_none()
    );
    assert!(
        e.tick(t0 + Duration::from_secs(7)).is_empty(),
        "soft fires once"
    );
    let out = e.tick(t0 + Duration::from_secs(10));
    let m = parse(&out[0]);
    assert!(m.lifetime(ExtKind::LifetimeHard).is_some());
    assert_eq!(m.sa().unwrap().spi, 0x900);
    assert_eq!(e.sas().count(), 1, "only the larval SA is left");
    e.tick(t0 + Duration::from_secs(30));
    assert_eq!(e.sas().count(), 0, "larval SA timed out");
}

#[test]
fn tables_print_as_text_and_json() {
    let (mut e, a, now) = engine();
    assert!(e.show_sad(now).contains("No SAD entries"));
    send(
        &mut e,
        a,
        &add_msg(MsgType::Add, 0x1234, "192.0.2.1", "192.0.2.2", 0, 0),
        now,
    );
    send(&mut e, a, &out_spd(), now);
    let sad = e.show_sad(now);
    assert!(sad.contains("192.0.2.1 192.0.2.2"), "{sad}");
    assert!(
        sad.contains("esp mode=tunnel spi=4660(0x00001234) reqid=7"),
        "{sad}"
    );
    assert!(sad.contains("E: aes-cbc (128 bits)"), "{sad}");
    assert!(!sad.contains("0202"), "no key bytes in the text dump");
    let spd_text = e.show_spd();
    assert!(
        spd_text.contains("10.1.0.0/16[any] 10.2.0.0/16[any] any"),
        "{spd_text}"
    );
    assert!(
        spd_text.contains("esp/tunnel/192.0.2.1-192.0.2.2/unique:7"),
        "{spd_text}"
    );
    let json = e.show_json(now);
    assert!(
        json.starts_with(
            "{\"dialect\":\"linux\",\"sad\":[{\"satype\":\"esp\",\"src\":\"192.0.2.1\""
        ),
        "{json}"
    );
    assert!(json.contains("\"spi\":4660"));
    // Keys in the JSON (for end-to-end checks), never in the text dump.
    assert!(
        json.contains(&format!("\"enc_key\":\"{}\"", "02".repeat(16))),
        "{json}"
    );
    assert!(
        json.contains(&format!("\"auth_key\":\"{}\"", "01".repeat(20))),
        "{json}"
    );
    assert!(json.contains("\"dir\":\"out\""));
}

#[test]
fn absurd_lifetimes_do_not_overflow_the_clock() {
    let (mut e, a, now) = engine();
    send(
        &mut e,
        a,
        &add_msg(
            MsgType::Add,
            0x600,
            "192.0.2.1",
            "192.0.2.2",
            u64::MAX,
            u64::MAX - 1,
        ),
        now,
    );
    assert_eq!(e.sas().count(), 1);
    assert_eq!(e.next_deadline(), None);
    assert!(e.tick(now + Duration::from_secs(1_000_000)).is_empty());
}

#[test]
fn freebsd_update_must_come_from_the_getspi_pid() {
    let d = Dialect::FreeBsd;
    let (mut e, a, now) = engine_of(d);
    let g = req(MsgType::GetSpi, SaType::Esp, 4)
        .with(Ext::Address(ExtKind::AddressSrc, host("192.0.2.2")))
        .with(Ext::Address(ExtKind::AddressDst, host("192.0.2.1")));
    let out = e.handle(a, &g.emit(d).unwrap(), now);
    let spi = Message::parse(d, &out[0].bytes).unwrap().sa().unwrap().spi;
    let mut upd = add_msg(MsgType::Update, spi, "192.0.2.2", "192.0.2.1", 0, 0);
    upd.header.pid = 501;
    let out = e.handle(a, &upd.emit(d).unwrap(), now);
    assert_eq!(
        Message::parse(d, &out[0].bytes).unwrap().header.errno,
        EINVAL
    );
    upd.header.pid = 500;
    let out = e.handle(a, &upd.emit(d).unwrap(), now);
    assert_eq!(Message::parse(d, &out[0].bytes).unwrap().header.errno, 0);
}

fn flow_addr(kind: ExtKind, a: &str) -> Ext {
    Ext::Address(
        kind,
        Address {
            proto: 0,
            prefix_len: 0,
            addr: std::net::SocketAddr::new(ip(a), 0),
        },
    )
}

fn flow_msg(t: MsgType, dir: u8, src: &str, dst: &str) -> Message {
    use crate::wire::Protocol;
    let mut m = Message::new(Header::new(t, SaType::Esp, 3, 500)).with(Ext::Protocol(
        ExtKind::FlowType,
        Protocol {
            proto: openbsd::SADB_X_FLOW_TYPE_REQUIRE,
            direction: dir,
            flags: 0,
        },
    ));
    if t == MsgType::AddFlow {
        m = m.with(Ext::Address(ExtKind::AddressDst, host("192.0.2.2")));
    }
    m.with(flow_addr(ExtKind::SrcFlow, src))
        .with(flow_addr(ExtKind::SrcMask, "255.255.255.0"))
        .with(flow_addr(ExtKind::DstFlow, dst))
        .with(flow_addr(ExtKind::DstMask, "255.255.255.0"))
}

#[test]
fn openbsd_flows_are_added_replaced_and_deleted() {
    let d = Dialect::OpenBsd;
    let (mut e, a, now) = engine_of(d);
    let b = e.connect();
    let add = flow_msg(
        MsgType::AddFlow,
        openbsd::IPSP_DIRECTION_OUT,
        "10.1.0.9",
        "10.2.0.0",
    );
    let out = send(&mut e, a, &add, now);
    // Broadcast, with the request's extensions.
    assert_eq!(out.len(), 2);
    let sent = Message::parse(d, &add.emit(d).unwrap()).unwrap();
    assert_eq!(Message::parse(d, &out[1].bytes).unwrap().exts, sent.exts);
    assert_eq!(e.flows().len(), 1);
    assert_eq!(e.flows()[0].src, ip("10.1.0.0"), "masked by the kernel");
    // The same selector again updates in place; the other direction is new.
    send(&mut e, a, &add, now);
    let add_in = flow_msg(
        MsgType::AddFlow,
        openbsd::IPSP_DIRECTION_IN,
        "10.2.0.0",
        "10.1.0.0",
    );
    send(&mut e, a, &add_in, now);
    assert_eq!(e.flows().len(), 2);
    assert!(e
        .show_json(now)
        .contains("\"dir\":\"in\",\"type\":\"require\""));
    let del = flow_msg(
        MsgType::DelFlow,
        openbsd::IPSP_DIRECTION_OUT,
        "10.1.0.0",
        "10.2.0.0",
    );
    assert_eq!(send(&mut e, a, &del, now).len(), 2);
    assert_eq!(e.flows().len(), 1);
    // A second DELFLOW: ESRCH, header only, to every socket.
    let out = send(&mut e, a, &del, now);
    assert_eq!(out.iter().map(|o| o.to).collect::<Vec<_>>(), [a, b]);
    let m = Message::parse(d, &out[0].bytes).unwrap();
    assert_eq!((m.header.errno, m.exts.len()), (ESRCH, 0));
    // A bad direction is EINVAL: the write fails, nothing is delivered.
    let bad = flow_msg(MsgType::AddFlow, 7, "10.1.0.0", "10.2.0.0");
    assert!(send(&mut e, a, &bad, now).is_empty());
    assert_eq!(e.refused().0, 1);
    // FLUSH of every type takes the flows along.
    send(&mut e, a, &req(MsgType::Flush, SaType::Unspec, 9), now);
    assert!(e.flows().is_empty());
}

#[test]
fn openbsd_sas_carry_the_mode_in_flags_and_replies_drop_keys() {
    let d = Dialect::OpenBsd;
    let (mut e, a, now) = engine_of(d);
    let mut m = raw_sa(
        Header::new(MsgType::Add, SaType::Esp, 10, 500),
        0x4242,
        "192.0.2.1",
        "192.0.2.2",
        1,
    );
    if let Some(Ext::Sa(_, sa)) = m.exts.first_mut() {
        sa.flags = openbsd::SADB_X_SAFLAGS_TUNNEL;
        sa.replay = 64;
    }
    let out = send(&mut e, a, &m, now);
    let reply = Message::parse(d, &out[0].bytes).unwrap();
    assert_eq!(reply.header.errno, 0);
    assert!(reply.key(ExtKind::KeyEncrypt).is_none(), "keys removed");
    assert!(reply.sa2().is_none(), "OpenBSD has no SA2");
    let sa = e.sas().next().unwrap();
    assert_eq!(sa.mode, IPSEC_MODE_TUNNEL);
    // KAME's SA2 does not exist here: refused by the parser's bitmap.
    let with_sa2 = add_msg(MsgType::Add, 0x4343, "192.0.2.1", "192.0.2.2", 0, 0);
    assert!(with_sa2.emit(d).is_err() || send(&mut e, a, &with_sa2, now).is_empty());
}

#[test]
fn freebsd_echoes_refused_messages_and_guards_spis() {
    let d = Dialect::FreeBsd;
    let (mut e, a, now) = engine_of(d);
    let low = add_msg(MsgType::Add, 0xff, "192.0.2.1", "192.0.2.2", 0, 0);
    let out = send(&mut e, a, &low, now);
    assert_eq!(out.len(), 1);
    let echo = Message::parse(d, &out[0].bytes).unwrap();
    assert_eq!(echo.header.errno, EINVAL);
    assert_eq!(echo.exts, low.exts, "the whole message comes back");
    send(
        &mut e,
        a,
        &add_msg(MsgType::Add, 0x500, "192.0.2.1", "192.0.2.2", 0, 0),
        now,
    );
    // One SPI namespace: the same SPI towards another host is taken.
    let again = add_msg(MsgType::Add, 0x500, "192.0.2.1", "192.0.2.3", 0, 0);
    let out = send(&mut e, a, &again, now);
    assert_eq!(
        Message::parse(d, &out[0].bytes).unwrap().header.errno,
        EEXIST
    );
}

#[test]
fn openbsd_acquire_names_no_source_without_a_local_gateway_and_askpolicy_answers() {
    let d = Dialect::OpenBsd;
    let (mut e, a, now) = engine_of(d);
    send(&mut e, a, &req(MsgType::Register, SaType::Esp, 1), now);
    let add = flow_msg(
        MsgType::AddFlow,
        openbsd::IPSP_DIRECTION_OUT,
        "10.1.0.0",
        "10.2.0.0",
    );
    send(&mut e, a, &add, now);
    let (what, out) = e.trigger(ip("10.1.0.5"), ip("10.2.0.7"), now).unwrap();
    assert_eq!(out.len(), 1, "{what}");
    let acq = Message::parse(d, &out[0].bytes).unwrap();
    assert_eq!((acq.header.msg_type, acq.header.pid), (MsgType::Acquire, 0));
    // ip_spd.c passes the flow's all-zero local address; pfkeyv2_acquire
    // writes it as an ADDRESS_SRC of one word and no sockaddr, which
    // decodes as no source (wire::message::is_openbsd_empty_source).
    let empty_src = [1, 0, 5, 0, 0, 0, 0, 0];
    assert!(out[0].bytes[16..].starts_with(&empty_src), "{what}");
    assert!(acq.address(ExtKind::AddressSrc).is_none(), "{what}");
    assert_eq!(
        acq.address(ExtKind::AddressDst).unwrap().ip(),
        ip("192.0.2.2")
    );
    // Pending: no second ACQUIRE.
    assert!(e
        .trigger(ip("10.1.0.5"), ip("10.2.0.7"), now)
        .unwrap()
        .1
        .is_empty());
    let ask = req(MsgType::AskPolicy, SaType::Unspec, 5).with(Ext::ObsdPolicy(acq.header.seq));
    let out = send(&mut e, a, &ask, now);
    let r = Message::parse(d, &out[0].bytes).unwrap();
    assert_eq!(r.header.errno, 0);
    assert_eq!(r.address(ExtKind::SrcFlow).unwrap().ip(), ip("10.1.0.0"));
    assert_eq!(
        r.address(ExtKind::DstMask).unwrap().ip(),
        ip("255.255.255.0")
    );
    let unknown = req(MsgType::AskPolicy, SaType::Unspec, 6).with(Ext::ObsdPolicy(999));
    let out = send(&mut e, a, &unknown, now);
    assert_eq!(
        Message::parse(d, &out[0].bytes).unwrap().header.errno,
        ESRCH
    );
    // With a local gateway on the flow, the ACQUIRE names it.
    let (mut e, a, now) = engine_of(d);
    send(&mut e, a, &req(MsgType::Register, SaType::Esp, 1), now);
    let add = add.with(Ext::Address(ExtKind::AddressSrc, host("192.0.2.1")));
    send(&mut e, a, &add, now);
    let (_, out) = e.trigger(ip("10.1.0.5"), ip("10.2.0.7"), now).unwrap();
    let acq = Message::parse(d, &out[0].bytes).unwrap();
    assert_eq!(
        acq.address(ExtKind::AddressSrc).unwrap().ip(),
        ip("192.0.2.1")
    );
}
