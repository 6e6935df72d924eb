//! (d) What sipedge answers to bad input, over real sockets: a forged flow token (403), a dead flow (430),
//! Max-Forwards 0 (483), an oversized message (close 1009 at the WebSocket layer, 513 for SIP size), a malformed
//! request (400), a handshake without the sip subprotocol (400).

mod common;

use std::net::UdpSocket;
use std::time::Duration;

use common::*;

#[test]
fn max_forwards_zero_and_malformed_requests() {
    let gw = Gateway::start("");
    let mut ua = Ua::new("alice", gw.port);
    let m = ua.request(
        "MESSAGE",
        "sip:bob@example.test",
        "<sip:bob@example.test>",
        "e1",
        "",
        "x",
    );
    ua.ws
        .send(&m.replace("Max-Forwards: 69", "Max-Forwards: 0"));
    assert_eq!(status(&ua.ws.recv()), 483);
    let m = ua.request(
        "MESSAGE",
        "sip:bob@example.test",
        "<sip:bob@example.test>",
        "e2",
        "",
        "x",
    );
    ua.ws.send(&m.replace(" MESSAGE\r\n", " INVITE\r\n"));
    let r = ua.ws.recv();
    assert_eq!(status(&r), 400, "CSeq method mismatch: {}", text(&r));
    let m = ua.request(
        "MESSAGE",
        "sip:bob@example.test",
        "<sip:bob@example.test>",
        "e3",
        "",
        "x",
    );
    ua.ws
        .send(&m.replace("Content-Length: 1", "Content-Length: 99"));
    assert_eq!(status(&ua.ws.recv()), 400);
    // Unknown user in standalone mode.
    let m = ua.request(
        "MESSAGE",
        "sip:nobody@example.test",
        "<sip:nobody@example.test>",
        "e4",
        "",
        "x",
    );
    ua.ws.send(&m);
    assert_eq!(status(&ua.ws.recv()), 404);
    // A CRLFCRLF keepalive is answered with CRLF (RFC 5626 §4.4.1).
    ua.ws.send("\r\n\r\n");
    assert_eq!(ua.ws.recv(), b"\r\n");
}

#[test]
fn oversized_message_closes_1009_and_large_sip_is_513() {
    let gw = Gateway::start("[limits]\nmax_message_size = 8192\n");
    let mut ua = Ua::new("alice", gw.port);
    let big = "x".repeat(9000);
    let m = ua.request(
        "MESSAGE",
        "sip:bob@example.test",
        "<sip:bob@example.test>",
        "big",
        "",
        &big,
    );
    ua.ws.send(&m);
    assert!(ua.ws.recv_timeout(Duration::from_secs(3)).is_none());
    assert_eq!(
        ua.ws.closed,
        Some(Some(1009)),
        "closed with 1009 Message Too Big"
    );
}

#[test]
fn handshake_without_sip_subprotocol_is_refused() {
    let gw = Gateway::start("");
    let err = WsSip::connect_with(gw.port, &["chat"])
        .err()
        .expect("refused");
    assert!(err.starts_with("HTTP/1.1 400"), "{err}");
    assert_eq!(
        gw.metric("sipedge_handshake_rejections_total{reason=\"no_sip_subprotocol\"}"),
        1
    );
}

/// Edge mode with a fake core (a UDP socket in the test): a request with a forged token gets 403, one for a
/// closed flow 430.
#[test]
fn forged_token_403_and_dead_flow_430() {
    let core = UdpSocket::bind("127.0.0.1:0").unwrap();
    core.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let core_port = core.local_addr().unwrap().port();
    let local = free_udp_pair();
    let gw = Gateway::start(&format!(
        "[core]\nuri = \"sip:127.0.0.1:{core_port};transport=udp\"\nlocal_address = \"127.0.0.1:{local}\"\n# a fake core: no OPTIONS probes\nprobes = false\n"
    ));
    // Register through the edge to learn our Path (with the flow token), as the core would.
    let mut ua = Ua::new("alice", gw.port);
    let to = "<sip:alice@example.test>";
    let reg = ua.request(
        "REGISTER",
        "sip:example.test",
        to,
        "r1",
        &format!(
            "Contact: {};reg-id=1;+sip.instance=\"<urn:uuid:1>\"\r\nSupported: path,outbound\r\n",
            ua.contact()
        ),
        "",
    );
    ua.ws.send(&reg);
    let mut buf = [0u8; 65536];
    let (n, from) = core.recv_from(&mut buf).unwrap();
    let forwarded = buf[..n].to_vec();
    let path = header(&forwarded, "Path").expect("Path added");
    assert!(path.contains(";ob>"), "{path}");
    let invite = |route: &str, n: u32| {
        format!(
            "INVITE sip:alice@alicews.invalid;transport=ws SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{core_port};branch=z9hG4bKcore{n}\r\n\
Route: {route}\r\nMax-Forwards: 70\r\nTo: <sip:alice@example.test>\r\nFrom: <sip:carol@example.test>;tag=c{n}\r\n\
Call-ID: core-{n}\r\nCSeq: 1 INVITE\r\nContact: <sip:carol@127.0.0.1:{core_port}>\r\nContent-Length: 0\r\n\r\n"
        )
    };
    // The real Path token reaches the browser.
    core.send_to(invite(&path, 1).as_bytes(), from).unwrap();
    let got = ua.ws.recv();
    assert!(got.starts_with(b"INVITE "), "{}", text(&got));
    // A forged token: 403.
    let forged = path.replacen("<sip:", "<sip:X", 1);
    core.send_to(invite(&forged, 2).as_bytes(), from).unwrap();
    let (n, _) = core.recv_from(&mut buf).unwrap();
    assert_eq!(status(&buf[..n]), 403, "{}", text(&buf[..n]));
    // The flow closes: 430 Flow Failed (the client registered with outbound).
    drop(ua);
    std::thread::sleep(Duration::from_millis(300));
    core.send_to(invite(&path, 3).as_bytes(), from).unwrap();
    let (n, _) = core.recv_from(&mut buf).unwrap();
    assert_eq!(status(&buf[..n]), 430, "{}", text(&buf[..n]));
}

/// TCP toward a core that is down: requests are answered 503 with Retry-After (connect refused, then backoff).
#[test]
fn core_down_over_tcp_is_503() {
    let dead = free_tcp_port(); // nothing listens there
    let gw = Gateway::start(&format!(
        "[core]\nuri = \"sip:127.0.0.1:{dead};transport=tcp\"\n"
    ));
    let mut ua = Ua::new("alice", gw.port);
    for i in 0..3 {
        let m = ua.request(
            "MESSAGE",
            "sip:bob@example.test",
            "<sip:bob@example.test>",
            &format!("down-{i}"),
            "",
            "x",
        );
        ua.ws.send(&m);
        let r = ua.ws.recv();
        assert_eq!(status(&r), 503, "{}", text(&r));
        assert_eq!(header(&r, "Retry-After").as_deref(), Some("5"));
        assert_eq!(
            header(&r, "Call-ID").as_deref(),
            Some(format!("down-{i}").as_str())
        );
    }
}
