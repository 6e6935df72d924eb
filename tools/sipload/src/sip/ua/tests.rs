//! Unit tests of the user agent.

use super::*;
use crate::sip::message::uri_of;

fn settings(hold: bool) -> Settings {
    Settings {
        expires: 60,
        keepalive: Some(Duration::from_secs(10)),
        tx_timeout: Duration::from_secs(5),
        call_length: Duration::from_secs(2),
        hold,
        message_size: 100,
    }
}

fn ua(index: u64, hold: bool) -> Ua {
    Ua::new(
        Identity::new(
            index,
            2,
            "example.test",
            &mut fastrand::Rng::with_seed(index),
        ),
        settings(hold),
    )
}

fn sent(ua: &mut Ua) -> Vec<String> {
    ua.take_actions()
        .into_iter()
        .filter_map(|a| match a {
            Action::Send(m) => Some(m),
            Action::Done { .. } => None,
        })
        .collect()
}

fn done(actions: &[Action]) -> Vec<(TxKind, bool)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Done { kind, result, .. } => Some((*kind, result.is_ok())),
            Action::Send(_) => None,
        })
        .collect()
}

/// What a registrar answers: 200 with our Contact and the granted expiry.
fn registrar_ok(req: &str, granted: u32) -> String {
    let m = Message::parse(req.as_bytes()).unwrap();
    let contact = format!(
        "Contact: <{}>;expires={granted}\r\n",
        uri_of(m.header("contact").unwrap())
    );
    build::response(&m, 200, "OK", &contact, "")
}

#[test]
fn registers_like_jssip_and_refreshes_before_expiry() {
    let mut a = ua(0, false);
    let t0 = Instant::now();
    a.register(t0);
    let reg = sent(&mut a).pop().unwrap();
    for needle in [
        "REGISTER sip:example.test SIP/2.0\r\n",
        "Via: SIP/2.0/WS ",
        ".invalid;branch=z9hG4bK",
        ";transport=ws>;+sip.ice;reg-id=1;+sip.instance=\"<urn:uuid:",
        "Supported: path,gruu,outbound\r\n",
        "Expires: 60\r\n",
        "To: <sip:sl0@example.test>\r\n",
    ] {
        assert!(reg.contains(needle), "{needle:?} in {reg}");
    }
    a.on_message(
        registrar_ok(&reg, 40).as_bytes(),
        t0 + Duration::from_millis(3),
    )
    .unwrap();
    assert_eq!(done(&a.take_actions()), vec![(TxKind::Register, true)]);
    let next = a.next_timer().unwrap();
    let d = next - t0;
    assert!(
        d >= Duration::from_secs(20) && d <= Duration::from_secs(31),
        "refresh between 50% and 75% of the granted 40 s: {d:?}"
    );
    a.on_timer(next);
    let refresh = sent(&mut a).pop().unwrap();
    assert!(refresh.starts_with("REGISTER "), "{refresh}");
    let cseq = |m: &str| Message::parse(m.as_bytes()).unwrap().cseq().unwrap().0;
    assert_eq!(cseq(&refresh), cseq(&reg) + 1, "same Call-ID, next CSeq");
    assert_eq!(
        Message::parse(refresh.as_bytes()).unwrap().call_id(),
        Message::parse(reg.as_bytes()).unwrap().call_id()
    );
    // No answer: the refresh times out.
    a.on_timer(next + Duration::from_secs(6));
    assert_eq!(done(&a.take_actions()), vec![(TxKind::Register, false)]);
}

#[test]
fn keepalives_are_crlfcrlf_and_a_crlf_answers_them() {
    let mut a = ua(0, false);
    let t0 = Instant::now();
    a.start_keepalives(t0);
    let at = a.next_timer().unwrap();
    assert!(at - t0 >= Duration::from_secs(5) && at - t0 <= Duration::from_secs(10));
    a.on_timer(at);
    assert_eq!(sent(&mut a), vec!["\r\n\r\n".to_owned()]);
    assert!(!a.settled());
    a.on_message(b"\r\n", at + Duration::from_millis(1))
        .unwrap();
    assert_eq!(done(&a.take_actions()), vec![(TxKind::Keepalive, true)]);
    // The server's own keepalive is answered with a CRLF.
    a.on_message(b"\r\n\r\n", at).unwrap();
    assert_eq!(sent(&mut a), vec!["\r\n".to_owned()]);
    assert!(a.settled());
}

#[test]
fn a_message_to_the_partner_is_answered_200() {
    let (mut a, mut b) = (ua(0, false), ua(1, false));
    let t0 = Instant::now();
    a.message(t0);
    let m = sent(&mut a).pop().unwrap();
    assert!(
        m.starts_with("MESSAGE sip:sl1@example.test SIP/2.0\r\n"),
        "{m}"
    );
    let body = Message::parse(m.as_bytes()).unwrap().body.len();
    assert_eq!(body, 100);
    assert_eq!(a.outstanding(TxKind::Message), 1);
    b.on_message(m.as_bytes(), t0).unwrap();
    let ok = sent(&mut b).pop().unwrap();
    assert!(ok.starts_with("SIP/2.0 200 OK\r\n"), "{ok}");
    a.on_message(ok.as_bytes(), t0 + Duration::from_micros(700))
        .unwrap();
    let acts = a.take_actions();
    assert_eq!(done(&acts), vec![(TxKind::Message, true)]);
    assert!(
        matches!(acts[0], Action::Done { latency, .. } if latency == Duration::from_micros(700))
    );
    assert!(a.settled());
    // A 404 is a failed MESSAGE with its status.
    a.message(t0);
    let m = sent(&mut a).pop().unwrap();
    let nf = build::response(
        &Message::parse(m.as_bytes()).unwrap(),
        404,
        "Not Found",
        "",
        "",
    );
    a.on_message(nf.as_bytes(), t0).unwrap();
    let acts = a.take_actions();
    assert!(matches!(
        &acts[0],
        Action::Done {
            result: Err(LoadError::SipStatus(404)),
            ..
        }
    ));
}

#[test]
fn a_call_runs_invite_180_200_ack_hold_bye() {
    let (mut a, mut b) = (ua(0, true), ua(1, true));
    let t0 = Instant::now();
    a.call(t0);
    let invite = sent(&mut a).pop().unwrap();
    assert!(invite.contains("Content-Type: application/sdp\r\n"));
    assert!(invite.len() > 1700, "WebRTC-sized offer: {}", invite.len());
    assert!(invite.contains(";transport=ws;ob>"));
    // The proxy adds its Record-Route; the callee copies it into its answers.
    let proxied = invite.replacen(
        "Max-Forwards: 69\r\n",
        "Max-Forwards: 68\r\nRecord-Route: <sip:edge2;lr>, <sip:edge1;lr>\r\n",
        1,
    );
    b.on_message(proxied.as_bytes(), t0).unwrap();
    let answers = sent(&mut b);
    assert_eq!(answers.len(), 2);
    assert!(answers[0].starts_with("SIP/2.0 180 Ringing"));
    assert!(answers[1].starts_with("SIP/2.0 200 OK"));
    assert!(answers[1].contains("Record-Route: <sip:edge2;lr>, <sip:edge1;lr>\r\n"));
    assert!(answers[1].ends_with(build::ANSWER));
    for r in &answers {
        a.on_message(r.as_bytes(), t0 + Duration::from_millis(2))
            .unwrap();
    }
    let acts = a.take_actions();
    assert_eq!(done(&acts), vec![(TxKind::Invite, true)]);
    let ack = match &acts[0] {
        Action::Send(m) => m.clone(),
        other => panic!("ACK first, got {other:?}"),
    };
    assert!(ack.starts_with("ACK sip:"), "{ack}");
    assert!(
        ack.contains("Route: <sip:edge1;lr>, <sip:edge2;lr>\r\n"),
        "route set is the Record-Route reversed: {ack}"
    );
    assert_eq!(a.calls(), 1);
    b.on_message(ack.as_bytes(), t0).unwrap();
    assert!(sent(&mut b).is_empty(), "ACK is not answered");

    // Halfway: hold.
    let at = a.next_timer().unwrap();
    assert_eq!(at - (t0 + Duration::from_millis(2)), Duration::from_secs(1));
    a.on_timer(at);
    let hold = sent(&mut a).pop().unwrap();
    assert!(
        hold.starts_with("INVITE ") && hold.contains("a=sendonly"),
        "{hold}"
    );
    assert!(hold.contains(";tag="), "in dialog: {hold}");
    b.on_message(hold.as_bytes(), at).unwrap();
    let ok = sent(&mut b).pop().unwrap();
    assert!(ok.contains("a=recvonly"));
    a.on_message(ok.as_bytes(), at).unwrap();
    let acts = a.take_actions();
    assert_eq!(done(&acts), vec![(TxKind::Hold, true)]);
    assert!(matches!(&acts[0], Action::Send(m) if m.starts_with("ACK ")));

    // The end: BYE.
    let at = a.next_timer().unwrap();
    a.on_timer(at);
    let bye = sent(&mut a).pop().unwrap();
    assert!(bye.starts_with("BYE "), "{bye}");
    b.on_message(bye.as_bytes(), at).unwrap();
    let ok = sent(&mut b).pop().unwrap();
    a.on_message(ok.as_bytes(), at).unwrap();
    assert_eq!(done(&a.take_actions()), vec![(TxKind::Bye, true)]);
    assert_eq!(a.calls(), 0);
    assert!(a.settled());
}

#[test]
fn a_refused_invite_is_acked_with_its_own_branch() {
    let mut a = ua(0, false);
    let t0 = Instant::now();
    a.call(t0);
    let invite = sent(&mut a).pop().unwrap();
    let m = Message::parse(invite.as_bytes()).unwrap();
    let busy = build::response(&m, 486, "Busy Here", "", "");
    a.on_message(busy.as_bytes(), t0).unwrap();
    let acts = a.take_actions();
    let ack = match &acts[0] {
        Action::Send(s) => s.clone(),
        other => panic!("{other:?}"),
    };
    let ackm = Message::parse(ack.as_bytes()).unwrap();
    assert_eq!(ackm.top_branch(), m.top_branch());
    assert_eq!(ackm.cseq().unwrap(), (m.cseq().unwrap().0, "ACK"));
    assert!(matches!(
        &acts[1],
        Action::Done {
            kind: TxKind::Invite,
            result: Err(LoadError::SipStatus(486)),
            ..
        }
    ));
    assert_eq!(a.calls(), 0);
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    let mut a = ua(0, false);
    assert!(matches!(
        a.on_message(b"hello", Instant::now()),
        Err(LoadError::BadSip(_))
    ));
    // An unknown method gets 405.
    let req = "NOTIFY sip:sl0@x.invalid SIP/2.0\r\nVia: SIP/2.0/WS y;branch=z9hG4bKn\r\n\
From: <sip:s@x>;tag=1\r\nTo: <sip:sl0@example.test>\r\nCall-ID: n1\r\nCSeq: 3 NOTIFY\r\n\r\n";
    a.on_message(req.as_bytes(), Instant::now()).unwrap();
    assert!(sent(&mut a)[0].starts_with("SIP/2.0 405 "));
}

#[test]
fn a_resumed_registration_keeps_its_call_id_and_numbers_on() {
    let id = || Identity::new(4, 8, "example.test", &mut fastrand::Rng::with_seed(4));
    let reg = ("callid-one".to_owned(), "tag-one".to_owned());
    let mut first = Ua::resuming(id(), settings(false), reg.clone(), 1000);
    first.register(Instant::now());
    let mut again = Ua::resuming(id(), settings(false), reg, 5000);
    again.register(Instant::now());
    for (req, cseq) in [
        (&sent(&mut first)[0], "1001"),
        (&sent(&mut again)[0], "5001"),
    ] {
        let m = Message::parse(req.as_bytes()).unwrap();
        assert_eq!(m.header("call-id"), Some("callid-one"), "{req}");
        assert!(m.header("from").unwrap().ends_with("tag=tag-one"), "{req}");
        assert_eq!(
            m.header("cseq"),
            Some(format!("{cseq} REGISTER").as_str()),
            "{req}"
        );
    }
}

#[test]
fn the_callee_sends_its_200_again_until_the_ack_and_answers_a_retransmitted_invite_alike() {
    let (mut a, mut b) = (ua(0, false), ua(1, false));
    let t0 = Instant::now();
    a.call(t0);
    let invite = sent(&mut a).pop().unwrap();
    b.on_message(invite.as_bytes(), t0).unwrap();
    let ok = sent(&mut b).pop().unwrap();
    assert!(ok.starts_with("SIP/2.0 200 OK"), "{ok}");
    // The 200 was lost: T1, then doubling up to T2.
    let mut at = t0;
    for gap in [500, 1000, 2000, 4000, 4000] {
        let next = b.next_timer().unwrap();
        assert_eq!(next - at, Duration::from_millis(gap));
        b.on_timer(next);
        assert_eq!(sent(&mut b), vec![ok.clone()]);
        at = next;
    }
    // The INVITE came again (the proxy retransmits it): the same 200, no new 180.
    b.on_message(invite.as_bytes(), at).unwrap();
    assert_eq!(sent(&mut b), vec![ok.clone()]);
    // The caller gets the 200 twice: one ACK each time, one finished INVITE.
    a.on_message(ok.as_bytes(), at).unwrap();
    let acts = a.take_actions();
    assert_eq!(done(&acts), vec![(TxKind::Invite, true)]);
    let ack = match &acts[0] {
        Action::Send(m) => m.clone(),
        other => panic!("ACK first, got {other:?}"),
    };
    a.on_message(ok.as_bytes(), at).unwrap();
    let again = a.take_actions();
    assert!(done(&again).is_empty());
    assert!(
        matches!(&again[..], [Action::Send(m)] if m.starts_with("ACK ")),
        "{again:?}"
    );
    // The ACK stops the retransmissions.
    b.on_message(ack.as_bytes(), at).unwrap();
    assert!(sent(&mut b).is_empty());
    assert_eq!(b.next_timer(), None, "nothing else to do");
    b.on_timer(at + Duration::from_secs(5));
    assert!(sent(&mut b).is_empty(), "nothing sent once ACKed");
}

#[test]
fn the_callee_gives_up_on_an_ack_after_64_t1() {
    let (mut a, mut b) = (ua(0, false), ua(1, false));
    let t0 = Instant::now();
    a.call(t0);
    let invite = sent(&mut a).pop().unwrap();
    b.on_message(invite.as_bytes(), t0).unwrap();
    sent(&mut b);
    let mut times = 0;
    while let Some(at) = b
        .next_timer()
        .filter(|t| *t <= t0 + Duration::from_secs(60))
    {
        b.on_timer(at);
        times += sent(&mut b).len();
    }
    // At 0.5, 1.5, 3.5, 7.5, then every 4 s until 32 s.
    assert_eq!(times, 10);
}
