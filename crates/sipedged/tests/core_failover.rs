//! Two UDP cores behind one edge, the first preferred: requests go to it while its OPTIONS probes are answered;
//! when it stops answering, it is marked down, the request it left unanswered goes on to the second core, and new
//! requests go there at once; when it answers again, traffic returns to it by priority.

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::fake_core::FakeCore;
use common::{Gateway, Ua, free_udp_pair, message, status};

fn target_metric(gw: &Gateway, name: &str, core: &FakeCore, ip: &str) -> u64 {
    gw.metric(&format!("{name}{{target=\"udp:{ip}:{}\"}}", core.port))
}

#[test]
fn when_the_preferred_core_stops_answering_its_requests_and_new_ones_go_to_the_next() {
    let first = FakeCore::start([127, 0, 0, 2]);
    let second = FakeCore::start([127, 0, 0, 3]);
    let local = free_udp_pair();
    let gw = Gateway::start(&format!(
        "[core]\nuri = [\"sip:127.0.0.2:{};transport=udp\", \"sip:127.0.0.3:{};transport=udp\"]\n\
         local_address = \"127.0.0.1:{local}\"\nprobe_interval = \"300ms\"\nprobe_timeout = \"200ms\"\n\
         t1 = \"2s\"\n",
        first.port, second.port
    ));
    let mut alice = Ua::new("alice", gw.port);
    let wait = Duration::from_secs(3);

    let m = message(&mut alice, "before");
    alice.ws.send(&m);
    assert!(first.request(wait).is_some(), "the preferred core takes it");
    assert_eq!(status(&alice.ws.recv_final()), 200);
    assert_eq!(
        target_metric(&gw, "sipedge_core_target_up", &first, "127.0.0.2"),
        1
    );

    // The first core stops answering (probes included); a request sent to it now waits unanswered.
    first.alive.store(false, Ordering::SeqCst);
    let m = message(&mut alice, "in-flight");
    let sent = Instant::now();
    alice.ws.send(&m);
    let moved = second
        .request(wait)
        .expect("the unanswered request goes on to the second core");
    assert!(moved.contains("Call-ID: in-flight"), "{moved}");
    assert_eq!(status(&alice.ws.recv_final()), 200);
    assert!(
        sent.elapsed() < Duration::from_millis(1900),
        "within a probe round or two, not after T1 = 2 s: {:?}",
        sent.elapsed()
    );
    assert_eq!(
        target_metric(&gw, "sipedge_core_target_up", &first, "127.0.0.2"),
        0
    );
    assert_eq!(
        target_metric(
            &gw,
            "sipedge_core_target_failovers_total",
            &first,
            "127.0.0.2"
        ),
        1
    );

    let m = message(&mut alice, "while-down");
    alice.ws.send(&m);
    assert!(
        second.request(wait).is_some(),
        "new requests go to the live core"
    );
    assert_eq!(status(&alice.ws.recv_final()), 200);

    // Back: after up_after = 2 good probes, traffic returns to the preferred core.
    first.alive.store(true, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(5);
    while target_metric(&gw, "sipedge_core_target_up", &first, "127.0.0.2") == 0 {
        assert!(
            Instant::now() < deadline,
            "the first core is never seen up again"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(200));
    let m = message(&mut alice, "after");
    alice.ws.send(&m);
    let back = first.request(wait).expect("back to the preferred core");
    assert!(back.contains("Call-ID: after"), "{back}");
    assert_eq!(status(&alice.ws.recv_final()), 200);
}

#[test]
fn with_no_live_core_a_request_gets_503_with_retry_after_at_once() {
    let only = FakeCore::start([127, 0, 0, 2]);
    only.alive.store(false, Ordering::SeqCst);
    let local = free_udp_pair();
    let gw = Gateway::start(&format!(
        "[core]\nuri = \"sip:127.0.0.2:{};transport=udp\"\nlocal_address = \"127.0.0.1:{local}\"\n\
         probe_interval = \"200ms\"\nprobe_timeout = \"100ms\"\n",
        only.port
    ));
    let deadline = Instant::now() + Duration::from_secs(5);
    while gw.metric(&format!(
        "sipedge_core_target_up{{target=\"udp:127.0.0.2:{}\"}}",
        only.port
    )) == 1
    {
        assert!(
            Instant::now() < deadline,
            "the silent core is never marked down"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut alice = Ua::new("alice", gw.port);
    let m = message(&mut alice, "nowhere");
    let sent = Instant::now();
    alice.ws.send(&m);
    let got = alice.ws.recv_final();
    assert_eq!(status(&got), 503, "{}", String::from_utf8_lossy(&got));
    assert!(String::from_utf8_lossy(&got).contains("Retry-After:"));
    assert!(
        sent.elapsed() < Duration::from_millis(500),
        "{:?}",
        sent.elapsed()
    );
}
