//! IPv6 end to end against a real core (issue 20 item 6): Kamailio (deploy/kamailio/core.cfg) listening on
//! udp:[::1] only, sipedge's core URI and local_address on [::1], the clients' WebSockets on a [::1] listener.
//! Kamailio stores the edge's Path and sends the MESSAGE to the callee along it, so a malformed IPv6 hop (a host
//! written without brackets in Via or Path) fails here.
//!
//! Needs the `kamailio` program (Debian package kamailio): built only with the `interop` feature
//! (`cargo test -p sipedged --features interop --test ipv6_core`).
#![cfg(feature = "interop")]

mod common;

use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Gateway, TempDir, Ua, WsSip, message_between, status, text};

/// A free TCP port on [::1].
fn free_tcp_port6() -> u16 {
    TcpListener::bind("[::1]:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A UDP port `p` on [::1] such that `p` and `p + 1` are free (two workers' sockets toward the core).
fn free_udp_pair6() -> u16 {
    loop {
        let a = UdpSocket::bind("[::1]:0").unwrap();
        let p = a.local_addr().unwrap().port();
        if p < 65535 && UdpSocket::bind(("::1", p + 1)).is_ok() {
            return p;
        }
    }
}

/// A WebSocket (subprotocol sip) to [::1]:`port`, retried for up to 10 s while the listener comes up.
fn connect6(port: u16) -> WsSip {
    let deadline = Instant::now() + Duration::from_secs(10);
    let stream = loop {
        match TcpStream::connect(("::1", port)) {
            Ok(s) => break s,
            Err(e) if Instant::now() >= deadline => panic!("nothing listens on [::1]:{port}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    stream.set_nodelay(true).unwrap();
    WsSip::over(Box::new(stream), &["sip"], "/", "").expect("WebSocket handshake on [::1]")
}

/// Kamailio with deploy/kamailio/core.cfg on udp:[::1], stopped on drop.
struct Core6 {
    pid_file: PathBuf,
    port: u16,
    _dir: TempDir,
}

impl Core6 {
    fn start() -> Self {
        let port = free_udp_pair6();
        let dir = TempDir::new("kamailio6");
        let pid_file = dir.0.join("kamailio.pid");
        let cfg = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/kamailio/core.cfg");
        let status = Command::new("kamailio")
            .arg("-f")
            .arg(&cfg)
            .arg("-P")
            .arg(&pid_file)
            .args(["-A", &format!("CORE_LISTEN=udp:[::1]:{port}")])
            .arg("-E")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("kamailio must be installed (Debian package kamailio); .ci/run installs it");
        assert!(
            status.success(),
            "kamailio failed to start on udp:[::1]:{port}"
        );
        std::thread::sleep(Duration::from_millis(300));
        Self {
            pid_file,
            port,
            _dir: dir,
        }
    }
}

impl Drop for Core6 {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(&self.pid_file) {
            let _ = Command::new("kill").arg(pid.trim()).status();
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

#[test]
fn register_and_message_through_a_core_on_ipv6_loopback() {
    let core = Core6::start();
    let local = free_udp_pair6();
    let v6 = free_tcp_port6();
    let gw = Gateway::start(&format!(
        "[[listen]]\naddress = \"[::1]:{v6}\"\n[core]\nuri = \"sip:[::1]:{}\"\nlocal_address = \"[::1]:{local}\"\n",
        core.port
    ));
    let mut alice = Ua::on("alice", connect6(v6));
    let mut bob = Ua::on("bob", connect6(v6));
    for ua in [&mut alice, &mut bob] {
        let r = ua.register(300);
        assert_eq!(status(&r), 200, "REGISTER: {}", text(&r));
    }
    // Kamailio found bob by the Path it stored and sent the MESSAGE there. Below the core's own Via is the one
    // this edge wrote on alice's request toward the core: a worker's [::1] socket, in brackets.
    let got = message_between(&mut alice, &mut bob, "v6-msg-1");
    let got = text(&got);
    assert!(
        got.contains(&format!("\r\nVia: SIP/2.0/UDP [::1]:{};", core.port)),
        "the core's Via: {got}"
    );
    assert!(
        (local..local + 2).any(|p| got.contains(&format!("\r\nVia: SIP/2.0/UDP [::1]:{p};"))),
        "the edge's Via toward the core, [::1]:{local} or the next port: {got}"
    );
    let inbound: u64 = (0..2)
        .map(|w| gw.metric(&format!("sipedge_core_messages_in_total{{worker=\"{w}\"}}")))
        .sum();
    assert!(inbound > 0, "no message came in from the core");
    for ua in [&mut alice, &mut bob] {
        let r = ua.register(0);
        assert_eq!(status(&r), 200, "un-REGISTER: {}", text(&r));
    }
}
