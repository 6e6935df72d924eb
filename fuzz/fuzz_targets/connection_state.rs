//! Connection state fuzzing (a hand-over's serialized WebSocket state): arbitrary bytes into
//! `Connection::import_state`. Oracles: no panic; what is accepted is written as a state that reads back the same; what is
//! accepted then takes frames as a connection (no panic, text messages are valid UTF-8, the message buffer stays
//! within the limit).
#![no_main]
use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use wsproto::{Config, Connection, Event, MessageKind};

fuzz_target!(|data: &[u8]| {
    let (state, wire) = match data.iter().position(|&b| b == 0xfe) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let now = Instant::now();
    let config = Config::default();
    let Ok(mut conn) = Connection::import_state(state, config, now) else {
        return;
    };
    let mut again = Vec::new();
    conn.export_state(now, &mut again);
    let mut third = Vec::new();
    Connection::import_state(&again, config, now)
        .expect("a state written is read")
        .export_state(now, &mut third);
    assert_eq!(third, again, "a state read and written again is the same");
    let mut wire = wire.to_vec();
    let mut off = 0;
    while off < wire.len() {
        let got = conn.receive(&mut wire[off..]);
        off += got.consumed;
        match got.event {
            Some(Event::Message { kind: MessageKind::Text, payload }) => {
                assert!(std::str::from_utf8(payload).is_ok(), "text is UTF-8");
                assert!(payload.len() <= config.max_message_size);
            }
            Some(Event::Message { payload, .. }) => assert!(payload.len() <= config.max_message_size),
            None if got.consumed == 0 => break,
            _ => {}
        }
    }
    let mut out = Vec::new();
    let _ = conn.poll_transmit(&mut out, None);
});
