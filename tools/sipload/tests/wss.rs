//! wss:// end to end: sipload's TLS client against the workspace's `wsecho` (ringmux TLS) and against
//! `sipedged` with bearer authentication, tokens minted by `sipload mint-token`.

mod common;

use std::process::Command;

use common::{TempDir, free_port, show, sipload_json, start, test_pki, workspace_bin};

fn n(j: &serde_json::Value, key: &str) -> u64 {
    j[key].as_u64().unwrap_or(u64::MAX)
}

#[test]
fn echo_over_wss_with_a_private_ca_resumes_sessions() {
    let dir = TempDir::new("wss-echo");
    let (ca, cert, key) = test_pki(&dir, "echo");
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
    .arg("--tls-cert")
    .arg(&cert)
    .arg("--tls-key")
    .arg(&key);
    let _echo = start(cmd, port, &dir.0.join("wsecho.log"));
    let target = format!("wss://localhost:{port}/");
    let ca = ca.to_str().unwrap();

    // 20 connections, 50/s: the later ones find the first ones' sessions in the worker's cache.
    let (out, j) = sipload_json(
        &dir,
        &[
            "echo",
            "--target",
            &target,
            "--ca",
            ca,
            "--connections",
            "20",
            "--ramp",
            "50/s",
            "--rate",
            "100/s",
            "--duration",
            "1",
            "--size",
            "200",
        ],
    );
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(n(&j, "connections_ok"), 20, "{j}");
    assert_eq!(n(&j, "connections_failed"), 0, "{j}");
    assert_eq!(n(&j, "messages_failed"), 0, "{}", j["errors"]);
    assert!(n(&j, "messages_ok") >= 50, "{j}");
    assert_eq!(n(&j, "tls_full") + n(&j, "tls_resumed"), 20, "{j}");
    assert!(n(&j, "tls_resumed") >= 1, "no TLS session resumed: {j}");

    // Another CA does not vouch for this certificate: every connection fails, with the reason.
    let (other_ca, _, _) = test_pki(&dir, "other");
    let (out, j) = sipload_json(
        &dir,
        &[
            "echo",
            "--target",
            &target,
            "--ca",
            other_ca.to_str().unwrap(),
            "--connections",
            "4",
            "--duration",
            "0",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert_eq!(n(&j, "connections_failed"), 4, "{j}");
    let errors = j["errors"].to_string();
    assert!(errors.contains("tls: invalid peer certificate"), "{errors}");

    // --insecure takes the certificate as it comes.
    let (out, j) = sipload_json(
        &dir,
        &[
            "echo",
            "--target",
            &target,
            "--insecure",
            "--connections",
            "3",
            "--duration",
            "0",
        ],
    );
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(n(&j, "connections_ok"), 3, "{j}");

    // A CA file that is not one is a flag error (exit 2), not a panic nor a run.
    let junk = dir.file("junk.pem", "hello\n");
    let out = Command::new(env!("CARGO_BIN_EXE_sipload"))
        .args(["echo", "--target", &target, "--duration", "0", "--ca"])
        .arg(&junk)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--ca") && !err.contains("panicked"), "{err}");
}

/// sipedged on wss:// with `[auth] mode = "bearer"`.
fn gateway(dir: &TempDir) -> (common::Server, u16, String) {
    let (ca, cert, key) = test_pki(dir, "gw");
    let port = free_port();
    let cfg = dir.file(
        "sipedge.toml",
        &format!(
            "[[listen]]\naddress = \"127.0.0.1:{port}\"\ntls = {{ cert = \"{}\", key = \"{}\" }}\n\
             [runtime]\nworkers = 2\n[admin]\nenabled = false\n\
             [auth]\nmode = \"bearer\"\nsecret = \"test-secret-of-at-least-32-bytes\"\naudience = \"sipedge\"\n",
            cert.display(),
            key.display()
        ),
    );
    let mut cmd = Command::new(workspace_bin("sipedged", "sipedged"));
    cmd.arg("--config").arg(&cfg);
    let server = start(cmd, port, &dir.0.join("sipedged.log"));
    (server, port, ca.to_str().unwrap().to_owned())
}

fn mint(dir: &TempDir, name: &str, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_sipload"))
        .arg("mint-token")
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    dir.file(name, &text).to_str().unwrap().to_owned()
}

#[test]
fn register_over_wss_with_minted_bearer_tokens() {
    let dir = TempDir::new("wss-sip");
    let (_gw, port, ca) = gateway(&dir);
    let target = format!("wss://localhost:{port}/");
    let tokens = mint(
        &dir,
        "tokens.txt",
        &[
            "--secret",
            "test-secret-of-at-least-32-bytes",
            "--aud",
            "sipedge",
            "--count",
            "30",
            "--ttl",
            "600",
        ],
    );
    assert_eq!(
        std::fs::read_to_string(&tokens).unwrap().lines().count(),
        30
    );
    let base = [
        "register",
        "--target",
        &target,
        "--ca",
        &ca,
        "--token-file",
        &tokens,
        "--connections",
        "30",
        "--procs",
        "2",
        "--duration",
        "0",
    ];
    for extra in [&[][..], &["--token-query"]] {
        let args: Vec<&str> = base.iter().chain(extra).copied().collect();
        let (out, j) = sipload_json(&dir, &args);
        assert!(out.status.success(), "{extra:?}: {}", show(&out));
        assert_eq!(n(&j, "connections_ok"), 30, "{j}");
        assert_eq!(n(&j, "connections_failed"), 0, "{j}");
        assert_eq!(n(&j, "messages_failed"), 0, "{}", j["errors"]);
        assert_eq!(j["transactions"]["REGISTER"]["ok"], 60, "{j}");
    }

    // A token signed with another secret: 401 at the upgrade, for every connection.
    let forged = mint(
        &dir,
        "forged.txt",
        &[
            "--secret",
            "not-the-secret",
            "--aud",
            "sipedge",
            "--count",
            "8",
        ],
    );
    // A token for another audience: 403.
    let foreign = mint(
        &dir,
        "foreign.txt",
        &[
            "--secret",
            "test-secret-of-at-least-32-bytes",
            "--aud",
            "elsewhere",
            "--count",
            "8",
        ],
    );
    for (file, status) in [(&forged, 401), (&foreign, 403)] {
        let (out, j) = sipload_json(
            &dir,
            &[
                "register",
                "--target",
                &target,
                "--ca",
                &ca,
                "--token-file",
                file,
                "--connections",
                "8",
                "--duration",
                "0",
            ],
        );
        assert_eq!(out.status.code(), Some(1), "{}", show(&out));
        assert_eq!(n(&j, "connections_ok"), 0, "{j}");
        assert_eq!(n(&j, "connections_failed"), 8, "{j}");
        let key = format!("handshake: server answered {status} instead of 101 (RFC 6455 §4.1)");
        assert_eq!(j["errors"][&key], 8, "{}", j["errors"]);
    }

    // The identity a token names is bound to the flow: tokens for sl100.. do not let sl0.. register.
    let shifted = mint(
        &dir,
        "shifted.txt",
        &[
            "--secret",
            "test-secret-of-at-least-32-bytes",
            "--aud",
            "sipedge",
            "--first",
            "100",
            "--count",
            "4",
        ],
    );
    let (out, j) = sipload_json(
        &dir,
        &[
            "register",
            "--target",
            &target,
            "--ca",
            &ca,
            "--token-file",
            &shifted,
            "--connections",
            "4",
            "--duration",
            "0",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert_eq!(j["errors"]["REGISTER: answered 403"], 4, "{}", j["errors"]);
}

#[test]
fn token_flags_are_checked() {
    let dir = TempDir::new("wss-flags");
    let empty = dir.file("empty.txt", "\n");
    for args in [
        &["register", "--token-query", "--duration", "0"][..],
        &["register", "--cookie", "novalue", "--duration", "0"],
        &[
            "register",
            "--token-file",
            empty.to_str().unwrap(),
            "--duration",
            "0",
        ],
        &["register", "--token", "a b", "--duration", "0"],
        &["echo", "--ca", "x.pem", "--duration", "0"],
        &["mint-token", "--secret", ""],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_sipload"))
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", show(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !err.is_empty() && !err.contains("panicked"),
            "{args:?}: {err}"
        );
    }
    let out = Command::new(env!("CARGO_BIN_EXE_sipload"))
        .args(["register", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for f in [
        "--ca",
        "--insecure",
        "INSECURE",
        "--token",
        "--token-file",
        "--token-query",
        "--cookie",
    ] {
        assert!(help.contains(f), "{f} missing from --help");
    }
}
