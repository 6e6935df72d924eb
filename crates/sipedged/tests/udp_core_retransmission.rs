//! Toward a UDP core the edge is an RFC 3261 client transaction: a request the core does not answer is sent
//! again, and after 64 × T1 the browser gets 408. Browsers never retransmit over their WebSocket, so without
//! this a datagram lost on the way is a lost transaction.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use common::{Gateway, Ua, answer, free_udp_pair, message, status};

/// A fake UDP core on 127.0.0.2 and a gateway in front of it with `extra` in its `[core]` section.
fn edge_with_core(extra: &str) -> (UdpSocket, Gateway) {
    let (core, gw, _) = edge_with_core_at(extra);
    (core, gw)
}

/// The same, and worker 0's local port toward the core.
fn edge_with_core_at(extra: &str) -> (UdpSocket, Gateway, u16) {
    let core = UdpSocket::bind(SocketAddr::from(([127, 0, 0, 2], 0))).unwrap();
    core.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let core_port = core.local_addr().unwrap().port();
    let local = free_udp_pair();
    let gw = Gateway::start(&format!(
        "[core]\nuri = \"sip:127.0.0.2:{core_port};transport=udp\"\nlocal_address = \"127.0.0.1:{local}\"\nprobes = false\n{extra}"
    ));
    (core, gw, local)
}

#[test]
fn a_request_lost_on_the_way_to_the_core_is_sent_again_and_answered() {
    let (core, gw) = edge_with_core("");
    let mut alice = Ua::new("alice", gw.port);
    let sent_at = Instant::now();
    let request = message(&mut alice, "lost-once");
    alice.ws.send(&request);
    let mut buf = vec![0u8; 65536];
    // The first copy is "lost": the core never answers it.
    let (n, _) = core
        .recv_from(&mut buf)
        .expect("the MESSAGE reaches the core");
    let first = buf[..n].to_vec();
    let (n, edge) = core.recv_from(&mut buf).expect("the edge sends it again");
    let again = buf[..n].to_vec();
    let waited = sent_at.elapsed();
    assert_eq!(again, first, "the same request, the same branch");
    assert!(
        waited >= Duration::from_millis(450),
        "after T1, not before: {waited:?}"
    );
    core.send_to(answer(&again, 200, "OK", "").as_bytes(), edge)
        .unwrap();
    assert_eq!(status(&alice.ws.recv_final()), 200);
    // Answered: no further copies.
    core.set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    assert!(
        core.recv_from(&mut buf).is_err(),
        "nothing after the answer"
    );
    assert_eq!(
        gw.metric("sipedge_core_retransmissions_total{worker=\"0\"}")
            + gw.metric("sipedge_core_retransmissions_total{worker=\"1\"}"),
        1
    );
}

#[test]
fn a_core_that_never_answers_gets_the_browser_a_408_after_64_t1() {
    let (core, gw) = edge_with_core("t1 = \"50ms\"\n");
    let mut alice = Ua::new("alice", gw.port);
    let sent_at = Instant::now();
    let request = message(&mut alice, "never");
    alice.ws.send(&request);
    let got = alice
        .ws
        .recv_timeout(Duration::from_secs(10))
        .expect("an answer within 64 x T1 = 3.2 s");
    let waited = sent_at.elapsed();
    assert_eq!(status(&got), 408, "{}", String::from_utf8_lossy(&got));
    assert!(waited >= Duration::from_millis(3100), "{waited:?}");
    let mut copies = 0;
    let mut buf = vec![0u8; 65536];
    core.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    while core.recv_from(&mut buf).is_ok() {
        copies += 1;
    }
    // 50, 100, 200, 400, 800, 1600 ms, then every 4 s: 7 sends in 3.2 s, the first included.
    assert!((6..=8).contains(&copies), "{copies} copies at the core");
    assert!(
        gw.metric("sipedge_core_retransmissions_total{worker=\"0\"}")
            + gw.metric("sipedge_core_retransmissions_total{worker=\"1\"}")
            >= 5
    );
    assert_eq!(
        gw.metric("sipedge_routing_failures_total{reason=\"core_transaction_timeout\"}"),
        1
    );
}

#[test]
fn a_final_response_the_core_sends_again_reaches_the_browser_once() {
    let (core, gw) = edge_with_core("");
    let mut alice = Ua::new("alice", gw.port);
    let request = message(&mut alice, "answered-twice");
    alice.ws.send(&request);
    let mut buf = vec![0u8; 65536];
    let (n, edge) = core
        .recv_from(&mut buf)
        .expect("the MESSAGE reaches the core");
    let request = buf[..n].to_vec();
    // The core answers the request and, as it does for a retransmission that crossed its answer, answers again.
    let ok = answer(&request, 200, "OK", "");
    core.send_to(ok.as_bytes(), edge).unwrap();
    core.send_to(ok.as_bytes(), edge).unwrap();
    assert_eq!(status(&alice.ws.recv_final()), 200);
    assert!(
        alice.ws.recv_timeout(Duration::from_millis(800)).is_none(),
        "the second 200 is absorbed"
    );
    let absorbed: u64 = (0..2)
        .map(|w| {
            gw.metric(&format!(
                "sipedge_core_retransmissions_absorbed_total{{worker=\"{w}\"}}"
            ))
        })
        .sum();
    assert_eq!(absorbed, 1);
}

/// The receive buffer the kernel keeps for the UDP socket bound on 127.0.0.1:`port` (`ss`'s `rb`).
fn receive_buffer(port: u16) -> u64 {
    let out = std::process::Command::new("ss")
        .args(["-u", "-a", "-n", "-m", "-H"])
        .arg(format!("src 127.0.0.1:{port}"))
        .output()
        .expect("ss (iproute2)");
    let text = String::from_utf8_lossy(&out.stdout);
    let rb = text
        .split(|c: char| c == ',' || c == '(' || c.is_whitespace())
        .find_map(|w| w.strip_prefix("rb")?.parse().ok());
    rb.unwrap_or_else(|| panic!("no rb in: {text}"))
}

#[test]
fn each_worker_asks_for_the_configured_receive_buffer_toward_the_core() {
    let cap: u64 = std::fs::read_to_string("/proc/sys/net/core/rmem_max")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // Linux keeps twice what was asked for (its bookkeeping), capped at rmem_max.
    for (extra, asked) in [("udp_receive_buffer = 1048576\n", 1 << 20), ("", 4 << 20)] {
        let (_core, _gw, local) = edge_with_core_at(extra);
        for worker in 0..2 {
            assert_eq!(
                receive_buffer(local + worker),
                2 * cap.min(asked),
                "worker {worker}, {extra:?}"
            );
        }
    }
}
