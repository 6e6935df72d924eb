//! SIP capture decoded by a real HEP collector: sngrep listens for HEP v3 (`-L udp:IP:PORT`, with a password)
//! and writes what it decodes to a pcap file; a gateway in front of a fake UDP core captures to it. The pcap
//! must hold exactly the SIP messages that crossed the edge, each with its addresses and time.
#![cfg(feature = "interop")]

mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::fake_core::FakeCore;
use common::{Gateway, TempDir, Ua, WsSip, answer, free_udp_pair, message, status, text};

/// The browser's address (distinct from the edge's 127.0.0.1).
const BROWSER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 5);
/// The HEP password sngrep requires.
const PASSWORD: &str = "hep-secret";

/// sngrep listening for HEP on 127.0.0.1:`port`, writing `pcap`; stopped (SIGINT) by [`Sngrep::stop`] or drop.
struct Sngrep {
    child: Child,
}

impl Sngrep {
    fn start(dir: &TempDir, port: u16, pcap: &std::path::Path) -> Self {
        let rc = dir.0.join("sngreprc");
        std::fs::write(&rc, format!("set eep.listen.pass {PASSWORD}\n")).unwrap();
        let child = Command::new("sngrep")
            .arg("-F")
            .arg("-f")
            .arg(&rc)
            .args(["-N", "-q", "-L", &format!("udp:127.0.0.1:{port}"), "-O"])
            .arg(pcap)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sngrep (Debian package sngrep) runs");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !udp_bound(port) {
            assert!(Instant::now() < deadline, "sngrep never bound udp {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child }
    }

    /// SIGINT, and wait for it to exit (it flushes the pcap file).
    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Sngrep {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether a UDP socket is bound to `port` (from /proc/net/udp).
fn udp_bound(port: u16) -> bool {
    let table = std::fs::read_to_string("/proc/net/udp").unwrap_or_default();
    let needle = format!(":{port:04X} ");
    table.lines().skip(1).any(|l| {
        l.split_whitespace()
            .nth(1)
            .is_some_and(|local| format!("{local} ").ends_with(&needle))
    })
}

/// One packet of the pcap: its time, addresses and UDP payload.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Captured {
    src: SocketAddr,
    dst: SocketAddr,
    payload: Vec<u8>,
    micros: u64,
}

/// Read a classic pcap file (little-endian, microseconds) of Ethernet or raw IPv4 frames carrying UDP.
fn read_pcap(bytes: &[u8]) -> Vec<Captured> {
    assert!(bytes.len() >= 24, "no pcap header");
    assert_eq!(
        &bytes[..4],
        &[0xd4, 0xc3, 0xb2, 0xa1],
        "classic little-endian pcap"
    );
    let u32_at = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
    let link = u32_at(bytes, 20);
    let mut out = Vec::new();
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let (secs, micros, len) = (
            u32_at(bytes, at),
            u32_at(bytes, at + 4),
            u32_at(bytes, at + 8),
        );
        let frame = &bytes[at + 16..at + 16 + len as usize];
        at += 16 + len as usize;
        let ip = match link {
            1 => {
                assert_eq!(&frame[12..14], &[0x08, 0x00], "IPv4 in Ethernet");
                &frame[14..]
            }
            101 | 228 => frame,
            other => panic!("link type {other}"),
        };
        assert_eq!(ip[0] >> 4, 4, "IPv4");
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        let addr = |at: usize| Ipv4Addr::new(ip[at], ip[at + 1], ip[at + 2], ip[at + 3]);
        let udp = &ip[ihl..];
        let port = |at: usize| u16::from_be_bytes([udp[at], udp[at + 1]]);
        out.push(Captured {
            src: SocketAddr::from((addr(12), port(0))),
            dst: SocketAddr::from((addr(16), port(2))),
            payload: udp[8..].to_vec(),
            micros: u64::from(secs) * 1_000_000 + u64::from(micros),
        });
    }
    out
}

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

/// A gateway in front of a fake UDP core on 127.0.0.2, capturing to sngrep with `capture` keys added.
fn edge(hep: u16, capture: &str) -> (FakeCore, Gateway, u16) {
    let core = FakeCore::start([127, 0, 0, 2]);
    let local = free_udp_pair();
    let gw = Gateway::start(&format!(
        "[core]\nuri = \"sip:127.0.0.2:{};transport=udp\"\nlocal_address = \"127.0.0.1:{local}\"\nprobes = false\n\
         [capture]\nhep = \"127.0.0.1:{hep}\"\nagent_id = 2424\npassword = \"{PASSWORD}\"\n{capture}",
        core.port
    ));
    (core, gw, local)
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Wait until the gateway has sent `n` HEP packets.
fn wait_sent(gw: &Gateway, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while gw.metric("sipedge_capture_sent_total") < n {
        assert!(Instant::now() < deadline, "{}", gw.metrics());
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sngrep_decodes_every_sip_message_that_crossed_the_edge() {
    let dir = TempDir::new("hep");
    let pcap = dir.0.join("capture.pcap");
    let hep = free_udp_port();
    let sngrep = Sngrep::start(&dir, hep, &pcap);
    let (core, gw, local) = edge(hep, "");
    let started = now_micros();
    let ws = WsSip::connect_full(gw.port, &["sip"], "/", "", Some(BROWSER)).unwrap();
    let mut alice = Ua::on("alice", ws);
    let mut expected = Vec::new();
    // REGISTER: browser -> edge -> core, 200: core -> edge -> browser.
    let to = "<sip:alice@example.test>";
    let contact = format!("Contact: {};expires=600\r\n", alice.contact());
    let register = alice.request("REGISTER", "sip:example.test", to, "reg-hep", &contact, "");
    alice.ws.send(&register);
    let ok = alice.ws.recv_final();
    assert_eq!(status(&ok), 200);
    let at_core = core
        .request(Duration::from_secs(5))
        .expect("REGISTER at the core");
    expected.push((register.into_bytes(), at_core.into_bytes(), ok));
    // MESSAGE, the same way.
    let msg = message(&mut alice, "msg-hep");
    alice.ws.send(&msg);
    let ok = alice.ws.recv_final();
    assert_eq!(status(&ok), 200);
    let at_core2 = core
        .request(Duration::from_secs(5))
        .expect("MESSAGE at the core");
    expected.push((msg.into_bytes(), at_core2.into_bytes(), ok));
    wait_sent(&gw, 8);
    let ended = now_micros();
    // Let sngrep read the last datagram before it stops.
    std::thread::sleep(Duration::from_millis(300));
    sngrep.stop();
    assert_eq!(gw.metric("sipedge_capture_dropped_total"), 0);
    let got = read_pcap(&std::fs::read(&pcap).unwrap());
    assert_eq!(got.len(), 8, "{got:#?}");
    let edge_ws = SocketAddr::from(([127, 0, 0, 1], gw.port));
    let core_addr = SocketAddr::from(([127, 0, 0, 2], core.port));
    let browser = got
        .iter()
        .find(|c| c.dst == edge_ws)
        .map(|c| c.src)
        .expect("a message from the browser");
    assert_eq!(browser.ip(), std::net::IpAddr::V4(BROWSER));
    for c in &got {
        assert!(
            (started..=ended).contains(&c.micros),
            "time {} outside {started}..={ended}",
            c.micros
        );
    }
    // Worker w sends to the core from local_address port + w (2 workers).
    let worker_port = |addr: SocketAddr| {
        addr.ip() == std::net::IpAddr::V4(Ipv4Addr::LOCALHOST)
            && (local..local + 2).contains(&addr.port())
    };
    for (from_browser, to_core, to_browser) in &expected {
        let from_core = answer(to_core, 200, "OK", "").into_bytes();
        let one = |payload: &[u8]| {
            let hits: Vec<&Captured> = got.iter().filter(|c| c.payload == payload).collect();
            assert_eq!(hits.len(), 1, "{}", text(payload));
            hits[0].clone()
        };
        let c = one(from_browser);
        assert_eq!((c.src, c.dst), (browser, edge_ws));
        let c = one(to_core);
        assert!(worker_port(c.src) && c.dst == core_addr, "{c:?}");
        let c = one(&from_core);
        assert!(c.src == core_addr && worker_port(c.dst), "{c:?}");
        let c = one(to_browser);
        assert_eq!((c.src, c.dst), (edge_ws, browser));
    }
}

#[test]
fn methods_filter_what_sngrep_receives() {
    let dir = TempDir::new("hep-methods");
    let pcap = dir.0.join("capture.pcap");
    let hep = free_udp_port();
    let sngrep = Sngrep::start(&dir, hep, &pcap);
    let (core, gw, _) = edge(hep, "methods = [\"MESSAGE\"]\n");
    let mut alice = Ua::new("alice", gw.port);
    assert_eq!(status(&alice.register(600)), 200);
    let msg = message(&mut alice, "only-this");
    alice.ws.send(&msg);
    assert_eq!(status(&alice.ws.recv_final()), 200);
    assert!(core.request(Duration::from_secs(5)).is_some());
    wait_sent(&gw, 4);
    std::thread::sleep(Duration::from_millis(300));
    sngrep.stop();
    let got = read_pcap(&std::fs::read(&pcap).unwrap());
    assert_eq!(got.len(), 4, "{got:#?}");
    for c in &got {
        let t = text(&c.payload);
        assert!(t.contains("CSeq: ") && t.contains(" MESSAGE\r\n"), "{t}");
        assert!(t.contains("Call-ID: only-this\r\n"), "{t}");
    }
    assert_eq!(gw.metric("sipedge_capture_sent_total"), 4);
}

/// One SIP message from a stream (headers, then Content-Length bytes).
fn read_sip(s: &mut TcpStream) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte)
            .expect("a SIP message from the edge");
        buf.push(byte[0]);
    }
    let len = text(&buf)
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            let named =
                name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("l");
            named.then(|| value.trim().parse::<usize>().unwrap())
        })
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).unwrap();
    buf.extend_from_slice(&body);
    buf
}

#[test]
fn a_tcp_core_side_is_captured_with_the_target_address() {
    let dir = TempDir::new("hep-tcp");
    let pcap = dir.0.join("capture.pcap");
    let hep = free_udp_port();
    let sngrep = Sngrep::start(&dir, hep, &pcap);
    let core = TcpListener::bind("127.0.0.2:0").unwrap();
    let core_addr = core.local_addr().unwrap();
    let gw = Gateway::start(&format!(
        "[core]\nuri = \"sip:{core_addr};transport=tcp\"\nlocal_address = \"127.0.0.1:5070\"\nprobes = false\n\
         [capture]\nhep = \"127.0.0.1:{hep}\"\npassword = \"{PASSWORD}\"\n"
    ));
    let mut alice = Ua::new("alice", gw.port);
    let msg = message(&mut alice, "tcp-hep");
    alice.ws.send(&msg);
    let (mut link, _) = core.accept().unwrap();
    link.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let at_core = read_sip(&mut link);
    let ok = answer(&at_core, 200, "OK", "");
    link.write_all(ok.as_bytes()).unwrap();
    assert_eq!(status(&alice.ws.recv_final()), 200);
    wait_sent(&gw, 4);
    std::thread::sleep(Duration::from_millis(300));
    sngrep.stop();
    let got = read_pcap(&std::fs::read(&pcap).unwrap());
    assert_eq!(got.len(), 4, "{got:#?}");
    // Toward the core: from local_address's IP (the stream's own port is not recorded) to the target.
    let edge_core_side = SocketAddr::from(([127, 0, 0, 1], 0));
    let out = got
        .iter()
        .find(|c| c.payload == at_core)
        .expect("the MESSAGE to the core");
    assert_eq!((out.src, out.dst), (edge_core_side, core_addr));
    let back = got
        .iter()
        .find(|c| c.payload == ok.as_bytes())
        .expect("the core's 200");
    assert_eq!((back.src, back.dst), (core_addr, edge_core_side));
    let edge_ws = SocketAddr::from(([127, 0, 0, 1], gw.port));
    assert!(
        got.iter()
            .any(|c| c.payload == msg.as_bytes() && c.dst == edge_ws)
    );
}
