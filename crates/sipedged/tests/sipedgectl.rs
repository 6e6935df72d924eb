//! sipedgectl against a running daemon: find a user, close its connection, reload; the token from the
//! environment; exit status 1 when the node refuses, 2 when it cannot be reached.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Gateway, Ua, free_tcp_port, status};

const TOKEN: &str = "sipedgectl-test-token-0123";

fn ctl(gw_admin: u16, token: Option<&str>, args: &[&str]) -> (i32, serde_json::Value, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sipedgectl"));
    c.arg("--admin").arg(format!("127.0.0.1:{gw_admin}"));
    c.env_remove("SIPEDGE_ADMIN_TOKEN");
    if let Some(t) = token {
        c.env("SIPEDGE_ADMIN_TOKEN", t);
    }
    let out = c.args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let json = serde_json::from_str(&stdout).unwrap_or(serde_json::Value::Null);
    (
        out.status.code().unwrap_or(-1),
        json,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn find_a_user_close_its_connection_and_reload() {
    let gw = Gateway::start(&format!("token = \"{TOKEN}\"\n"));
    let mut gina = Ua::new("gina", gw.port);
    assert_eq!(status(&gina.register(600)), 200);
    let (code, _, err) = ctl(gw.admin, None, &["connections"]);
    assert_eq!(code, 1, "without the token: {err}");
    assert!(err.contains("401"), "{err}");
    let (code, found, _) = ctl(
        gw.admin,
        Some(TOKEN),
        &["connections", "--aor", "sip:gina@example.test"],
    );
    assert_eq!(code, 0);
    let flow = found["connections"][0]["flow"].as_str().unwrap().to_owned();
    let (code, closed, _) = ctl(
        gw.admin,
        Some(TOKEN),
        &["close", &flow, "--code", "4002", "--reason", "support"],
    );
    assert_eq!((code, closed["closed"].as_bool()), (0, Some(true)));
    assert_eq!(gina.ws.recv_timeout(Duration::from_secs(3)), None);
    assert_eq!(gina.ws.closed, Some(Some(4002)));
    let (code, report, _) = ctl(gw.admin, Some(TOKEN), &["reload"]);
    assert_eq!(code, 0);
    assert_eq!(report["applied"], serde_json::json!([]));
    let (code, status_json, _) = ctl(gw.admin, Some(TOKEN), &["status"]);
    assert_eq!((code, status_json["workers"].as_u64()), (0, Some(2)));
}

#[test]
fn an_unreachable_node_exits_2() {
    let (code, _, err) = ctl(free_tcp_port(), None, &["status"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cannot reach"), "{err}");
}
