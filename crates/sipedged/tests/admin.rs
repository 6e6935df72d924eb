//! The admin endpoint (hyper) under hostile clients: a client trickling its request must not hold up `/metrics` (what a
//! Kubernetes probe and Prometheus read), and an oversized request is refused and closed rather than buffered.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::Gateway;

/// GET `path` on the admin port; the whole answer, or an error if it takes longer than `within`.
fn get(admin: u16, path: &str, within: Duration) -> std::io::Result<String> {
    let mut s = TcpStream::connect(("127.0.0.1", admin))?;
    s.set_read_timeout(Some(within))?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n")?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

/// Open a connection and send one byte of a never-ending request header every 100 ms until `stop`.
fn trickle(
    admin: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<()> {
    let mut s = TcpStream::connect(("127.0.0.1", admin)).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nX-Slow: ").unwrap();
    std::thread::spawn(move || {
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            if s.write_all(b"a").is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    })
}

#[test]
fn a_trickling_admin_client_does_not_block_metrics() {
    let gw = Gateway::start("");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let trickler = trickle(gw.admin, stop.clone());
    std::thread::sleep(Duration::from_millis(300));
    for _ in 0..3 {
        let start = Instant::now();
        let answer = get(gw.admin, "/metrics", Duration::from_secs(1))
            .expect("/metrics must answer within a second while another client trickles");
        assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
        assert!(answer.contains("sipedge_connections"), "{answer}");
        assert!(start.elapsed() < Duration::from_secs(1));
        std::thread::sleep(Duration::from_millis(200));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    trickler.join().unwrap();
}

#[test]
fn a_trickled_admin_request_is_cut_at_its_deadline() {
    let gw = Gateway::start("");
    let mut s = TcpStream::connect(("127.0.0.1", gw.admin)).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nX-Slow: ").unwrap();
    let start = Instant::now();
    let mut out = Vec::new();
    // Keep trickling (every 100 ms, so no per-read timeout would ever fire) and collect the answer.
    while start.elapsed() < Duration::from_secs(10) {
        if s.write_all(b"a").is_err() {
            break;
        }
        let mut buf = [0u8; 512];
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => break,
        }
    }
    let out = String::from_utf8_lossy(&out);
    assert!(out.starts_with("HTTP/1.1 408 "), "{out:?}");
    assert!(
        start.elapsed() < Duration::from_secs(7),
        "the head deadline (5 s) is overall, not per read: {:?}",
        start.elapsed()
    );
}

#[test]
fn an_oversized_admin_request_gets_431_and_is_closed() {
    let gw = Gateway::start("");
    let mut s = TcpStream::connect(("127.0.0.1", gw.admin)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let long = "a".repeat(64 * 1024);
    write!(s, "GET /metrics?{long} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out)
        .expect("the refusal is readable and the connection closed");
    assert!(
        out.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
        "{}",
        &out[..out.len().min(200)]
    );
    assert!(
        out.to_ascii_lowercase().contains("connection: close\r\n"),
        "{out}"
    );
    // The endpoint still serves others.
    let answer = get(gw.admin, "/metrics", Duration::from_secs(1)).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
}

#[test]
fn a_malformed_or_non_get_admin_request_is_refused() {
    let gw = Gateway::start("");
    for (request, status) in [
        ("POST /metrics HTTP/1.1\r\n\r\n", "405 "),
        ("GET /metrics\r\n\r\n", "400 "),
        ("HEAD /metrics HTTP/1.1\r\n\r\n", "200 "),
    ] {
        let mut s = TcpStream::connect(("127.0.0.1", gw.admin)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        assert!(
            out.starts_with(&format!("HTTP/1.1 {status}")),
            "{request:?}: {out}"
        );
        if request.starts_with("HEAD") {
            assert!(out.ends_with("\r\n\r\n"), "HEAD has no body: {out}");
        }
    }
}
