//! A client that stops reading (it advertises a zero receive window) while the gateway must send to it and then
//! close: the graceful close waits at most `[limits] close_timeout`, the connection is then aborted, and the abort
//! is counted in `/metrics` (`sipedge_close_aborted_total`), beside ringmux's other per-worker counters.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Gateway, TempDir, Ua, WsSip};

/// MESSAGE bodies the zero-window client sends itself: their total (about 750 KB) stays under the per-connection
/// send-queue bound (1 MiB), so the gateway queues them rather than closing a slow consumer.
const BODY: usize = 30_000;
const MESSAGES: usize = 25;

/// A WebSocket close frame (code 1000), masked with a zero key.
const CLOSE_FRAME: [u8; 8] = [0x88, 0x82, 0, 0, 0, 0, 0x03, 0xE8];

/// The counters ringmux keeps per worker that `/metrics` must publish.
const RINGMUX_COUNTERS: [&str; 4] = [
    "sipedge_close_aborted_total",
    "sipedge_connections_shed_total",
    "sipedge_slow_consumers_total",
    "sipedge_connections_aborted_at_deadline_total",
];

/// A registered client on a socket with the smallest receive buffer, and a second handle on its socket. It
/// advertises an Internet MSS (1460): with loopback's 64 KiB one the kernel would size the gateway's send buffer
/// for 4 MiB at once and hold the whole queue itself.
fn zero_window_client(port: u16) -> (Ua, TcpStream) {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    s.set_recv_buffer_size(1).unwrap();
    s.set_tcp_mss(1460).unwrap();
    s.connect(&std::net::SocketAddr::from(([127, 0, 0, 1], port)).into())
        .unwrap();
    let stream: TcpStream = s.into();
    let raw = stream.try_clone().unwrap();
    let ws = WsSip::over(Box::new(stream), &["sip"], "/", "").expect("WebSocket handshake");
    let mut ua = Ua::on("zed", ws);
    assert_eq!(common::status(&ua.register(600)), 200);
    (ua, raw)
}

/// Make the gateway queue about 750 KB toward a client that never reads, then ask it to close (the client sends
/// a close frame: the gateway answers with its own, behind the queue, and closes gracefully). Returns when the
/// close frame is written.
///
/// The close frame goes only once every MESSAGE has been queued toward the client: the registrar's shard for the
/// AoR may be another worker than the connection's, and a delivery that comes back from it after the close frame
/// finds the connection closing (counted as `flow_gone`) instead of queuing.
fn fill_then_close(gw: &Gateway, ua: &mut Ua, raw: &mut TcpStream) {
    let body = "x".repeat(BODY);
    for i in 0..MESSAGES {
        let m = ua.request(
            "MESSAGE",
            "sip:zed@example.test",
            "<sip:zed@example.test>",
            &format!("zw-{i}"),
            "Content-Type: text/plain\r\n",
            &body,
        );
        ua.ws.send(&m);
    }
    let start = Instant::now();
    while total(&gw.metrics(), "sipedge_ws_messages_out_total") < 1 + MESSAGES as u64 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the MESSAGEs were not all queued toward the client:\n{}",
            gw.metrics()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    raw.write_all(&CLOSE_FRAME).unwrap();
}

/// The sum over workers of a per-worker counter.
fn total(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(&format!("{name}{{worker=")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// Poll `/metrics` until `sipedge_close_aborted_total` reaches 1 or `within` passes; the last text.
fn wait_close_aborted(gw: &Gateway, within: Duration) -> String {
    let start = Instant::now();
    loop {
        let m = gw.metrics();
        if total(&m, "sipedge_close_aborted_total") >= 1 || start.elapsed() > within {
            return m;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_zero_window_reader_is_aborted_and_counted_in_metrics() {
    let gw = Gateway::start("");
    let before = gw.metrics();
    for name in RINGMUX_COUNTERS {
        assert!(
            before.contains(&format!("# HELP {name} "))
                && before.contains(&format!("# TYPE {name} counter")),
            "{name} has no help or type in /metrics:\n{before}"
        );
        assert!(
            before.contains(&format!("{name}{{worker=\"0\"}} 0")),
            "{name} is not published per worker:\n{before}"
        );
    }
    assert!(before.contains("sipedge_proxy_header_rejections_total"));
    let (mut ua, mut raw) = zero_window_client(gw.port);
    fill_then_close(&gw, &mut ua, &mut raw);
    let start = Instant::now();
    // The default close_timeout is 5 s.
    let m = wait_close_aborted(&gw, Duration::from_secs(12));
    assert_eq!(
        total(&m, "sipedge_close_aborted_total"),
        1,
        "the zero-window close was not aborted and counted within {:?}:\n{m}",
        start.elapsed()
    );
    assert!(
        start.elapsed() >= Duration::from_secs(4),
        "aborted after {:?}, before the default close_timeout (5 s)",
        start.elapsed()
    );
    assert_eq!(total(&m, "sipedge_slow_consumers_total"), 0, "{m}");
}

#[test]
fn a_zero_window_reader_is_cut_at_the_configured_close_timeout() {
    let gw = Gateway::start("[limits]\nclose_timeout = \"500ms\"\ntcp_user_timeout = \"20s\"\n");
    let (mut ua, mut raw) = zero_window_client(gw.port);
    fill_then_close(&gw, &mut ua, &mut raw);
    let start = Instant::now();
    let m = wait_close_aborted(&gw, Duration::from_secs(4));
    assert_eq!(
        total(&m, "sipedge_close_aborted_total"),
        1,
        "not aborted within {:?} of a 500 ms close_timeout:\n{m}",
        start.elapsed()
    );
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn a_zero_window_reader_is_cut_and_counted_on_epoll_too() {
    let gw = Gateway::start_with(
        "",
        "[limits]\nclose_timeout = \"500ms\"\n",
        &[("RINGMUX_IO", "epoll")],
    );
    let (mut ua, mut raw) = zero_window_client(gw.port);
    fill_then_close(&gw, &mut ua, &mut raw);
    let m = wait_close_aborted(&gw, Duration::from_secs(4));
    assert_eq!(total(&m, "sipedge_close_aborted_total"), 1, "{m}");
}

/// `sipedged --check` on a `[limits]` section; (success, stderr).
fn check(limits: &str) -> (bool, String) {
    let dir = TempDir::new("zw-check");
    let cfg = dir.0.join("sipedge.toml");
    std::fs::write(&cfg, format!("[limits]\n{limits}")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sipedged"))
        .arg("--check")
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout),
    )
}

#[test]
fn a_close_timeout_or_tcp_user_timeout_that_never_cuts_a_zero_window_reader_is_refused() {
    for (limits, rule) in [
        (
            "close_timeout = \"0s\"\n",
            "limits.close_timeout must be > 0",
        ),
        (
            "tcp_user_timeout = \"0s\"\n",
            "limits.tcp_user_timeout must be > 0",
        ),
        (
            "close_timeout = \"2h\"\n",
            "limits.close_timeout = 2h must be from",
        ),
        (
            "tcp_user_timeout = \"30days\"\n",
            "limits.tcp_user_timeout = 30days must be from",
        ),
        (
            "tcp_user_timeout = \"10ms\"\n",
            "limits.tcp_user_timeout = 10ms must be from",
        ),
    ] {
        let (ok, text) = check(limits);
        assert!(!ok, "{limits:?} accepted: {text}");
        assert!(
            text.contains(rule),
            "{limits:?}: {text:?} does not name {rule:?}"
        );
    }
    let (ok, text) = check("close_timeout = \"2s\"\ntcp_user_timeout = \"30s\"\n");
    assert!(ok, "{text}");
}
