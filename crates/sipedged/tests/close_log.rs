//! `[log] connections`: one structured line per closed WebSocket, JSON with `[log] format = "json"`, naming the
//! browser, its close code and reason, and what crossed the connection.

mod common;

use std::time::{Duration, Instant};

use common::{Gateway, Ua, status};

/// The JSON lines of target `sipedge::connection` in the gateway's log, waiting up to 5 s for `n` of them.
fn close_lines(gw: &Gateway, n: usize) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let lines: Vec<serde_json::Value> = gw
            .log()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["target"] == "sipedge::connection")
            .collect();
        if lines.len() >= n || Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn each_closed_websocket_gets_one_json_line_with_its_close_code_and_traffic() {
    let gw = Gateway::start("[log]\nformat = \"json\"\nconnections = 1.0\n");
    let mut alice = Ua::new("alice", gw.port);
    assert_eq!(status(&alice.register(60)), 200);
    let mut ws = alice.ws_take();
    ws.close(4000);
    let lines = close_lines(&gw, 1);
    assert_eq!(lines.len(), 1, "{}", gw.log());
    let f = &lines[0]["fields"];
    assert_eq!(f["message"], "connection closed", "{f}");
    assert_eq!(f["code"], 4000, "{f}");
    assert_eq!(f["reason"], "closed by the browser", "{f}");
    assert!(f["peer"].as_str().unwrap().starts_with("127.0.0.1:"), "{f}");
    assert_eq!(f["messages_in"], 1, "the REGISTER: {f}");
    assert_eq!(f["messages_out"], 1, "its 200: {f}");
    assert!(f["bytes_in"].as_u64().unwrap() > 200, "{f}");
    assert!(f["duration_ms"].as_u64().is_some(), "{f}");
    assert_eq!(f["identity"], "-", "no authentication: {f}");
    // A connection that ends without a close frame.
    let bob = Ua::new("bob", gw.port);
    drop(bob);
    let lines = close_lines(&gw, 2);
    assert_eq!(lines.len(), 2, "{}", gw.log());
    assert_eq!(lines[1]["fields"]["code"], 1006, "{}", lines[1]);
}

#[test]
fn by_default_no_connection_is_logged() {
    let gw = Gateway::start("[log]\nformat = \"json\"\n");
    let mut alice = Ua::new("alice", gw.port);
    assert_eq!(status(&alice.register(60)), 200);
    alice.ws_take().close(1000);
    std::thread::sleep(Duration::from_millis(500));
    assert!(close_lines(&gw, 0).is_empty(), "{}", gw.log());
    assert!(
        gw.log().contains("sipedge"),
        "the log is there: {}",
        gw.log()
    );
}
