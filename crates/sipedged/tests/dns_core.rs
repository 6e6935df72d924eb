//! The core by name (RFC 3263) against a real DNS server, Debian's dnsmasq: the edge takes the SRV records'
//! targets, sends to the one of lowest priority, and when the records change, picks the change up once their
//! TTL has run out, without a restart or a signal.
#![cfg(feature = "interop")]

mod common;

use std::time::{Duration, Instant};

use common::dnsmasq::{Dnsmasq, free_port};
use common::fake_core::FakeCore;
use common::{Gateway, Ua, free_udp_pair, message, status};

/// `_sip._udp.cores.test` → one SRV record per (host, port, priority), each host an A record, TTL 1 s.
fn zone(targets: &[(&str, [u8; 4], u16, u16)]) -> Vec<String> {
    let mut records = vec!["--local-ttl=1".to_string(), "--local=/cores.test/".into()];
    for (host, ip, port, priority) in targets {
        let [a, b, c, d] = ip;
        records.push(format!(
            "--srv-host=_sip._udp.cores.test,{host}.cores.test,{port},{priority},10"
        ));
        records.push(format!("--host-record={host}.cores.test,{a}.{b}.{c}.{d},1"));
    }
    records
}

#[test]
fn srv_priorities_choose_the_core_and_a_changed_record_is_picked_up_after_its_ttl() {
    let one = FakeCore::start([127, 0, 0, 2]);
    let two = FakeCore::start([127, 0, 0, 3]);
    let dns_port = free_port();
    let dns = Dnsmasq::start(
        dns_port,
        &zone(&[
            ("one", [127, 0, 0, 2], one.port, 10),
            ("two", [127, 0, 0, 3], two.port, 20),
        ]),
    );
    let local = free_udp_pair();
    let gw = Gateway::start(&format!(
        "[core]\nuri = \"sip:cores.test;transport=udp\"\nname_servers = [\"{}\"]\n\
         local_address = \"127.0.0.1:{local}\"\nprobe_interval = \"500ms\"\nprobe_timeout = \"300ms\"\n",
        dns.addr
    ));
    let mut alice = Ua::new("alice", gw.port);
    let wait = Duration::from_secs(3);
    let m = message(&mut alice, "by-priority");
    alice.ws.send(&m);
    assert!(one.request(wait).is_some(), "priority 10 before 20");
    assert_eq!(status(&alice.ws.recv_final()), 200);

    // The zone changes: core one is gone from it. Within its TTL (1 s) and the retry, the edge follows.
    drop(dns);
    let _dns = Dnsmasq::start(dns_port, &zone(&[("two", [127, 0, 0, 3], two.port, 20)]));
    let changed = Instant::now();
    let gone = format!(
        "sipedge_core_target_up{{target=\"udp:127.0.0.2:{}\"}}",
        one.port
    );
    while gw.metrics().contains(&gone) {
        assert!(
            changed.elapsed() < Duration::from_secs(10),
            "the removed target is still used"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The workers have the new view within main's tick (100 ms).
    std::thread::sleep(Duration::from_millis(300));
    let m = message(&mut alice, "after-the-change");
    alice.ws.send(&m);
    let got = two.request(wait).expect("the remaining target takes it");
    assert!(got.contains("Call-ID: after-the-change"), "{got}");
    assert_eq!(status(&alice.ws.recv_final()), 200);
    assert!(one.request(Duration::from_millis(200)).is_none());
}

/// A config toward `cores.test` through `dns` (probes every 500 ms), for a gateway or `--check`.
fn core_by_name(dns: std::net::SocketAddr, local: u16) -> String {
    format!(
        "[core]\nuri = \"sip:cores.test;transport=udp\"\nname_servers = [\"{dns}\"]\n\
         local_address = \"127.0.0.1:{local}\"\nprobe_interval = \"500ms\"\nprobe_timeout = \"300ms\"\n"
    )
}

#[test]
fn a_node_whose_core_does_not_resolve_yet_starts_answers_503_and_follows_once_it_resolves() {
    let core = FakeCore::start([127, 0, 0, 2]);
    let dns_port = free_port();
    // The zone exists but has no records for the core yet: NXDOMAIN, as before a cluster's core Service exists.
    let no_records = ["--local-ttl=1".to_string(), "--local=/cores.test/".into()];
    let dns = Dnsmasq::start(dns_port, &no_records);
    let gw = Gateway::start(&core_by_name(dns.addr, free_udp_pair()));
    let mut alice = Ua::new("alice", gw.port);
    let m = message(&mut alice, "before-it-resolves");
    alice.ws.send(&m);
    let got = alice.ws.recv_final();
    assert_eq!(status(&got), 503, "{}", common::text(&got));
    assert!(common::header(&got, "Retry-After").is_some());
    assert!(core.request(Duration::from_millis(200)).is_none());

    drop(dns);
    let _dns = Dnsmasq::start(dns_port, &zone(&[("one", [127, 0, 0, 2], core.port, 10)]));
    let resolved = Instant::now();
    let up = format!(
        "sipedge_core_target_up{{target=\"udp:127.0.0.2:{}\"}} 1",
        core.port
    );
    // The retry runs every 5 s: the target appears within one retry and its first probe.
    while !gw.metrics().contains(&up) {
        assert!(
            resolved.elapsed() < Duration::from_secs(12),
            "the core was not picked up after it resolved"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(300));
    let m = message(&mut alice, "after-it-resolves");
    alice.ws.send(&m);
    let got = core
        .request(Duration::from_secs(3))
        .expect("the core gets it");
    assert!(got.contains("Call-ID: after-it-resolves"), "{got}");
    assert_eq!(status(&alice.ws.recv_final()), 200);
}

#[test]
fn check_warns_when_the_core_does_not_resolve_and_still_fails_on_errors() {
    let dns = Dnsmasq::start(
        free_port(),
        &["--local-ttl=1".to_string(), "--local=/cores.test/".into()],
    );
    let dir = common::TempDir::new("dnscheck");
    let cfg = dir.0.join("sipedge.toml");
    let run = |doc: &str| {
        std::fs::write(&cfg, doc).unwrap();
        std::process::Command::new(env!("CARGO_BIN_EXE_sipedged"))
            .arg("--check")
            .arg("--config")
            .arg(&cfg)
            .output()
            .unwrap()
    };
    let out = run(&core_by_name(dns.addr, 5070));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("warning") && err.contains("does not resolve") && err.contains("cores.test"),
        "{err}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("configuration is valid"));
    // A real error in the same file still fails.
    let out = run(&format!("{}down_after = 0\n", core_by_name(dns.addr, 5070)));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("down_after"), "{err}");
}
