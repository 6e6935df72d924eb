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
fn sampled_out_messages_are_not_kept_and_not_drops() {
    let stats = Arc::new(Stats::default());
    let (tap, rx) = channel(Selector::new(0.0, &[]), 4, stats.clone());
    let a = "192.0.2.1:1".parse().unwrap();
    for i in 0..100 {
        let m = message("MESSAGE", &i.to_string());
        if tap.keeps(&m) {
            tap.record(&m, a, a, Transport::Udp);
        }
    }
    assert_eq!(rx.try_iter().count(), 0);
    assert_eq!(stats.dropped.load(Ordering::Relaxed), 0);
}

#[test]
fn the_call_id_scan_finds_what_the_parse_finds() {
    let mut messages = vec![
        message("INVITE", "abc@host"),
        response(180, "INVITE", "x y"),
        b"MESSAGE sip:a@b SIP/2.0\r\nv: SIP/2.0/WS h;branch=z9hG4bK2\r\ni:  compact-1 \r\n\r\n"
            .to_vec(),
        b"BYE sip:a@b SIP/2.0\r\nCALL-ID:upper\r\nCSeq: 2 BYE\r\n\r\n".to_vec(),
        b"BYE sip:a@b SIP/2.0\ncall-id : bare-lf\n\n".to_vec(),
        // No Call-ID among the headers; one in the body does not count.
        b"MESSAGE sip:a@b SIP/2.0\r\nCSeq: 1 MESSAGE\r\n\r\nCall-ID: in-the-body\r\n".to_vec(),
        b"OPTIONS sip:a@b SIP/2.0\r\nTo: <sip:a@b>\r\n".to_vec(),
        b"no line break at all".to_vec(),
        Vec::new(),
    ];
    for trace in ["jssip-kamailio-session.txt", "sipjs-kamailio-session.txt"] {
        let path = format!(
            "{}/../edge/tests/data/traces/{trace}",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap();
        // Each message follows a `--- >>> send ...` or `--- <<< recv ...` line.
        for m in text
            .split("\n--- ")
            .skip(1)
            .filter_map(|m| m.split_once('\n'))
        {
            messages.push(m.1.replace("\r\n", "\n").replace('\n', "\r\n").into_bytes());
        }
    }
    let mut compared = 0;
    for m in &messages {
        let parsed = sipscan::Message::parse(m).ok().and_then(|p| {
            p.get(sipscan::HeaderName::CallId)
                .map(|h| h.value().to_vec())
        });
        let scanned = call_id_of(m).map(<[u8]>::to_vec);
        if let Some(p) = parsed {
            assert_eq!(scanned, Some(p), "{}", String::from_utf8_lossy(m));
            compared += 1;
        }
    }
    assert!(compared > 40, "only {compared} messages parsed");
    assert_eq!(call_id_of(&messages[2]), Some(&b"compact-1"[..]));
    assert_eq!(call_id_of(&messages[3]), Some(&b"upper"[..]));
    assert_eq!(call_id_of(&messages[4]), Some(&b"bare-lf"[..]));
    assert_eq!(call_id_of(&messages[5]), None);
    assert_eq!(call_id_of(&messages[6]), None);
    assert_eq!(call_id_of(&messages[7]), None);
    assert_eq!(call_id_of(&messages[8]), None);
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
