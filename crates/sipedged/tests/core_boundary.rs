//! Only the core speaks as the core: SIP from any other address, on the core-facing UDP sockets or as a SIP
//! stream on the WebSocket port, is dropped and counted, and never reaches a browser.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use common::{Gateway, Ua, answer, free_tcp_port, free_udp_pair, header, status};

/// The fake core's address (the browsers and the attacker use others on the loopback network).
const CORE_IP: [u8; 4] = [127, 0, 0, 2];
/// The attacker's address.
const ATTACKER_IP: [u8; 4] = [127, 0, 0, 3];

/// A MESSAGE for alice's flow, routed by the Path URI the core stored (`<sip:TOKEN@edge:port;...>`).
fn message_along(path: &str, from_port: u16, call_id: &str) -> String {
    format!(
        "MESSAGE sip:alice@alicews.invalid;transport=ws SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.2:{from_port};branch=z9hG4bK{call_id}\r\nRoute: {path}\r\nMax-Forwards: 70\r\n\
         From: <sip:mallory@example.test>;tag=m1\r\nTo: <sip:alice@example.test>\r\nCall-ID: {call_id}\r\n\
         CSeq: 1 MESSAGE\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"
    )
}

/// The edge worker's address in a Path URI.
fn path_target(path: &str) -> SocketAddr {
    let after_at = path.split_once('@').expect("user part").1;
    let hostport = after_at.split(';').next().unwrap();
    hostport.trim_end_matches('>').parse().expect("host:port")
}

#[test]
fn a_datagram_from_anyone_but_the_core_never_reaches_a_browser() {
    let core = UdpSocket::bind(SocketAddr::from((CORE_IP, 0))).unwrap();
    core.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let core_port = core.local_addr().unwrap().port();
    let local = free_udp_pair();
    let gw = Gateway::start(&format!(
        "[core]\nuri = \"sip:127.0.0.2:{core_port};transport=udp\"\nlocal_address = \"127.0.0.1:{local}\"\n# a fake core: no OPTIONS probes\nprobes = false\n"
    ));

    // alice registers through the edge; the fake core answers 200 and keeps the Path.
    let mut alice = Ua::new("alice", gw.port);
    let to = "<sip:alice@example.test>".to_string();
    let contact = format!(
        "Contact: {};expires=600\r\nSupported: path,outbound\r\n",
        alice.contact()
    );
    let register = alice.request(
        "REGISTER",
        "sip:example.test",
        &to,
        "reg-alice",
        &contact,
        "",
    );
    alice.ws.send(&register);
    let mut buf = vec![0u8; 65536];
    let (n, edge) = core.recv_from(&mut buf).expect("REGISTER at the core");
    let req = buf[..n].to_vec();
    let path = header(&req, "Path").expect("the edge adds Path");
    core.send_to(answer(&req, 200, "OK", "").as_bytes(), edge)
        .unwrap();
    assert_eq!(status(&alice.ws.recv_final()), 200);
    let target = path_target(&path);

    // The attack: a forged request along alice's Path, from an address that is not the core's.
    let attacker = UdpSocket::bind(SocketAddr::from((ATTACKER_IP, 0))).unwrap();
    attacker
        .send_to(message_along(&path, core_port, "forged").as_bytes(), target)
        .unwrap();
    assert_eq!(
        alice
            .ws
            .recv_timeout(Duration::from_millis(800))
            .map(|m| String::from_utf8_lossy(&m).into_owned()),
        None,
        "a datagram from {ATTACKER_IP:?} reached alice"
    );
    assert!(
        gw.metric("sipedge_routing_failures_total{reason=\"not_from_core\"}") >= 1,
        "the forged datagram is counted"
    );

    // The same request from the core is delivered.
    core.send_to(message_along(&path, core_port, "real").as_bytes(), target)
        .unwrap();
    let got = alice
        .ws
        .recv_timeout(Duration::from_secs(3))
        .expect("the core's MESSAGE reaches alice");
    assert!(
        got.starts_with(b"MESSAGE "),
        "{}",
        String::from_utf8_lossy(&got)
    );
}

#[test]
fn a_sip_start_line_from_a_browser_is_not_taken_for_the_core() {
    let core_port = free_tcp_port();
    let gw = Gateway::start(&format!(
        "[core]\nuri = \"sip:127.0.0.2:{core_port};transport=tcp\"\n# a fake core: no OPTIONS probes\nprobes = false\n"
    ));
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    s.bind(&SocketAddr::from((ATTACKER_IP, 0)).into()).unwrap();
    s.connect(&SocketAddr::from(([127, 0, 0, 1], gw.port)).into())
        .unwrap();
    let mut s: TcpStream = s.into();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    s.write_all(
        b"OPTIONS sip:edge.example SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.3:5060;branch=z9hG4bKx\r\n\
          From: <sip:core@example.test>;tag=1\r\nTo: <sip:edge@example.test>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n\
          Content-Length: 0\r\n\r\n",
    )
    .unwrap();
    let mut rest = Vec::new();
    let read = s.read_to_end(&mut rest);
    assert!(
        read.is_ok(),
        "the connection was kept open as a SIP stream from the core ({read:?})"
    );
    assert_eq!(
        gw.metric("sipedge_routing_failures_total{reason=\"not_from_core\"}"),
        1
    );
}
