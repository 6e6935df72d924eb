//! Environment variables in the configuration file, as a Kubernetes pod passes its own values into a shared
//! ConfigMap: `${NODE_ID}` in an integer position becomes the node id in the flow tokens the core sees,
//! `${POD_IP}` in strings the addresses written in Via and Record-Route; an unset variable, or a value that would
//! add TOML structure, is refused by `--check` and at start.

mod common;

use std::process::Command;
use std::time::Duration;

use common::fake_core::FakeCore;
use common::{Gateway, TempDir, Ua, free_udp_pair, status};

/// `sipedged --check` on `doc` with `env` set: (exit code, stdout, stderr).
fn check(doc: &str, env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let dir = TempDir::new("envcheck");
    let cfg = dir.0.join("sipedge.toml");
    std::fs::write(&cfg, doc).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sipedged"))
        .env_remove("SIPEDGE_TEST_UNSET")
        .envs(env.iter().copied())
        .arg("--check")
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The node id in a flow token (base64url; the first four bytes are the node id, big-endian).
fn token_node(token: &str) -> u32 {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bits = 0u64;
    for c in token.bytes().take(8) {
        let v = alphabet.iter().position(|&a| a == c).expect("base64url");
        bits = (bits << 6) | v as u64;
    }
    // 8 characters are 48 bits: the first 32 are the node id.
    (bits >> 16) as u32
}

#[test]
fn a_pods_values_reach_the_core_in_via_record_route_and_the_flow_token() {
    let core = FakeCore::start([127, 0, 0, 2]);
    let local = free_udp_pair();
    let (core_port, local_port) = (core.port.to_string(), local.to_string());
    let env = [
        ("SIPEDGE_TEST_NODE_ID", "4242"),
        ("SIPEDGE_TEST_POD_HOST", "edge-3.pods.test"),
        ("SIPEDGE_TEST_CORE_PORT", core_port.as_str()),
        ("SIPEDGE_TEST_LOCAL_PORT", local_port.as_str()),
    ];
    let gw = Gateway::start_with(
        "advertise = \"ws-${SIPEDGE_TEST_POD_HOST}:${SIPEDGE_TEST_WS_PORT:-443}\"\n",
        "[sip]\nnode_id = ${SIPEDGE_TEST_NODE_ID}\n[core]\n\
         uri = \"sip:127.0.0.2:${SIPEDGE_TEST_CORE_PORT};transport=udp\"\n\
         local_address = \"127.0.0.1:${SIPEDGE_TEST_LOCAL_PORT}\"\n\
         advertise_host = \"${SIPEDGE_TEST_POD_HOST}\"\n",
        &env,
    );
    let mut alice = Ua::new("alice", gw.port);
    // An INVITE: the edge records its route twice, once as the browsers see it, once as the core does.
    let sdp = "v=0\r\n";
    let m = alice.request(
        "INVITE",
        "sip:bob@example.test",
        "<sip:bob@example.test>",
        "env-values",
        "Contact: <sip:alice@alicews.invalid;transport=ws>\r\nContent-Type: application/sdp\r\n",
        sdp,
    );
    alice.ws.send(&m);
    let got = core
        .request(Duration::from_secs(3))
        .expect("the core gets the INVITE");
    assert_eq!(status(&alice.ws.recv_final()), 200);
    // Worker w sends from local_address's port + w.
    let core_side = [local, local + 1].map(|p| format!("edge-3.pods.test:{p}"));
    let via = got
        .lines()
        .find(|l| l.starts_with("Via: SIP/2.0/UDP "))
        .expect("the edge's Via");
    assert!(
        core_side.iter().any(|hp| via.contains(hp.as_str())),
        "{via}"
    );
    let rr: Vec<&str> = got
        .lines()
        .filter(|l| l.to_ascii_lowercase().starts_with("record-route:"))
        .collect();
    assert!(
        rr.iter()
            .any(|l| core_side.iter().any(|hp| l.contains(hp.as_str()))),
        "core-side Record-Route: {rr:?}"
    );
    assert!(
        rr.iter().any(|l| l.contains("ws-edge-3.pods.test:443")),
        "browser-side Record-Route: {rr:?}"
    );
    let token = via
        .split("sipedge-ft=")
        .nth(1)
        .expect("a flow token in the Via");
    assert_eq!(token_node(token), 4242, "{token}");
}

#[test]
fn check_names_an_unset_variable_and_its_line() {
    let doc = "[sip]\n# ${SIPEDGE_TEST_UNSET} in a comment is not read\nnode_id = ${SIPEDGE_TEST_UNSET}\n";
    let (code, _, err) = check(doc, &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("line 3") && err.contains("SIPEDGE_TEST_UNSET") && err.contains("not set"),
        "{err}"
    );
    let (code, out, err) = check(doc, &[("SIPEDGE_TEST_UNSET", "9")]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("configuration is valid"), "{out}");
    let doc = "[sip]\nnode_id = ${SIPEDGE_TEST_UNSET:-5}\n";
    assert_eq!(check(doc, &[]).0, Some(0));
}

#[test]
fn check_refuses_a_value_that_would_add_toml_structure() {
    // Outside a string: refused outright.
    let doc = "[sip]\nnode_id = ${SIPEDGE_TEST_NODE}\n";
    let (code, _, err) = check(
        doc,
        &[("SIPEDGE_TEST_NODE", "1\n[admin]\nlisten = \"0.0.0.0:1\"")],
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("SIPEDGE_TEST_NODE") && err.contains("line 2"),
        "{err}"
    );
    // Inside a string: it stays the string (here not an address, so the plan refuses it by its key).
    let doc = "[admin]\nlisten = \"${SIPEDGE_TEST_ADMIN}\"\n";
    let (code, _, err) = check(
        doc,
        &[("SIPEDGE_TEST_ADMIN", "127.0.0.1:1\"\nenabled = \"false")],
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("line 2") && err.contains("invalid socket address"),
        "{err}"
    );
}
