//! A registrar shard moved to another process as bytes holds the same bindings and goes on as the original
//! would have; damaged or foreign bytes are refused and never panic.

use proptest::prelude::*;

use super::tests::{assert_index_exact, flow, reg_of};
use super::*;

/// Something that happens to a registrar: time passes, then a REGISTER (expiry 0: an unregister), a closed
/// connection, or an expiry run.
#[derive(Debug, Clone)]
enum Event {
    Register {
        user: u8,
        instance: u8,
        expires: u32,
        slot: u32,
    },
    Closed(u32),
    Expire,
}

fn events() -> impl Strategy<Value = Vec<(u32, Event)>> {
    let event = prop_oneof![
        6 => (0u8..4, 0u8..3, prop_oneof![Just(0), Just(60), Just(600), Just(3600)], 0u32..5).prop_map(
            |(user, instance, expires, slot)| Event::Register { user, instance, expires, slot }
        ),
        1 => (0u32..5).prop_map(Event::Closed),
        1 => Just(Event::Expire),
    ];
    proptest::collection::vec((0u32..400_000, event), 0..40)
}

/// Runs `events` on `r` from `now`, with CSeqs from `cseq`; returns the time after them.
fn run(r: &mut Registrar, mut now: Timestamp, events: &[(u32, Event)], cseq: u32) -> Timestamp {
    for (i, (gap, e)) in events.iter().enumerate() {
        now = Timestamp(now.0 + u64::from(*gap));
        match e {
            Event::Register {
                user,
                instance,
                expires,
                slot,
            } => {
                let req = reg_of(
                    &format!("u{user}"),
                    &format!("urn:uuid:{instance}"),
                    *expires,
                    cseq + i as u32,
                    *slot,
                );
                let _ = r.register(&req, now);
            }
            Event::Closed(slot) => {
                r.remove_flow(&flow(*slot));
            }
            Event::Expire => {
                r.expire(now);
            }
        }
    }
    now
}

fn exported(r: &Registrar, now: Timestamp) -> Vec<u8> {
    let mut out = Vec::new();
    r.export_state(now, &mut out).unwrap();
    out
}

proptest! {
    /// Moved at any point to a process whose clock reads otherwise, the shard writes the same bytes, keeps its
    /// flow index exact, and answers the same events with the same bindings, lookups and expiries.
    #[test]
    fn a_moved_registrar_goes_on_as_the_original(
        before in events(),
        after in events(),
        clock in 0u64..50_000_000,
    ) {
        let cfg = RegistrarConfig { max_bindings: 12, max_bindings_per_aor: 3, ..RegistrarConfig::default() };
        let mut old = Registrar::shard(cfg, 1);
        let old_now = run(&mut old, Timestamp(1_000), &before, 1);
        let state = exported(&old, old_now);
        // The importing clock stands at least where the exporting one did (the daemon carries it over).
        let new_now = Timestamp(old_now.0 + clock);
        let mut new = Registrar::import_state(cfg, 1, new_now, &state).unwrap();
        prop_assert_eq!(exported(&new, new_now), state);
        assert_index_exact(&new);
        prop_assert_eq!(
            (new.binding_count(), new.flow_count(), new.aor_count()),
            (old.binding_count(), old.flow_count(), old.aor_count())
        );
        let old_end = run(&mut old, old_now, &after, 1_000);
        let new_end = run(&mut new, new_now, &after, 1_000);
        prop_assert_eq!(exported(&old, old_end), exported(&new, new_end));
        assert_index_exact(&new);
        for user in 0..4 {
            let aor = normalize_aor(&format!("u{user}"), "example.com");
            let seen = |r: &Registrar, now| -> Vec<(String, u32, u32)> {
                r.lookup(&aor, now).iter().map(|b| (b.uri().to_string(), b.cseq, b.expires_in(now))).collect()
            };
            prop_assert_eq!(seen(&old, old_end), seen(&new, new_end));
        }
        // Their bindings lapse at the same moments.
        let (mut old, mut new) = (old, new);
        for secs in [61, 601, 3_601] {
            let later = std::time::Duration::from_secs(secs);
            prop_assert_eq!(old.expire(old_end.after(later)), new.expire(new_end.after(later)));
        }
    }

    /// Bytes that are not a registrar state are refused or are one, never a panic.
    #[test]
    fn arbitrary_bytes_are_refused_or_a_registrar(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
        if let Ok(r) = Registrar::import_state(RegistrarConfig::default(), 1, Timestamp(5), &bytes) {
            assert_index_exact(&r);
        }
    }
}

#[test]
fn a_state_cut_short_with_bytes_after_it_or_of_another_version_is_refused() {
    let mut r = Registrar::new(RegistrarConfig::default());
    for (user, slot) in [("alice", 1), ("bob", 2), ("alice", 3)] {
        r.register(
            &reg_of(user, &format!("urn:uuid:{slot}"), 600, 1, slot),
            Timestamp(10),
        )
        .unwrap();
    }
    let state = exported(&r, Timestamp(20));
    for n in 0..state.len() {
        assert!(
            Registrar::import_state(RegistrarConfig::default(), 1, Timestamp(20), &state[..n])
                .is_err(),
            "cut to {n}"
        );
    }
    let mut longer = state.clone();
    longer.push(0);
    assert_eq!(
        Registrar::import_state(RegistrarConfig::default(), 1, Timestamp(20), &longer).err(),
        Some(StateError::Trailing(1))
    );
    let mut other = state.clone();
    other[0] = 2;
    assert_eq!(
        Registrar::import_state(RegistrarConfig::default(), 1, Timestamp(20), &other).err(),
        Some(StateError::Version(2))
    );
}

/// A state written by format version 1: `alice@example.com` with one binding on flow (node 1, worker 0, slot 9,
/// generation 1, outbound), instance `urn:uuid:1`, reg-id 1, lapsing in 500 s, registered 100 s ago, CSeq 7.
#[test]
fn a_version_1_state_is_read() {
    let hex = "01 00000001 0011 616c696365406578616d706c652e636f6d 0001 \
               0013 7369703a616c69636540392e696e76616c6964 01 000a 75726e3a757569643a31 \
               0012 632d616c6963652d75726e3a757569643a31 01 00000001 \
               00000001 0000 00000009 00000001 01 \
               000000000007a120 00000000000186a0 00000007";
    let digits: String = hex.split_whitespace().collect();
    let state: Vec<u8> = (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).unwrap())
        .collect();
    let now = Timestamp(1_000_000);
    let r = Registrar::import_state(RegistrarConfig::default(), 1, now, &state).unwrap();
    let found = r.lookup("alice@example.com", now);
    assert_eq!(found.len(), 1);
    let b = found[0];
    assert_eq!(
        (b.uri(), b.instance(), b.call_id(), b.reg_id, b.cseq),
        (
            "sip:alice@9.invalid",
            Some("urn:uuid:1"),
            "c-alice-urn:uuid:1",
            Some(1),
            7
        )
    );
    assert_eq!(b.flow, FlowId { slot: 9, ..flow(9) });
    assert_eq!((b.expires_in(now), b.updated_at), (500, Timestamp(900_000)));
    assert_eq!(r.next_expiry(), Some(Timestamp(1_500_000)));
    assert_eq!(exported(&r, now), state);
}

#[test]
fn two_entries_for_one_aor_or_an_aor_without_bindings_are_refused() {
    let mut r = Registrar::new(RegistrarConfig::default());
    r.register(&reg_of("alice", "urn:uuid:1", 600, 1, 1), Timestamp(10))
        .unwrap();
    let one = exported(&r, Timestamp(10));
    // The same AoR twice: the count says two, the body repeats.
    let body = &one[5..];
    let mut twice = vec![1, 0, 0, 0, 2];
    twice.extend_from_slice(body);
    twice.extend_from_slice(body);
    assert_eq!(
        Registrar::import_state(RegistrarConfig::default(), 1, Timestamp(10), &twice).err(),
        Some(StateError::Field("aor"))
    );
    let empty = [1, 0, 0, 0, 1, 0, 1, b'a', 0, 0];
    assert_eq!(
        Registrar::import_state(RegistrarConfig::default(), 1, Timestamp(10), &empty).err(),
        Some(StateError::Field("bindings"))
    );
}
