//! permessage-deflate (RFC 7692, issue 22): sipload offers it with `--deflate`, compresses what it sends and
//! inflates what it receives when the server agrees, and reports agreement and wire against payload bytes in
//! each direction. Against the workspace's `wsecho`, which accepts deflate unless `--no-deflate`.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;

use common::{TempDir, free_port, show, sipload_json, start, workspace_bin};
use wsproto::deflate::{Deflate, DeflateConfig, SharedCodecs};
use wsproto::{Config, Connection, Event, Role, ServerConfig, ServerHandshake};

fn n(j: &serde_json::Value, path: &[&str]) -> u64 {
    let mut v = j;
    for key in path {
        v = &v[*key];
    }
    v.as_u64().unwrap_or(u64::MAX)
}

/// A one-worker `wsecho` on a free port with `extra` flags; its guard and its `ws://` URL.
fn wsecho(dir: &TempDir, extra: &[&str]) -> (common::Server, String) {
    let port = free_port();
    let mut cmd = Command::new(workspace_bin("wsecho", "wsecho"));
    cmd.args([
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--workers",
        "1",
        "--run-for",
        "120",
    ])
    .args(extra);
    let server = start(cmd, port, &dir.0.join(format!("wsecho-{port}.log")));
    (server, format!("ws://127.0.0.1:{port}/"))
}

/// `sipload echo --sip --deflate` against `target`: 4 connections echoing a JsSIP-like INVITE for 1 s.
fn deflate_run(dir: &TempDir, target: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "echo",
        "--target",
        target,
        "--connections",
        "4",
        "--rate",
        "200/s",
        "--duration",
        "1",
        "--sip",
        "--deflate",
    ];
    args.extend_from_slice(extra);
    let (out, j) = sipload_json(dir, &args);
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(n(&j, &["connections_ok"]), 4, "{j}");
    assert_eq!(n(&j, &["messages_failed"]), 0, "{}", j["errors"]);
    assert!(n(&j, &["messages_ok"]) >= 50, "{j}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("permessage-deflate"), "{text}");
    j
}

#[test]
fn a_deflate_run_against_wsecho_agrees_and_puts_fewer_bytes_than_the_sip_payload_on_the_wire() {
    let dir = TempDir::new("deflate-on");
    let (_echo, target) = wsecho(&dir, &[]);
    // wsecho's policy (wsproto's default) answers no context takeover either way; the client follows it.
    for extra in [&[][..], &["--deflate-client-no-context-takeover"][..]] {
        let j = deflate_run(&dir, &target, extra);
        assert_eq!(n(&j, &["deflate", "offered"]), 4, "{j}");
        assert_eq!(n(&j, &["deflate", "agreed"]), 4, "{j}");
        let b = &j["bytes"];
        for dir in ["sent", "received"] {
            let (wire, payload) = (n(b, &[dir, "wire"]), n(b, &[dir, "payload"]));
            assert!(payload > 100_000, "{dir}: {b}");
            assert!(
                wire < payload,
                "{dir}: {wire} wire bytes for {payload} payload: {b}"
            );
        }
    }
}

#[test]
fn a_deflate_offer_declined_by_wsecho_still_echoes_uncompressed() {
    let dir = TempDir::new("deflate-off");
    let (_echo, target) = wsecho(&dir, &["--no-deflate"]);
    let j = deflate_run(&dir, &target, &["--deflate-client-max-window-bits", "10"]);
    assert_eq!(n(&j, &["deflate", "offered"]), 4, "{j}");
    assert_eq!(n(&j, &["deflate", "agreed"]), 0, "{j}");
    let b = &j["bytes"];
    for dir in ["sent", "received"] {
        let (wire, payload) = (n(b, &[dir, "wire"]), n(b, &[dir, "payload"]));
        assert!(payload > 100_000, "{dir}: {b}");
        assert!(wire > payload, "{dir}: frame headers come on top: {b}");
    }
}

#[test]
fn a_run_without_deflate_offers_nothing_and_counts_the_bytes() {
    let dir = TempDir::new("deflate-none");
    let (_echo, target) = wsecho(&dir, &[]);
    let args = [
        "echo",
        "--target",
        &target,
        "--connections",
        "2",
        "--duration",
        "0",
        "--size",
        "300",
    ];
    let (out, j) = sipload_json(&dir, &args);
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(n(&j, &["deflate", "offered"]), 0, "{j}");
    assert_eq!(n(&j, &["deflate", "agreed"]), 0, "{j}");
    assert_eq!(n(&j, &["bytes", "sent", "payload"]), 600, "{j}");
    assert_eq!(n(&j, &["bytes", "received", "payload"]), 600, "{j}");
    // 300-byte frames: 4 header bytes each, plus the 4-byte mask key on the client's.
    let received = n(&j, &["bytes", "received", "wire"]);
    assert!((608..700).contains(&received), "{j}");
    assert!(n(&j, &["bytes", "sent", "wire"]) >= 616, "{j}");
}

#[test]
fn deflate_knobs_are_refused_without_deflate_and_out_of_range() {
    for bad in [
        &["--deflate-client-no-context-takeover"][..],
        &["--deflate", "--deflate-client-max-window-bits", "7"][..],
        &["--deflate", "--deflate-server-max-window-bits", "16"][..],
        &["--deflate", "--deflate-level", "10"][..],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_sipload"))
            .args([
                "echo",
                "--target",
                "ws://127.0.0.1:9/",
                "--connections",
                "1",
            ])
            .args(bad)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", show(&out));
    }
}

/// A thread-per-connection echo server whose deflate policy allows context takeover both ways: it keeps its
/// window, and so may the client unless it offered `client_no_context_takeover`.
fn takeover_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || serve_takeover(stream));
        }
    });
    addr
}

fn serve_takeover(mut stream: TcpStream) {
    let policy = DeflateConfig {
        server_no_context_takeover: false,
        client_no_context_takeover: false,
        ..DeflateConfig::default()
    };
    let mut hs = ServerHandshake::new(ServerConfig {
        deflate: Some(policy),
        ..ServerConfig::default()
    });
    let mut buf = vec![0u8; 65536];
    let request = loop {
        let n = match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        match hs.feed(&buf[..n]) {
            Ok(Some(r)) => break r,
            Ok(None) => {}
            Err(_) => return,
        }
    };
    let mut out = Vec::new();
    request.write_accept(&mut out);
    let params = request
        .deflate
        .expect("sipload --deflate offers permessage-deflate");
    let mut deflate = Deflate::new(params, Role::Server, 6);
    let mut shared = SharedCodecs::new(6);
    let mut conn = Connection::new(Role::Server, Config::default());
    let mut input = request.leftover.clone();
    loop {
        let mut pos = 0;
        while pos < input.len() {
            let (compressor, decompressor) = deflate.codecs(&mut shared);
            let got = conn.receive_inflating(&mut input[pos..], decompressor);
            pos += got.consumed;
            let echo = match got.event {
                Some(Event::Message { kind, payload }) => Some((kind, payload.to_vec())),
                Some(_) => None,
                None => break,
            };
            if let Some((kind, payload)) = echo {
                let _ = conn.send_compressed(kind, &payload, &mut out, None, compressor);
            }
            while let Ok(true) = conn.poll_transmit(&mut out, None) {}
        }
        if stream.write_all(&out).is_err() || conn.is_closed() {
            return;
        }
        out.clear();
        let n = match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        input = buf[..n].to_vec();
    }
}

#[test]
fn a_deflate_client_follows_the_context_takeover_the_server_allows() {
    let dir = TempDir::new("deflate-takeover");
    let target = format!("ws://{}/", takeover_server());
    // Both keep their windows: every INVITE after the first is mostly a back-reference, both ways.
    let j = deflate_run(&dir, &target, &[]);
    assert_eq!(n(&j, &["deflate", "agreed"]), 4, "{j}");
    let b = &j["bytes"];
    for dir in ["sent", "received"] {
        let (wire, payload) = (n(b, &[dir, "wire"]), n(b, &[dir, "payload"]));
        assert!(
            wire * 10 < payload,
            "{dir}: {wire} wire bytes for {payload}: {b}"
        );
    }
    // The client asked to start each message afresh: the server agrees, and only the server keeps its window.
    let j = deflate_run(&dir, &target, &["--deflate-client-no-context-takeover"]);
    assert_eq!(n(&j, &["deflate", "agreed"]), 4, "{j}");
    let b = &j["bytes"];
    let (wire, payload) = (n(b, &["sent", "wire"]), n(b, &["sent", "payload"]));
    assert!(wire * 3 > payload && wire < payload, "sent: {b}");
    let (wire, payload) = (n(b, &["received", "wire"]), n(b, &["received", "payload"]));
    assert!(wire * 10 < payload, "received: {b}");
}
