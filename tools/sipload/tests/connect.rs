//! `sipload connect` against sipedged's per-IP handshake rate: the refusals are counted by reason.

mod common;

use std::process::Command;

use common::{TempDir, free_port, show, sipload_json, start, workspace_bin};

#[test]
fn a_connection_flood_is_refused_with_503_and_counted() {
    let dir = TempDir::new("connect");
    let port = free_port();
    let cfg = dir.file(
        "sipedge.toml",
        &format!(
            "[[listen]]\naddress = \"127.0.0.1:{port}\"\n[runtime]\nworkers = 2\n[admin]\nenabled = false\n\
             [limits]\nhandshakes_per_ip_per_second = 5\nhandshake_burst = 10\n"
        ),
    );
    let mut cmd = Command::new(workspace_bin("sipedged", "sipedged"));
    cmd.arg("--config").arg(&cfg);
    let _gw = start(cmd, port, &dir.0.join("sipedged.log"));
    let target = format!("ws://127.0.0.1:{port}/");
    // 100 connections in 0.1 s from one address: about the burst of 10 get through.
    let (out, j) = sipload_json(
        &dir,
        &[
            "connect",
            "--target",
            &target,
            "--connections",
            "100",
            "--ramp",
            "1000/s",
            "--sources",
            "127.0.0.2",
            "--hold",
            "1",
            "--duration",
            "1",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let ok = j["connections_ok"].as_u64().unwrap();
    let failed = j["connections_failed"].as_u64().unwrap();
    assert_eq!(ok + failed, 100, "{j}");
    assert!((5..=20).contains(&ok), "about the burst should pass: {j}");
    let key = "handshake: server answered 503 instead of 101 (RFC 6455 §4.1)";
    assert_eq!(j["errors"][key].as_u64(), Some(failed), "{}", j["errors"]);
    assert_eq!(j["messages_failed"], 0, "the accepted ones stayed up: {j}");
}

#[test]
fn connect_and_mint_token_help_name_their_flags() {
    for (cmd, flags) in [
        (
            "connect",
            &[
                "--no-subprotocol",
                "--ramp",
                "--sources",
                "--token",
                "--insecure",
            ][..],
        ),
        (
            "mint-token",
            &[
                "--secret",
                "--aud",
                "--user-prefix",
                "--domain",
                "--count",
                "--first",
                "--ttl",
                "--identity-claim",
            ],
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_sipload"))
            .args([cmd, "--help"])
            .output()
            .unwrap();
        let help = String::from_utf8_lossy(&out.stdout);
        for f in flags {
            assert!(help.contains(f), "{cmd}: {f} missing");
        }
    }
}
