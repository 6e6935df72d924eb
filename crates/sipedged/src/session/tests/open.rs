//! The open WebSocket: messages to the edge, rate limits, credential expiry, keepalive, and each way it closes.

use std::time::Duration;

use serde_json::json;
use wsproto::OpCode;

use super::*;

/// The close frame's code in transmitted bytes.
fn close_code(got: &[Rec]) -> Option<u16> {
    frames(&transmitted(got))
        .into_iter()
        .find(|(op, _)| *op == 0x88)
        .map(|(_, p)| u16::from_be_bytes([p[0], p[1]]))
}

#[test]
fn each_message_goes_to_the_edge_in_order() {
    let mut h = Harness::open(policy());
    let mut two = text(MESSAGE);
    two.extend_from_slice(&text(b"\r\n\r\n"));
    let got = h.feed(&two);
    let to_edge: Vec<_> = got
        .iter()
        .filter_map(|r| match r {
            Rec::ToEdge { message, .. } => Some(message.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(to_edge, vec![MESSAGE.to_vec(), b"\r\n\r\n".to_vec()]);
    assert!(got.contains(&Rec::Inbound(MESSAGE.to_vec())));
    assert_eq!(close_of(&got), None);
}

#[test]
fn a_message_split_across_reads_is_reassembled() {
    let mut h = Harness::open(policy());
    let f = text(MESSAGE);
    assert!(
        !h.feed(&f[..7])
            .iter()
            .any(|r| matches!(r, Rec::ToEdge { .. }))
    );
    let got = h.feed(&f[7..]);
    assert!(
        got.iter()
            .any(|r| matches!(r, Rec::ToEdge { message, .. } if message == MESSAGE))
    );
}

#[test]
fn over_the_request_rate_a_request_gets_503_and_goes_nowhere() {
    let mut p = policy();
    p.request_rate = rate(1, 2, OverRate::Reject);
    let mut h = Harness::open(p);
    let mut three = Vec::new();
    for _ in 0..3 {
        three.extend_from_slice(&text(MESSAGE));
    }
    let got = h.feed(&three);
    let forwarded = got
        .iter()
        .filter(|r| matches!(r, Rec::ToEdge { .. }))
        .count();
    assert_eq!(forwarded, 2, "the burst passes");
    assert!(got.contains(&Rec::Failed(RoutingFailure::RateLimited)));
    let answer = frames(&transmitted(&got));
    assert_eq!(answer.len(), 1);
    assert_eq!(answer[0].0, 0x81);
    assert!(
        answer[0].1.starts_with(b"SIP/2.0 503 "),
        "{:?}",
        String::from_utf8_lossy(&answer[0].1)
    );
    assert_eq!(close_of(&got), None);
    // Responses are never limited.
    let got = h.feed(&text(b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"));
    assert!(got.iter().any(|r| matches!(r, Rec::ToEdge { .. })));
    // A second later one more token.
    h.now += Duration::from_secs(1);
    assert!(
        h.feed(&text(MESSAGE))
            .iter()
            .any(|r| matches!(r, Rec::ToEdge { .. }))
    );
}

#[test]
fn over_the_request_rate_with_close_the_connection_closes_1008() {
    let mut p = policy();
    p.request_rate = rate(1, 1, OverRate::Close);
    let mut h = Harness::open(p);
    let mut two = text(MESSAGE);
    two.extend_from_slice(&text(MESSAGE));
    let got = h.feed(&two);
    assert_eq!(
        got.iter()
            .filter(|r| matches!(r, Rec::ToEdge { .. }))
            .count(),
        1
    );
    assert_eq!(close_code(&got), Some(1008));
    assert_eq!(close_of(&got), Some(Close::Graceful(Some(1008))));
    assert!(h.session.is_closed() && h.session.is_websocket());
}

#[test]
fn an_expired_credential_closes_1008_at_the_next_message() {
    let mut p = policy();
    p.auth = bearer_auth();
    let mut h = Harness::new(p);
    let t =
        token(json!({"sip_aor": "alice", "aud": "sipedge", "exp": crate::auth::unix_now() + 5}));
    let got = h.feed(&upgrade(
        "/",
        &format!("Sec-WebSocket-Protocol: sip\r\nAuthorization: Bearer {t}\r\n"),
    ));
    assert!(got.contains(&Rec::Opened));
    assert!(
        h.feed(&text(MESSAGE))
            .iter()
            .any(|r| matches!(r, Rec::ToEdge { .. }))
    );
    h.now += Duration::from_secs(7);
    let got = h.feed(&text(MESSAGE));
    assert!(
        !got.iter().any(|r| matches!(r, Rec::ToEdge { .. })),
        "{got:?}"
    );
    assert!(got.contains(&Rec::Failed(RoutingFailure::CredentialExpired)));
    assert_eq!(close_code(&got), Some(1008));
    assert_eq!(close_of(&got), Some(Close::Graceful(Some(1008))));
}

#[test]
fn with_refuse_register_an_expired_credential_keeps_the_flow() {
    let mut p = policy();
    p.auth = bearer_auth();
    p.on_expiry = OnExpiry::RefuseRegister;
    let mut h = Harness::new(p);
    let t =
        token(json!({"sip_aor": "alice", "aud": "sipedge", "exp": crate::auth::unix_now() + 5}));
    h.feed(&upgrade(
        "/",
        &format!("Sec-WebSocket-Protocol: sip\r\nAuthorization: Bearer {t}\r\n"),
    ));
    h.now += Duration::from_secs(7);
    let got = h.feed(&text(MESSAGE));
    assert!(
        got.iter().any(|r| matches!(r, Rec::ToEdge { .. })),
        "the edge refuses REGISTERs itself"
    );
    assert_eq!(close_of(&got), None);
}

#[test]
fn keepalive_pings_and_a_missing_pong_aborts() {
    let mut h = Harness::open(policy());
    let t0 = h.now;
    assert_eq!(h.session.poll_timeout(), Some(t0 + Duration::from_secs(30)));
    let got = h.advance(Duration::from_secs(30));
    assert_eq!(
        frames(&transmitted(&got)),
        vec![(0x89, Vec::new())],
        "a ping"
    );
    assert_eq!(close_of(&got), None);
    let got = h.advance(Duration::from_secs(30));
    assert!(got.contains(&Rec::Count(Counter::PongMissing, 1)));
    assert_eq!(close_of(&got), Some(Close::Abort(1001)));
}

#[test]
fn a_pong_keeps_the_connection() {
    let mut h = Harness::open(policy());
    h.advance(Duration::from_secs(30));
    h.feed(&frame(OpCode::Pong, b""));
    let got = h.advance(Duration::from_secs(30));
    assert_eq!(
        frames(&transmitted(&got)),
        vec![(0x89, Vec::new())],
        "the next ping, not a close"
    );
    assert_eq!(close_of(&got), None);
}

#[test]
fn a_ping_from_the_browser_is_answered() {
    let mut h = Harness::open(policy());
    let got = h.feed(&frame(OpCode::Ping, b"hi"));
    assert_eq!(frames(&transmitted(&got)), vec![(0x8a, b"hi".to_vec())]);
}

#[test]
fn an_idle_connection_is_closed_1001() {
    let mut p = policy();
    p.idle_timeout = Duration::from_secs(45);
    let mut h = Harness::open(p);
    h.advance(Duration::from_secs(30));
    h.feed(&frame(OpCode::Pong, b""));
    assert!(
        close_of(&h.advance(Duration::from_secs(20))).is_none(),
        "20 s after the pong"
    );
    let got = h.advance(Duration::from_secs(30));
    assert_eq!(close_code(&got), Some(1001));
    assert!(got.contains(&Rec::Closing(1001, "idle")), "{got:?}");
    assert_eq!(close_of(&got), Some(Close::Graceful(Some(1001))));
}

#[test]
fn the_browser_s_own_close_code_is_named_for_the_log() {
    let mut h = Harness::open(policy());
    let got = h.feed(&frame(OpCode::Close, &4000u16.to_be_bytes()));
    assert!(
        got.contains(&Rec::Closing(4000, "closed by the browser")),
        "{got:?}"
    );
    let mut h = Harness::open(policy());
    let got = h.feed(&frame(OpCode::Close, b""));
    assert!(
        got.contains(&Rec::Closing(1005, "closed by the browser")),
        "no status code: {got:?}"
    );
}

#[test]
fn the_browser_closing_is_answered_and_closed_1000() {
    let mut h = Harness::open(policy());
    let got = h.feed(&frame(OpCode::Close, &1000u16.to_be_bytes()));
    assert_eq!(close_code(&got), Some(1000));
    assert_eq!(close_of(&got), Some(Close::Graceful(Some(1000))));
    assert!(h.feed(&text(MESSAGE)).is_empty());
}

#[test]
fn a_protocol_error_closes_with_its_code() {
    let mut h = Harness::open(policy());
    // An unmasked frame from a client breaks RFC 6455 §5.1.
    let mut unmasked = Vec::new();
    wsproto::writer::write_frame(&mut unmasked, true, OpCode::Text, MESSAGE, None);
    let got = h.feed(&unmasked);
    assert!(got.contains(&Rec::Count(Counter::WsProtocolErrors, 1)));
    assert_eq!(close_code(&got), Some(1002));
    assert!(matches!(close_of(&got), Some(Close::Graceful(Some(_)))));
    let mut h = Harness::open(policy());
    let got = h.feed(&text(&[b'a', 0xff, b'b']));
    assert_eq!(
        close_code(&got),
        Some(1007),
        "invalid UTF-8 in a text message"
    );
}

#[test]
fn a_message_over_the_size_limit_closes_1009() {
    let mut p = policy();
    p.ws.max_message_size = 2048;
    p.ws.max_frame_size = 2048;
    let mut h = Harness::open(p);
    let got = h.feed(&text(&vec![b'a'; 4096]));
    assert_eq!(close_code(&got), Some(1009));
    assert!(!got.iter().any(|r| matches!(r, Rec::ToEdge { .. })));
}

#[test]
fn shutdown_sends_1001_and_closes() {
    let mut h = Harness::open(policy());
    let got = h.shutdown();
    assert_eq!(close_code(&got), Some(1001));
    assert_eq!(close_of(&got), Some(Close::Graceful(Some(1001))));
    assert!(h.session.is_websocket(), "its flow existed");
    let mut h = Harness::new(policy());
    let got = h.shutdown();
    assert_eq!(
        transmitted(&got),
        Vec::<u8>::new(),
        "no frame before the upgrade"
    );
    assert_eq!(close_of(&got), Some(Close::Graceful(Some(1001))));
}

#[test]
fn abandoned_sessions_ignore_input_and_keep_their_kind() {
    let mut h = Harness::open(policy());
    h.session.abandon();
    assert!(h.session.is_closed() && h.session.is_websocket());
    assert!(h.feed(&text(MESSAGE)).is_empty());
    assert!(h.advance(Duration::from_secs(600)).is_empty());
}
