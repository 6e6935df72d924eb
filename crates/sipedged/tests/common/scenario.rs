//! The two-user scenario run through sipedge standalone and through sipedge in front of Kamailio:
//! REGISTER, a UTF-8 MESSAGE, INVITE/180/200/ACK/BYE, a 6 KB MESSAGE.

use super::*;

/// The Record-Route values of a message, in order.
fn record_routes(m: &[u8]) -> Vec<String> {
    let msg = sipscan::Message::parse(m).unwrap();
    msg.record_routes()
        .map(|r| format!("<{}>", text(r.unwrap().uri_bytes)))
        .collect()
}

fn sdp(len: usize) -> String {
    let mut s = String::from(
        "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 127.0.0.1\r\n",
    );
    while s.len() < len {
        s.push_str(
            "a=candidate:1 1 udp 2122194687 127.0.0.1 50413 typ host generation 0 network-id 1\r\n",
        );
    }
    s
}

pub fn run(port: u16) {
    let mut alice = Ua::new("alice", port);
    let mut bob = Ua::new("bob", port);
    for ua in [&mut alice, &mut bob] {
        let r = ua.register(300);
        assert_eq!(status(&r), 200, "REGISTER: {}", text(&r));
    }

    // A UTF-8 MESSAGE, and its 200 back.
    let body = "héllo ✓ 日本 — Grüße 🎉";
    let m = alice.request(
        "MESSAGE",
        "sip:bob@example.test",
        "<sip:bob@example.test>",
        "msg-1",
        "Content-Type: text/plain;charset=utf-8\r\n",
        body,
    );
    alice.ws.send(&m);
    let got = bob.ws.recv();
    assert!(got.starts_with(b"MESSAGE "), "bob got {}", text(&got));
    assert!(
        got.ends_with(body.as_bytes()),
        "body intact: {}",
        text(&got)
    );
    bob.ws.send(&answer(&got, 200, "OK", ""));
    assert_eq!(status(&alice.ws.recv_final()), 200);

    // INVITE / 180 / 200 / ACK / BYE.
    let offer = sdp(1700);
    let contact = format!(
        "Contact: <sip:alice@{};transport=ws;ob>\r\nContent-Type: application/sdp\r\n",
        alice.host
    );
    let invite = alice.request(
        "INVITE",
        "sip:bob@example.test",
        "<sip:bob@example.test>",
        "call-1",
        &contact,
        &offer,
    );
    alice.ws.send(&invite);
    let inv = loop {
        let m = bob.ws.recv();
        if m.starts_with(b"INVITE ") {
            break m;
        }
    };
    assert!(inv.ends_with(offer.as_bytes()), "SDP intact");
    let rr = record_routes(&inv);
    assert!(rr.len() >= 2, "double Record-Route: {rr:?}");
    let bob_contact = format!("Contact: <sip:bob@{};transport=ws>\r\n", bob.host);
    bob.ws.send(&answer(&inv, 180, "Ringing", &bob_contact));
    // Over UDP to the core, a 200 sent right behind the 180 may overtake it: wait for the 180 first.
    let ringing = loop {
        let m = alice.ws.recv();
        if !m.starts_with(b"SIP/2.0 100 ") {
            break m;
        }
    };
    assert_eq!(status(&ringing), 180, "{}", text(&ringing));
    bob.ws.send(&answer(&inv, 200, "OK", &bob_contact));
    let ok = alice.ws.recv();
    assert_eq!(status(&ok), 200, "{}", text(&ok));
    let to = header(&ok, "To").unwrap();
    // Alice's route set: the 200's Record-Route reversed (RFC 3261 §12.1.2).
    let mut route: Vec<String> = record_routes(&ok);
    route.reverse();
    let route = format!("Route: {}\r\n", route.join(", "));
    let bob_uri = format!("sip:bob@{};transport=ws", bob.host);
    let ack = alice
        .request("ACK", &bob_uri, &to, "call-1", &route, "")
        .replace(
            &format!("CSeq: {} ACK", alice.cseq),
            &format!("CSeq: {} ACK", alice.cseq - 1),
        );
    alice.ws.send(&ack);
    let got_ack = bob.ws.recv();
    assert!(got_ack.starts_with(b"ACK "), "bob got {}", text(&got_ack));

    // Bob hangs up: his route set is the INVITE's Record-Route in order.
    let bob_route = format!("Route: {}\r\n", rr.join(", "));
    let from_alice = header(&inv, "From").unwrap();
    let mut bye = bob.request(
        "BYE",
        &format!("sip:alice@{};transport=ws;ob", alice.host),
        &from_alice,
        "call-1",
        &bob_route,
        "",
    );
    bye = bye.replace(
        &format!("From: \"bob\" <sip:bob@example.test>;tag={}", bob.tag),
        &format!("From: {to}"),
    );
    bob.ws.send(&bye);
    let got_bye = alice.ws.recv();
    assert!(got_bye.starts_with(b"BYE "), "alice got {}", text(&got_bye));
    alice.ws.send(&answer(&got_bye, 200, "OK", ""));
    assert_eq!(status(&bob.ws.recv_final()), 200);

    // A 6 KB MESSAGE.
    let big: String = "0123456789abcdef".repeat(6 * 1024 / 16);
    let m = alice.request(
        "MESSAGE",
        "sip:bob@example.test",
        "<sip:bob@example.test>",
        "msg-2",
        "Content-Type: text/plain\r\n",
        &big,
    );
    alice.ws.send(&m);
    let got = bob.ws.recv();
    assert!(
        got.starts_with(b"MESSAGE ") && got.ends_with(big.as_bytes()),
        "6 KB body intact"
    );
    bob.ws.send(&answer(&got, 200, "OK", ""));
    assert_eq!(status(&alice.ws.recv_final()), 200);

    // Un-REGISTER.
    for ua in [&mut alice, &mut bob] {
        let r = ua.register(0);
        assert_eq!(status(&r), 200, "un-REGISTER: {}", text(&r));
    }
}
