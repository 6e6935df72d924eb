//! Bad input from browsers: each answered with its status code, never a panic.

mod common;

use common::*;
use edge::time::Timestamp;
use edge::{Action, Mode};

const JSSIP: &str = "jssip-kamailio-session.txt";
const NOW: Timestamp = Timestamp(5_000);

fn answer(mode: Mode, bytes: &[u8]) -> Vec<Action> {
    let mut e = edge(mode);
    let mut out = Vec::new();
    e.from_client(&flow(1), bytes, NOW, &mut out);
    out
}

fn status_to_flow(actions: Vec<Action>) -> u16 {
    match one(actions) {
        Action::ToFlow { bytes, .. } => status(&bytes),
        other => panic!("expected an answer on the flow, got {other:?}"),
    }
}

#[test]
fn crlfcrlf_ping_gets_crlf_pong_and_crlf_pong_gets_nothing() {
    for mode in [Mode::Edge, Mode::Standalone] {
        match one(answer(mode, b"\r\n\r\n")) {
            Action::ToFlow { bytes, .. } => assert_eq!(bytes, b"\r\n"),
            other => panic!("{other:?}"),
        }
        assert!(answer(mode, b"\r\n").is_empty());
    }
}

#[test]
fn max_forwards_zero_is_483() {
    let m = text(&sent(JSSIP, "alice", "MESSAGE")).replace("Max-Forwards: 69", "Max-Forwards: 0");
    for mode in [Mode::Edge, Mode::Standalone] {
        assert_eq!(status_to_flow(answer(mode, m.as_bytes())), 483);
    }
}

#[test]
fn oversized_message_is_513() {
    let m = text(&sent(JSSIP, "alice", "MESSAGE"));
    let body = "x".repeat(20_000);
    let big = m.replace(
        "Content-Length: 51",
        &format!("Content-Length: {}", 51 + body.len()),
    ) + &body;
    assert_eq!(status_to_flow(answer(Mode::Edge, big.as_bytes())), 513);
}

#[test]
fn malformed_requests_are_400() {
    let m = text(&sent(JSSIP, "alice", "MESSAGE"));
    for bad in [
        m.replace("CSeq: 4909 MESSAGE", "CSeq: 4909 INVITE"), // CSeq method mismatch
        m.replace("Call-ID: mkq1hih4v2ulopbdhiud\r\n", ""),   // missing Call-ID
        m.replace("Content-Length: 51", "Content-Length: 500"), // longer than the message
        m.replace("CSeq: 4909 MESSAGE", "CSeq: x MESSAGE"),   // bad CSeq
    ] {
        for mode in [Mode::Edge, Mode::Standalone] {
            assert_eq!(status_to_flow(answer(mode, bad.as_bytes())), 400, "{bad}");
        }
    }
}

#[test]
fn garbage_never_panics() {
    for junk in [
        &b"\x00\x01\x02"[..],
        b"HELLO",
        b"SIP/2.0 200 OK\r\n\r\n",
        b"INVITE\r\n\r\n",
        b"\xff\xfe",
    ] {
        for mode in [Mode::Edge, Mode::Standalone] {
            let out = answer(mode, junk);
            assert!(
                out.iter()
                    .all(|a| matches!(a, Action::Drop(_) | Action::ToFlow { .. })),
                "{out:?}"
            );
        }
    }
}
