//! Issue 19 item 8: the standalone registrar caps the bindings one connection holds (403) and the bindings in all
//! (503 with Retry-After), and every way a binding goes (Expires: 0, expiry, the connection closing) gives its
//! room back.

mod common;

use common::*;
use edge::time::Timestamp;
use edge::{Action, DropReason, Edge, Mode};

const NOW: Timestamp = Timestamp(1_000_000);

/// A REGISTER of `user@example.test` as JsSIP sends it, from the connection's contact `c`.
fn register(user: &str, c: &str, cseq: u32, expires: u32) -> Vec<u8> {
    format!(
        "REGISTER sip:example.test SIP/2.0\r\n\
Via: SIP/2.0/WS {c}.invalid;branch=z9hG4bK{user}x{cseq}\r\n\
Max-Forwards: 69\r\n\
To: <sip:{user}@example.test>\r\n\
From: <sip:{user}@example.test>;tag=t{user}\r\n\
Call-ID: reg-{user}-{c}\r\n\
CSeq: {cseq} REGISTER\r\n\
Contact: <sip:{c}@{c}.invalid;transport=ws>;expires={expires}\r\n\
Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// Send `msg` on `slot`; the answer's status, its bytes, and the actions after it (what is counted).
fn send(e: &mut Edge, slot: u32, msg: &[u8], now: Timestamp) -> (u16, String, Vec<Action>) {
    let mut out = Vec::new();
    e.from_client(&flow(slot), msg, now, &mut out);
    let mut it = out.into_iter();
    match it.next() {
        Some(Action::ToFlow { flow, bytes, .. }) => {
            assert_eq!(flow.slot, slot, "answered on the connection it came from");
            (status(&bytes), text(&bytes), it.collect())
        }
        other => panic!("expected an answer on the flow, got {other:?}"),
    }
}

/// Register `users` on `slot` at `now`; the status of each answer.
fn register_all(e: &mut Edge, slot: u32, users: std::ops::Range<u32>, now: Timestamp) -> Vec<u16> {
    users
        .map(|i| {
            send(
                e,
                slot,
                &register(&format!("user{i}"), &format!("c{slot}"), 1, 600),
                now,
            )
            .0
        })
        .collect()
}

#[test]
fn one_connection_cannot_register_unlimited_aors() {
    let mut e = edge(Mode::Standalone);
    let statuses = register_all(&mut e, 1, 0..16, NOW);
    assert!(statuses.iter().all(|&s| s == 200), "{statuses:?}");
    // A browser registers one AoR or a few; a connection going on is misbehaving, and is refused.
    for i in 16..100 {
        let (status, text, rest) =
            send(&mut e, 1, &register(&format!("user{i}"), "c1", 1, 600), NOW);
        assert_eq!(status, 403, "AoR {i}: {text}");
        assert!(
            text.starts_with("SIP/2.0 403 Too Many Bindings On This Connection\r\n"),
            "{text}"
        );
        assert_eq!(rest, vec![Action::Drop(DropReason::ConnectionBindingCap)]);
    }
    assert_eq!(e.registrar().binding_count(), 16);
    assert_eq!(e.registrar().aor_count(), 16);
    // Refreshing what it holds is not refused, and other connections are not affected.
    assert_eq!(
        send(&mut e, 1, &register("user3", "c1", 2, 600), NOW).0,
        200
    );
    assert_eq!(register_all(&mut e, 2, 100..116, NOW), vec![200; 16]);
    assert_eq!(e.flow_closed(&flow(1).id), 16);
    assert_eq!(e.registrar().binding_count(), 16);
}

#[test]
fn one_connection_cannot_pile_contacts_on_many_aors() {
    // The per-AoR cap (16) times many AoRs would still be unbounded: the cap counts bindings, not AoRs.
    let mut e = edge(Mode::Standalone);
    let mut accepted = 0;
    for i in 0..8 {
        for c in 0..8 {
            let (status, _, _) = send(
                &mut e,
                1,
                &register(&format!("user{i}"), &format!("c{c}"), 1, 600),
                NOW,
            );
            accepted += usize::from(status == 200);
        }
    }
    assert_eq!(accepted, 16);
    assert_eq!(e.registrar().binding_count(), 16);
}

#[test]
fn unregistering_gives_the_connection_its_room_back() {
    let mut e = edge(Mode::Standalone);
    assert_eq!(register_all(&mut e, 1, 0..16, NOW), vec![200; 16]);
    assert_eq!(
        send(&mut e, 1, &register("user16", "c1", 1, 600), NOW).0,
        403
    );
    // Expires: 0 removes a binding: the connection may register another AoR in its place, again and again.
    for i in 0..40 {
        assert_eq!(
            send(&mut e, 1, &register(&format!("user{i}"), "c1", 2, 0), NOW).0,
            200
        );
        let next = format!("user{}", i + 16);
        assert_eq!(
            send(&mut e, 1, &register(&next, "c1", 1, 600), NOW).0,
            200,
            "{next}"
        );
    }
    assert_eq!(e.registrar().binding_count(), 16);
    assert_eq!(e.flow_closed(&flow(1).id), 16);
    assert_eq!(e.registrar().binding_count(), 0);
}

#[test]
fn expiry_gives_the_connection_its_room_back() {
    let mut e = edge(Mode::Standalone);
    assert_eq!(register_all(&mut e, 1, 0..16, NOW), vec![200; 16]);
    assert_eq!(
        send(&mut e, 1, &register("user16", "c1", 1, 600), NOW).0,
        403
    );
    let later = NOW.after(std::time::Duration::from_secs(601));
    assert_eq!(e.expire(later), 16);
    assert_eq!(register_all(&mut e, 1, 16..32, later), vec![200; 16]);
    assert_eq!(
        send(&mut e, 1, &register("user32", "c1", 1, 600), later).0,
        403
    );
}

#[test]
fn a_closed_connection_gives_its_room_back() {
    let mut e = edge(Mode::Standalone);
    assert_eq!(register_all(&mut e, 1, 0..16, NOW), vec![200; 16]);
    assert_eq!(
        send(&mut e, 1, &register("user16", "c1", 1, 600), NOW).0,
        403
    );
    assert_eq!(e.flow_closed(&flow(1).id), 16);
    // The slot's next connection starts from nothing.
    let mut next = flow(1);
    next.id.generation += 1;
    let mut out = Vec::new();
    e.from_client(&next, &register("user16", "c1", 1, 600), NOW, &mut out);
    match out.first() {
        Some(Action::ToFlow { bytes, .. }) => assert_eq!(status(bytes), 200, "{}", text(bytes)),
        other => panic!("{other:?}"),
    }
}

/// A standalone edge whose registrar holds at most `max` bindings.
fn capped(max: usize) -> Edge {
    let mut cfg = config(Mode::Standalone);
    cfg.registrar.max_bindings = max;
    Edge::new(cfg, key())
}

#[test]
fn a_full_registrar_answers_503_with_retry_after() {
    let mut e = capped(3);
    for slot in 1..=3 {
        assert_eq!(register_all(&mut e, slot, slot..slot + 1, NOW), vec![200]);
    }
    let (status, text, rest) = send(&mut e, 4, &register("user4", "c4", 1, 600), NOW);
    assert_eq!(status, 503, "{text}");
    assert!(text.starts_with("SIP/2.0 503 Registrar Full\r\n"), "{text}");
    assert!(text.contains("\r\nRetry-After: 60\r\n"), "{text}");
    assert_eq!(rest, vec![Action::Drop(DropReason::RegistrarFull)]);
    assert_eq!(e.registrar().binding_count(), 3);
    // A full node still takes refreshes and removals.
    assert_eq!(
        send(&mut e, 1, &register("user1", "c1", 2, 600), NOW).0,
        200
    );
    assert_eq!(send(&mut e, 2, &register("user2", "c2", 2, 0), NOW).0, 200);
    assert_eq!(
        send(&mut e, 4, &register("user4", "c4", 1, 600), NOW).0,
        200
    );
    assert_eq!(
        send(&mut e, 5, &register("user5", "c5", 1, 600), NOW).0,
        503
    );
}

#[test]
fn every_way_a_binding_goes_gives_the_registrar_its_room_back() {
    let mut e = capped(2);
    let fill = |e: &mut Edge, now| {
        assert_eq!(register_all(e, 1, 1..2, now), vec![200]);
        assert_eq!(register_all(e, 2, 2..3, now), vec![200]);
        assert_eq!(register_all(e, 3, 3..4, now), vec![503]);
    };
    fill(&mut e, NOW);
    // The connection closes.
    assert_eq!(e.flow_closed(&flow(1).id), 1);
    assert_eq!(register_all(&mut e, 3, 3..4, NOW), vec![200]);
    // Expires: 0.
    assert_eq!(send(&mut e, 2, &register("user2", "c2", 2, 0), NOW).0, 200);
    assert_eq!(send(&mut e, 3, &register("user3", "c3", 2, 0), NOW).0, 200);
    assert_eq!(e.registrar().binding_count(), 0);
    // Expiry.
    fill(&mut e, NOW);
    let later = NOW.after(std::time::Duration::from_secs(601));
    assert_eq!(e.expire(later), 2);
    fill(&mut e, later);
}

#[test]
fn the_total_is_shared_between_the_workers_shards() {
    let mut cfg = config(Mode::Standalone);
    cfg.workers = 4;
    cfg.registrar.max_bindings = 10;
    // Each of 4 shards holds at most 10 / 4, rounded up.
    let mut e = Edge::new(cfg, key());
    let mine: Vec<u32> = (0..1000)
        .filter(|i| e.shard_of(&format!("user{i}@example.test")) == 0)
        .take(4)
        .collect();
    let statuses: Vec<u16> = mine
        .iter()
        .map(|&i| {
            send(
                &mut e,
                i + 1,
                &register(&format!("user{i}"), "c", 1, 600),
                NOW,
            )
            .0
        })
        .collect();
    assert_eq!(statuses, vec![200, 200, 200, 503]);
}
