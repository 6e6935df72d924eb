//! PROXY protocol v2 on a sipedged listener, on both I/O backends: the client a trusted load balancer names is
//! the one sipedged uses (Via `received` on what it forwards, per-IP limits; X-Forwarded-For is then not
//! believed), the header may arrive split, bad and late headers close the connection and are counted by reason
//! in /metrics, the header precedes the TLS ClientHello on wss://, and direct clients need no header.

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use ringmux::proxy_header::encode;

const BACKENDS: [&str; 2] = ["uring", "epoll"];

/// A gateway on `io` whose listener expects PROXY headers from 127.0.0.1; `listen_keys` and `extra` add to it.
fn gateway(io: &str, listen_keys: &str, extra: &str) -> Gateway {
    Gateway::start_with(
        &format!("proxy_protocol = true\n{listen_keys}"),
        &format!(
            "[sip]\nreceived = \"always\"\n[limits]\ntrusted_proxies = [\"127.0.0.1\"]\nhandshake_timeout = \"1s\"\n{extra}"
        ),
        &[("RINGMUX_IO", io)],
    )
}

/// A PROXY v2 header for TCP from `client` to `port` on 127.0.0.1.
fn header(client: &str, port: u16) -> Vec<u8> {
    let mut h = Vec::new();
    let dst = SocketAddr::from(([127, 0, 0, 1], port));
    encode(Some((client.parse().unwrap(), dst)), &[], &mut h);
    h
}

/// Connects from 127.0.0.1 (the trusted proxy) and writes `header` in two pieces, a pause between them.
fn proxied_tcp(port: u16, header: &[u8]) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_nodelay(true).unwrap();
    let (a, b) = header.split_at(header.len() / 2);
    (&s).write_all(a).unwrap();
    std::thread::sleep(Duration::from_millis(30));
    (&s).write_all(b).unwrap();
    s
}

fn proxied_ua(user: &str, port: u16, client: &str, extra: &str) -> Result<Ua, String> {
    let s = proxied_tcp(port, &header(client, port));
    WsSip::over(Box::new(s), &["sip"], "/", extra).map(|ws| Ua::on(user, ws))
}

/// A direct client from `source` (a loopback address).
fn direct_ua(user: &str, port: u16, source: [u8; 4]) -> Ua {
    let ws = WsSip::connect_full(port, &["sip"], "/", "", Some(source.into())).expect("handshake");
    Ua::on(user, ws)
}

/// `from` sends a MESSAGE to `to` (both registered); returns the `received` of its Via as `to` sees it.
fn received_of(from: &mut Ua, to: &mut Ua, call_id: &str) -> String {
    received_if_any(from, to, call_id)
        .unwrap_or_else(|| panic!("no received in {}'s Via", from.user))
}

/// As [`received_of`], `None` when the Via has no `received`.
fn received_if_any(from: &mut Ua, to: &mut Ua, call_id: &str) -> Option<String> {
    let got = message_between(from, to, call_id);
    let t = text(&got);
    let via = sipscan::Message::parse(&got)
        .unwrap()
        .headers()
        .filter(|h| h.raw_name().eq_ignore_ascii_case(b"via"))
        .map(|h| text(h.value()))
        .find(|v| v.contains(&format!("{}ws.invalid", from.user)))
        .unwrap_or_else(|| panic!("no Via of {} in {t}", from.user));
    via.split(';')
        .find_map(|p| p.strip_prefix("received="))
        .map(str::to_string)
}

fn wait_metric(gw: &Gateway, name: &str, at_least: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let v = gw.metric(name);
        if v >= at_least || Instant::now() > deadline {
            return v;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn proxied_client_address_is_used_and_x_forwarded_for_is_not() {
    for io in BACKENDS {
        let gw = gateway(io, "", "");
        // The load balancer also sends X-Forwarded-For: not believed on top of the header.
        let mut alice = proxied_ua(
            "alice",
            gw.port,
            "203.0.113.7:51000",
            "X-Forwarded-For: 198.51.100.9\r\n",
        )
        .unwrap_or_else(|e| panic!("{io}: proxied handshake refused: {e}"));
        assert_eq!(status(&alice.register(600)), 200, "{io}");
        // A direct client (not a trusted proxy) sends no header.
        let mut bob = direct_ua("bob", gw.port, [127, 0, 0, 2]);
        assert_eq!(status(&bob.register(600)), 200, "{io}");
        assert_eq!(
            received_of(&mut alice, &mut bob, &format!("pp1-{io}")),
            "203.0.113.7",
            "{io}"
        );
        assert_eq!(
            received_of(&mut bob, &mut alice, &format!("pp2-{io}")),
            "127.0.0.2",
            "{io}"
        );
        // LOCAL (the balancer speaking for itself) keeps the socket's address; its X-Forwarded-For is not
        // believed either, though it comes from a trusted proxy.
        let mut local = Vec::new();
        encode(None, &[], &mut local);
        let s = proxied_tcp(gw.port, &local);
        let ws = WsSip::over(
            Box::new(s),
            &["sip"],
            "/",
            "X-Forwarded-For: 198.51.100.9\r\n",
        )
        .unwrap_or_else(|e| panic!("{io}: LOCAL handshake refused: {e}"));
        let mut carol = Ua::on("carol", ws);
        assert_eq!(status(&carol.register(600)), 200, "{io}");
        assert_eq!(
            received_if_any(&mut carol, &mut bob, &format!("pp3-{io}")),
            None,
            "{io}: the balancer's own address is never written"
        );
        assert_eq!(
            gw.metric("sipedge_proxy_headers_total{worker=\"0\"}")
                + gw.metric("sipedge_proxy_headers_total{worker=\"1\"}"),
            2,
            "{io}"
        );
        // A direct client that is no trusted proxy sends X-Forwarded-For: ignored too, its own address used.
        let ws = WsSip::connect_full(
            gw.port,
            &["sip"],
            "/",
            "X-Forwarded-For: 198.51.100.10\r\n",
            Some([127, 0, 0, 3].into()),
        )
        .expect("handshake");
        let mut dave = Ua::on("dave", ws);
        assert_eq!(status(&dave.register(600)), 200, "{io}");
        assert_eq!(
            received_of(&mut dave, &mut bob, &format!("pp4-{io}")),
            "127.0.0.3",
            "{io}"
        );
        // Three X-Forwarded-For headers not believed (alice's and carol's beside a PROXY header, dave's from an
        // untrusted peer); none from bob, who sent none.
        assert_eq!(
            gw.metric("sipedge_forwarded_for_ignored_total{worker=\"0\"}")
                + gw.metric("sipedge_forwarded_for_ignored_total{worker=\"1\"}"),
            3,
            "{io}"
        );
    }
}

#[test]
fn per_ip_limits_count_the_proxied_address() {
    for io in BACKENDS {
        let gw = gateway(io, "", "max_connections_per_ip = 1\n");
        let _first = proxied_ua("c1", gw.port, "203.0.113.7:1000", "").expect("first client");
        let second = proxied_ua("c2", gw.port, "203.0.113.7:1001", "");
        assert!(
            second.as_ref().err().is_some_and(|e| e.contains("503")),
            "{io}: a second connection from the same proxied client is over the cap"
        );
        // Another client behind the same proxy is not.
        assert!(
            proxied_ua("c3", gw.port, "203.0.113.8:1000", "").is_ok(),
            "{io}"
        );
        assert!(
            gw.metric("sipedge_handshake_rejections_total{reason=\"ip_connection_cap\"}") >= 1,
            "{io}"
        );
    }
}

/// `true` when the server closes `s` within 5 s.
fn closed(s: &mut TcpStream) -> bool {
    use std::io::Read;
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut b = [0u8; 1024];
    loop {
        match s.read(&mut b) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return e.kind() == std::io::ErrorKind::ConnectionReset,
        }
    }
}

#[test]
fn bad_and_late_headers_close_and_are_counted() {
    for io in BACKENDS {
        let gw = gateway(io, "", "");
        // No header at all: the upgrade request from the trusted proxy is refused at its first byte.
        let mut s = TcpStream::connect(("127.0.0.1", gw.port)).unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        assert!(closed(&mut s), "{io}: no header");
        // Version 1 text.
        let mut s = TcpStream::connect(("127.0.0.1", gw.port)).unwrap();
        s.write_all(b"PROXY TCP4 203.0.113.7 127.0.0.1 1 2\r\n")
            .unwrap();
        assert!(closed(&mut s), "{io}: v1");
        // A UNIX-socket header.
        let mut h = header("203.0.113.7:1", gw.port);
        h[13] = 0x31;
        let mut s = proxied_tcp(gw.port, &h);
        assert!(closed(&mut s), "{io}: AF_UNIX");
        // Half a header, then nothing: closed at the handshake timeout (1 s).
        let h = header("203.0.113.7:1", gw.port);
        let mut s = TcpStream::connect(("127.0.0.1", gw.port)).unwrap();
        s.write_all(&h[..9]).unwrap();
        let t = Instant::now();
        assert!(closed(&mut s), "{io}: late");
        assert!(
            t.elapsed() >= Duration::from_millis(500),
            "{io}: closed after {:?}",
            t.elapsed()
        );
        for (reason, n) in [
            ("signature", 1),
            ("version_1", 1),
            ("unsupported_family", 1),
            ("timeout", 1),
        ] {
            let name = format!("sipedge_proxy_header_rejections_total{{reason=\"{reason}\"}}");
            assert_eq!(wait_metric(&gw, &name, n), n, "{io}: {name}");
        }
        // None of them reached the WebSocket layer.
        assert_eq!(
            gw.metric("sipedge_connections_accepted_total{worker=\"0\"}")
                + gw.metric("sipedge_connections_accepted_total{worker=\"1\"}"),
            0,
            "{io}"
        );
    }
}

#[test]
fn header_before_the_tls_client_hello_on_wss() {
    let dir = TempDir::new("pp-tls");
    let (tls_key, der) = edge_test_tls(&dir);
    for io in BACKENDS {
        let gw = gateway(io, &tls_key, "");
        let tcp = proxied_tcp(gw.port, &header("203.0.113.7:51000", gw.port));
        let ws = WsSip::over(Box::new(tls_over(tcp, &der)), &["sip"], "/", "")
            .unwrap_or_else(|e| panic!("{io}: wss handshake after the header: {e}"));
        let mut alice = Ua::on("alice", ws);
        assert_eq!(status(&alice.register(600)), 200, "{io}");
        // A direct wss client from an address that is not a trusted proxy.
        let direct = {
            let s =
                socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
            s.bind(&SocketAddr::from(([127, 0, 0, 3], 0)).into())
                .unwrap();
            s.connect(&SocketAddr::from(([127, 0, 0, 1], gw.port)).into())
                .unwrap();
            TcpStream::from(s)
        };
        let ws = WsSip::over(Box::new(tls_over(direct, &der)), &["sip"], "/", "").unwrap();
        let mut bob = Ua::on("bob", ws);
        assert_eq!(status(&bob.register(600)), 200, "{io}");
        assert_eq!(
            received_of(&mut alice, &mut bob, &format!("tls-{io}")),
            "203.0.113.7",
            "{io}"
        );
    }
}

#[test]
fn check_refuses_proxy_protocol_without_trusted_proxies() {
    let dir = TempDir::new("pp-check");
    let cfg = dir.0.join("c.toml");
    std::fs::write(
        &cfg,
        "[[listen]]\naddress = \"127.0.0.1:8080\"\nproxy_protocol = true\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sipedged"))
        .arg("--check")
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("proxy_protocol") && err.contains("trusted_proxies"),
        "{err}"
    );
    std::fs::write(
        &cfg,
        "[[listen]]\naddress = \"127.0.0.1:8080\"\nproxy_protocol = true\n[limits]\ntrusted_proxies = [\"10.1.2.3\"]\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sipedged"))
        .arg("--check")
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn an_internal_client_address_is_not_revealed_by_default() {
    // [sip] received = "public" (the default): loopback clients are not globally routable.
    let gw = Gateway::start("");
    let mut alice = direct_ua("alice", gw.port, [127, 0, 0, 2]);
    let mut bob = direct_ua("bob", gw.port, [127, 0, 0, 3]);
    assert_eq!(status(&alice.register(600)), 200);
    assert_eq!(status(&bob.register(600)), 200);
    assert_eq!(received_if_any(&mut alice, &mut bob, "rcv-default"), None);
}
