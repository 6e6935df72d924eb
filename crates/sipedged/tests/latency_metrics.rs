//! The node's own latency figures in `/metrics`: forward latency per direction, handshake duration, and each
//! worker's busy time, present and plausible after traffic.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use common::{Gateway, Ua, answer, free_udp_pair, message, message_between, status};

/// The value of the series `line_start` (a name with its labels) in `metrics`, as a float.
fn value(metrics: &str, line_start: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(line_start)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {line_start} in\n{metrics}"))
}

#[test]
fn forwards_to_browsers_and_handshakes_are_timed_and_workers_busy() {
    let gw = Gateway::start("");
    let mut alice = Ua::new("alice", gw.port);
    let mut bob = Ua::new("bob", gw.port);
    assert_eq!(status(&alice.register(60)), 200);
    assert_eq!(status(&bob.register(60)), 200);
    for i in 0..5 {
        message_between(&mut alice, &mut bob, &format!("timed-{i}"));
    }
    let m = gw.metrics();
    assert_eq!(value(&m, "sipedge_handshake_seconds_count "), 2.0);
    assert_eq!(
        value(&m, "sipedge_handshake_seconds_bucket{le=\"+Inf\"} "),
        2.0
    );
    assert!(
        value(&m, "sipedge_handshake_seconds_bucket{le=\"1\"} ") == 2.0,
        "handshakes on loopback take less than a second:\n{m}"
    );
    // Standalone: the registrar's answers, and each MESSAGE to bob and its 200 to alice.
    let to_client = value(
        &m,
        "sipedge_forward_seconds_count{direction=\"to_client\"} ",
    );
    assert!(to_client >= 12.0, "{to_client}\n{m}");
    let fast = value(
        &m,
        "sipedge_forward_seconds_bucket{direction=\"to_client\",le=\"0.1\"} ",
    );
    assert_eq!(fast, to_client, "every forward within 100 ms:\n{m}");
    assert_eq!(
        value(&m, "sipedge_forward_seconds_count{direction=\"to_core\"} "),
        0.0,
        "no core"
    );
    let busy: f64 = (0..2)
        .map(|w| {
            value(
                &m,
                &format!("sipedge_worker_busy_seconds_total{{worker=\"{w}\"}} "),
            )
        })
        .sum();
    assert!(busy > 0.0 && busy < 30.0, "{busy}\n{m}");
}

#[test]
fn forwards_to_the_core_are_timed() {
    let core = UdpSocket::bind(SocketAddr::from(([127, 0, 0, 2], 0))).unwrap();
    core.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let core_port = core.local_addr().unwrap().port();
    let local = free_udp_pair();
    let gw = Gateway::start(&format!(
        "[core]\nuri = \"sip:127.0.0.2:{core_port};transport=udp\"\nlocal_address = \"127.0.0.1:{local}\"\nprobes = false\n"
    ));
    let mut alice = Ua::new("alice", gw.port);
    let mut buf = vec![0u8; 65536];
    for i in 0..3 {
        let request = message(&mut alice, &format!("to-core-{i}"));
        alice.ws.send(&request);
        let (n, edge) = core
            .recv_from(&mut buf)
            .expect("the MESSAGE reaches the core");
        core.send_to(answer(&buf[..n], 200, "OK", "").as_bytes(), edge)
            .unwrap();
        assert_eq!(status(&alice.ws.recv_final()), 200);
    }
    let m = gw.metrics();
    assert_eq!(
        value(&m, "sipedge_forward_seconds_count{direction=\"to_core\"} "),
        3.0,
        "{m}"
    );
    assert_eq!(
        value(
            &m,
            "sipedge_forward_seconds_count{direction=\"to_client\"} "
        ),
        3.0,
        "the three 200s: {m}"
    );
    assert!(value(&m, "sipedge_forward_seconds_sum{direction=\"to_core\"} ") < 1.0);
}
