//! Sampling by Call-ID, the method filter, and the queue's bound.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::*;

fn message(method: &str, call_id: &str) -> Vec<u8> {
    format!(
        "{method} sip:bob@example.test SIP/2.0\r\nVia: SIP/2.0/WSS a.invalid;branch=z9hG4bK1\r\n\
         Call-ID: {call_id}\r\nCSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

fn response(code: u16, method: &str, call_id: &str) -> Vec<u8> {
    format!(
        "SIP/2.0 {code} Whatever\r\nVia: SIP/2.0/WSS a.invalid;branch=z9hG4bK1\r\n\
         Call-ID: {call_id}\r\nCSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

#[test]
fn a_call_id_is_kept_or_dropped_whole() {
    let s = Selector::new(0.5, &[]);
    for i in 0..200 {
        let id = format!("dialog-{i}@host");
        let kept = s.keeps(&message("INVITE", &id));
        assert_eq!(s.keeps(&response(100, "INVITE", &id)), kept, "{id}");
        assert_eq!(s.keeps(&response(200, "INVITE", &id)), kept, "{id}");
        assert_eq!(s.keeps(&message("ACK", &id)), kept, "{id}");
        assert_eq!(s.keeps(&message("BYE", &id)), kept, "{id}");
        // Another selector (another worker) decides alike.
        assert_eq!(Selector::new(0.5, &[]).keeps(&message("BYE", &id)), kept);
    }
}

#[test]
fn the_share_kept_is_close_to_sample() {
    for sample in [0.0, 0.1, 0.5, 0.9, 1.0] {
        let s = Selector::new(sample, &[]);
        let n = 20_000;
        let kept = (0..n)
            .filter(|i| s.keeps(&message("REGISTER", &format!("{i:08x}-{}", i * 7))))
            .count();
        let rate = kept as f64 / f64::from(n);
        assert!((rate - sample).abs() < 0.02, "sample {sample}: kept {rate}");
    }
}

#[test]
fn methods_keep_their_requests_and_responses_only() {
    let s = Selector::new(1.0, &["invite".into(), "BYE".into()]);
    assert!(!s.keeps_everything());
    assert!(s.keeps(&message("INVITE", "a")));
    assert!(s.keeps(&response(180, "INVITE", "a")));
    assert!(s.keeps(&message("BYE", "a")));
    assert!(!s.keeps(&message("REGISTER", "b")));
    assert!(!s.keeps(&response(200, "REGISTER", "b")));
    assert!(!s.keeps(&message("MESSAGE", "c")));
    assert!(!s.keeps(b"not SIP"));
    assert!(Selector::new(1.0, &[]).keeps_everything());
}

#[test]
fn a_full_queue_drops_and_counts_without_waiting() {
    let stats = Arc::new(Stats::default());
    let (tap, rx) = channel(Selector::new(1.0, &[]), 4, stats.clone());
    let a = "192.0.2.1:1".parse().unwrap();
    let b = "192.0.2.2:2".parse().unwrap();
    let started = Instant::now();
    for i in 0..1000 {
        tap.record(&message("MESSAGE", &i.to_string()), a, b, Transport::Ws);
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "a full queue held the worker up"
    );
    assert_eq!(stats.dropped.load(Ordering::Relaxed), 996);
    let queued: Vec<Record> = rx.try_iter().collect();
    assert_eq!(queued.len(), 4);
    assert_eq!(queued[0].payload, message("MESSAGE", "0"));
    assert_eq!((queued[0].src, queued[0].dst), (a, b));
    // A collector thread gone: still never a wait, still counted.
    drop(rx);
    tap.record(&message("MESSAGE", "x"), a, b, Transport::Ws);
    assert_eq!(stats.dropped.load(Ordering::Relaxed), 997);
}

#[test]
fn sampled_out_messages_are_not_drops() {
    let stats = Arc::new(Stats::default());
    let (tap, rx) = channel(Selector::new(0.0, &[]), 4, stats.clone());
    let a = "192.0.2.1:1".parse().unwrap();
    for i in 0..100 {
        tap.record(&message("MESSAGE", &i.to_string()), a, a, Transport::Udp);
    }
    assert_eq!(rx.try_iter().count(), 0);
    assert_eq!(stats.dropped.load(Ordering::Relaxed), 0);
}

#[test]
fn the_capture_thread_sends_hep_and_counts() {
    let collector = UdpSocket::bind("127.0.0.1:0").unwrap();
    collector
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let plan = CapturePlan {
        collector: collector.local_addr().unwrap(),
        agent_id: 9,
        password: Some("secret".into()),
        sample: 1.0,
        methods: Vec::new(),
    };
    let stats = Arc::new(Stats::default());
    let tap = spawn(&plan, stats.clone()).unwrap();
    let m = message("REGISTER", "reg-1");
    let src = "127.0.0.1:40000".parse().unwrap();
    let dst = "127.0.0.1:8080".parse().unwrap();
    tap.record(&m, src, dst, Transport::Ws);
    let mut buf = [0u8; 2048];
    let n = collector.recv(&mut buf).unwrap();
    assert_eq!(&buf[..4], b"HEP3");
    assert_eq!(usize::from(u16::from_be_bytes([buf[4], buf[5]])), n);
    assert!(buf[..n].ends_with(&m));
    assert!(buf[..n].windows(6).any(|w| w == b"secret"));
    let deadline = Instant::now() + Duration::from_secs(5);
    while stats.sent.load(Ordering::Relaxed) == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(stats.sent.load(Ordering::Relaxed), 1);
    let mut text = String::new();
    stats.render(&mut text);
    assert!(
        text.lines().any(|l| l == "sipedge_capture_sent_total 1"),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l == "sipedge_capture_dropped_total 0"),
        "{text}"
    );
}
