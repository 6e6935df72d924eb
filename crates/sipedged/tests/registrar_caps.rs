//! Issue 19 item 8 over real sockets: the standalone registrar (no `[auth]`) caps the bindings one WebSocket
//! connection holds (403) and the bindings of the node (503 with Retry-After), counted in
//! `sipedge_routing_failures_total`; a closed connection gives its room back.

mod common;

use std::time::{Duration, Instant};

use common::*;

/// Register `user@example.test` on `ws`; the WebSocket back and the final answer.
fn register_as(ws: WsSip, user: &str) -> (WsSip, Vec<u8>) {
    let mut ua = Ua::on(user, ws);
    let answer = ua.register(600);
    (ua.ws_take(), answer)
}

#[test]
fn one_connection_cannot_register_unlimited_aors() {
    // The defaults: 16 bindings per connection in each of the 2 workers' registrar shards.
    let gw = Gateway::start("");
    let mut ws = WsSip::connect(gw.port);
    let (mut accepted, mut refused) = (0, 0);
    for i in 0..100 {
        let (back, answer) = register_as(ws, &format!("user{i}"));
        ws = back;
        match status(&answer) {
            200 => accepted += 1,
            403 => {
                assert!(
                    answer.starts_with(b"SIP/2.0 403 Too Many Bindings On This Connection\r\n"),
                    "{}",
                    text(&answer)
                );
                refused += 1;
            }
            other => panic!("AoR {i}: {other}: {}", text(&answer)),
        }
    }
    assert_eq!(
        (accepted, refused),
        (32, 68),
        "16 AoRs in each of the 2 shards"
    );
    assert_eq!(
        gw.metric("sipedge_routing_failures_total{reason=\"registrar_connection_cap\"}"),
        68
    );
    // Another connection is not affected.
    let (_other, answer) = register_as(WsSip::connect(gw.port), "user100");
    assert_eq!(status(&answer), 200, "{}", text(&answer));
}

#[test]
fn a_full_registrar_answers_503_with_retry_after_until_a_connection_closes() {
    // 4 bindings in all: 2 in each of the 2 workers' shards.
    let gw = Gateway::start("[registrar]\nmax_bindings = 4\n");
    let mut held = Vec::new();
    let mut full = None;
    for i in 0..5 {
        let user = format!("user{i}");
        let (ws, answer) = register_as(WsSip::connect(gw.port), &user);
        match status(&answer) {
            200 => held.push((ws, user)),
            503 => {
                full = Some((user, answer));
                break;
            }
            other => panic!("{user}: {other}: {}", text(&answer)),
        }
    }
    let (refused, answer) = full.expect("a fifth binding does not fit in 2 shards of 2");
    assert!(
        answer.starts_with(b"SIP/2.0 503 Registrar Full\r\n"),
        "{}",
        text(&answer)
    );
    assert_eq!(header(&answer, "Retry-After").as_deref(), Some("60"));
    assert!(gw.metric("sipedge_routing_failures_total{reason=\"registrar_full\"}") >= 1);
    // A full node still takes refreshes.
    let (ws, user) = held.pop().expect("some bindings were taken");
    let mut ua = Ua::on(&user, ws);
    ua.cseq = 10;
    assert_eq!(status(&ua.register(600)), 200);
    // Closing the connections gives the room back.
    drop(ua);
    held.clear();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (_ws, answer) = register_as(WsSip::connect(gw.port), &refused);
        if status(&answer) == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "still {}", text(&answer));
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn check_refuses_a_registrar_cap_of_zero() {
    let dir = TempDir::new("registrar-check");
    let cfg = dir.0.join("c.toml");
    let check = |registrar: &str| {
        std::fs::write(&cfg, format!("[registrar]\n{registrar}")).unwrap();
        std::process::Command::new(env!("CARGO_BIN_EXE_sipedged"))
            .arg("--check")
            .arg("--config")
            .arg(&cfg)
            .output()
            .unwrap()
    };
    for key in ["max_bindings_per_connection", "max_bindings"] {
        let out = check(&format!("{key} = 0\n"));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains(&format!("registrar.{key} must be > 0")),
            "{err}"
        );
    }
    let out = check("max_bindings_per_connection = 4\nmax_bindings = 100\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
