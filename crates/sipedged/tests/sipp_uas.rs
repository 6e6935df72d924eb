//! (c) sipp as a UAS behind sipedge (edge mode, core = sipp): 100 calls from WebSocket clients complete
//! (INVITE / 180 / 200 / ACK / BYE / 200), routed back along our Record-Route.
//!
//! Needs the `sipp` program (Debian package sip-tester): built only with the `interop` feature
//! (`cargo test -p sipedged --features interop`).
#![cfg(feature = "interop")]

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

#[test]
fn hundred_calls_to_sipp_uas() {
    let sipp_port = free_udp_pair();
    let mut sipp = Command::new("sipp")
        .args([
            "-sn",
            "uas",
            "-i",
            "127.0.0.1",
            "-p",
            &sipp_port.to_string(),
            "-m",
            "100",
        ])
        .args(["-nostdin"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sipp must be installed (Debian package sip-tester); .ci/run installs it");
    std::thread::sleep(Duration::from_millis(300));
    let local = free_udp_pair();
    let gw = Gateway::start(&format!(
        "[core]\nuri = \"sip:127.0.0.1:{sipp_port};transport=udp\"\nlocal_address = \"127.0.0.1:{local}\"\n# a fake core: no OPTIONS probes\nprobes = false\n"
    ));
    let mut ua = Ua::new("caller", gw.port);
    let mut completed = 0;
    for i in 0..100 {
        let call_id = format!("sipp-call-{i}");
        let contact = format!(
            "Contact: <sip:caller@{};transport=ws;ob>\r\nContent-Type: application/sdp\r\n",
            ua.host
        );
        let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\n";
        let ruri = format!("sip:service@127.0.0.1:{sipp_port}");
        let invite = ua.request(
            "INVITE",
            &ruri,
            &format!("<{ruri}>"),
            &call_id,
            &contact,
            sdp,
        );
        let invite_cseq = ua.cseq;
        ua.ws.send(&invite);
        let ok = ua.ws.recv_final();
        assert_eq!(status(&ok), 200, "call {i}: {}", text(&ok));
        let to = header(&ok, "To").unwrap();
        let target = sipscan::Message::parse(&ok)
            .unwrap()
            .contacts()
            .next()
            .and_then(|c| match c.ok()? {
                sipscan::Contact::Addr(a) => Some(text(a.uri_bytes)),
                sipscan::Contact::Star => None,
            })
            .unwrap_or_else(|| ruri.clone());
        let mut rr: Vec<String> = sipscan::Message::parse(&ok)
            .unwrap()
            .record_routes()
            .map(|r| format!("<{}>", text(r.unwrap().uri_bytes)))
            .collect();
        rr.reverse();
        let route = if rr.is_empty() {
            String::new()
        } else {
            format!("Route: {}\r\n", rr.join(", "))
        };
        let ack = ua
            .request("ACK", &target, &to, &call_id, &route, "")
            .replace(
                &format!("CSeq: {} ACK", ua.cseq),
                &format!("CSeq: {invite_cseq} ACK"),
            );
        ua.ws.send(&ack);
        let bye = ua.request("BYE", &target, &to, &call_id, &route, "");
        ua.ws.send(&bye);
        let done = ua.ws.recv_final();
        assert_eq!(status(&done), 200, "BYE of call {i}: {}", text(&done));
        completed += 1;
    }
    assert_eq!(completed, 100);
    // sipp exits by itself after -m 100 calls; it succeeded if it exits 0.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = sipp.try_wait().unwrap() {
            break Some(s);
        }
        if std::time::Instant::now() > deadline {
            let _ = sipp.kill();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        status.is_some_and(|s| s.success()),
        "sipp UAS reports success after 100 calls: {status:?}"
    );
}
