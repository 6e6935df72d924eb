//! Property: a connection's state exported at any point between reads and imported by another (a hand-over
//! between processes) goes on exactly as the original would: the same events, the same bytes to send.

mod common;

use std::time::{Duration, Instant};

use common::*;
use proptest::prelude::*;
use wsproto::{Config, Connection, STATE_VERSION, StateError};

fn frame_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        common::frame_strategy(),
        // A text message in fragments with a ping between them, bytes that break the protocol (invalid UTF-8),
        // and a close.
        (".{1,30}", ".{1,30}").prop_map(|(a, b): (String, String)| {
            [
                client_frame(false, 1, a.as_bytes()),
                client_frame(true, 9, b"mid"),
                client_frame(true, 0, b.as_bytes()),
            ]
            .concat()
        }),
        Just(client_frame(true, 1, &[0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xff])),
        Just(client_frame(true, 8, &[0x03, 0xe8, b'b', b'y', b'e'])),
    ]
}

/// Moves `conn` through its exported state, as a new process would take it over.
fn hand_over(conn: &Connection, now: Instant) -> Connection {
    let mut state = Vec::new();
    conn.export_state(now, &mut state);
    assert_eq!(state[0], STATE_VERSION);
    Connection::import_state(&state, Config::default(), now).expect("its own state reads back")
}

/// Sends whatever the connection queued, as either role may (a damaged state can name the client's role, whose
/// frames need a mask key: refused without one, and that is an answer too).
fn drain(conn: &mut Connection) {
    let mut out = Vec::new();
    while let Ok(true) = conn.poll_transmit(&mut out, None) {}
}

proptest! {
    #[test]
    fn a_handed_over_connection_goes_on_as_the_original(
        frames in proptest::collection::vec(frame_strategy(), 1..8),
        cuts in proptest::collection::vec(1usize..40, 1..20),
        handovers in proptest::collection::vec(any::<bool>(), 1..20),
    ) {
        let wire: Vec<u8> = frames.concat();
        let now = Instant::now();
        let mut original = server();
        let mut moved = server();
        let (mut want, mut got) = (Vec::new(), Vec::new());
        let (mut want_tx, mut got_tx) = (Vec::new(), Vec::new());
        let mut at = 0;
        for (i, cut) in cuts.iter().cycle().enumerate() {
            if at >= wire.len() { break; }
            let end = (at + cut).min(wire.len());
            want.extend(feed(&mut original, &wire[at..end]));
            want_tx.extend(transmit(&mut original));
            if handovers[i % handovers.len()] {
                moved = hand_over(&moved, now);
            }
            got.extend(feed(&mut moved, &wire[at..end]));
            got_tx.extend(transmit(&mut moved));
            at = end;
        }
        prop_assert_eq!(got, want);
        prop_assert_eq!(got_tx, want_tx);
        prop_assert_eq!(moved.is_closed(), original.is_closed());
    }

    #[test]
    fn bytes_that_are_not_a_state_are_refused_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(mut c) = Connection::import_state(&bytes, Config::default(), Instant::now()) {
            // Whatever it accepted behaves as a connection.
            let _ = feed(&mut c, &client_frame(true, 1, b"after"));
            drain(&mut c);
        }
    }

    #[test]
    fn a_damaged_state_is_refused_or_still_a_connection(
        frames in proptest::collection::vec(frame_strategy(), 1..4),
        cut in 1usize..200,
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let wire: Vec<u8> = frames.concat();
        let mut conn = server();
        let _ = feed(&mut conn, &wire[..cut.min(wire.len())]);
        let mut state = Vec::new();
        conn.export_state(Instant::now(), &mut state);
        let i = at.index(state.len());
        state[i] = byte;
        if let Ok(mut c) = Connection::import_state(&state, Config::default(), Instant::now()) {
            let _ = feed(&mut c, &wire[cut.min(wire.len())..]);
            drain(&mut c);
        }
    }
}

#[test]
fn the_keepalive_clock_moves_as_time_elapsed() {
    let config = Config {
        keepalive: Some(wsproto::Keepalive {
            interval: Duration::from_secs(30),
            pong_timeout: Duration::from_secs(10),
        }),
        ..Config::default()
    };
    let t0 = Instant::now();
    let mut old = Connection::new(wsproto::Role::Server, config);
    old.start_keepalive(t0);
    let mut state = Vec::new();
    old.export_state(t0 + Duration::from_secs(20), &mut state);
    // The new process reads it with its own clock: the ping is due 10 s after it took over.
    let t1 = t0 + Duration::from_secs(1000);
    let new = Connection::import_state(&state, config, t1).unwrap();
    assert_eq!(new.poll_timeout(), Some(t1 + Duration::from_secs(10)));
}

#[test]
fn a_state_of_another_version_cut_short_or_with_more_after_it_is_refused() {
    let mut conn = server();
    let _ = feed(&mut conn, &client_frame(false, 1, b"part of a mess"));
    let mut state = Vec::new();
    conn.export_state(Instant::now(), &mut state);
    let now = Instant::now();
    let mut other = state.clone();
    other[0] = STATE_VERSION + 1;
    assert_eq!(
        Connection::import_state(&other, Config::default(), now).err(),
        Some(StateError::Version(STATE_VERSION + 1))
    );
    assert_eq!(
        Connection::import_state(&state[..state.len() - 1], Config::default(), now).err(),
        Some(StateError::Truncated)
    );
    let mut longer = state.clone();
    longer.push(0);
    assert_eq!(
        Connection::import_state(&longer, Config::default(), now).err(),
        Some(StateError::Trailing(1))
    );
    let small = Config {
        max_message_size: 4,
        ..Config::default()
    };
    assert_eq!(
        Connection::import_state(&state, small, now).err(),
        Some(StateError::TooBig(14))
    );
}

/// Version 1 as written for a server in the middle of a fragmented text message: a state written by a build
/// of this version must stay readable by every later build that reads version 1, and this build writes it
/// byte for byte.
///
/// version 01, server 00, open 00, no header bytes 00, no frame 00, text 01, message length 14, buffer length
/// 14, "part of a mess", flags 00, no control 00, no pong 00, no close owed 00, no keepalive 00, no pong
/// awaited 00.
const VERSION_1: &str = "0100000000\
                         01000000000000000e\
                         000000000000000e70617274206f662061206d657373\
                         000000000000";

#[test]
fn a_version_1_state_reads_and_is_written_the_same() {
    let mut conn = server();
    let _ = feed(&mut conn, &client_frame(false, 1, b"part of a mess"));
    let mut state = Vec::new();
    conn.export_state(Instant::now(), &mut state);
    let hex: String = state.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hex, VERSION_1);
    let mut c = Connection::import_state(&state, Config::default(), Instant::now()).unwrap();
    assert_eq!(
        feed(&mut c, &client_frame(true, 0, b"age")),
        feed(&mut conn, &client_frame(true, 0, b"age"))
    );
}
