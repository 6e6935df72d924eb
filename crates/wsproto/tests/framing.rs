//! RFC 6455 §5: framing rules, each failure checked for its exact close code.

mod common;

use common::*;
use wsproto::{Config, Connection, Role};

fn fails_with(wire: &[u8], code: u16) {
    let mut conn = server();
    let events = feed(&mut conn, wire);
    assert_eq!(events.last(), Some(&Ev::Fail(code)), "{events:?}");
    assert_eq!(close_code_sent(&transmit(&mut conn)), Some(code));
    assert!(conn.is_closed());
    // Nothing after a failure is processed.
    assert!(feed(&mut conn, &client_frame(true, 1, b"late")).is_empty());
}

#[test]
fn single_frame_text_and_binary() {
    let mut wire = client_frame(true, 1, "héllo ✓".as_bytes());
    wire.extend(client_frame(true, 2, &[0, 255, 7]));
    assert_eq!(
        events_any_chunking(&wire),
        [Ev::Text("héllo ✓".into()), Ev::Binary(vec![0, 255, 7])]
    );
}

#[test]
fn all_length_encodings_parse() {
    for len in [0usize, 1, 125, 126, 127, 65535, 65536] {
        let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let mut conn = Connection::new(
            Role::Server,
            Config {
                max_message_size: 1 << 20,
                max_frame_size: 1 << 20,
                keepalive: None,
            },
        );
        let events = feed_chunked(&mut conn, &client_frame(true, 2, &payload), 1000);
        assert_eq!(events, [Ev::Binary(payload)], "len {len}");
    }
}

#[test]
fn server_rejects_unmasked_client_frame_1002() {
    fails_with(&raw_frame(0x81, b"hi", None), 1002);
}

#[test]
fn client_rejects_masked_server_frame_1002() {
    let mut conn = Connection::new(Role::Client, Config::default());
    let events = feed(&mut conn, &raw_frame(0x81, b"hi", Some(KEY)));
    assert_eq!(events, [Ev::Fail(1002)]);
    let mut out = Vec::new();
    assert_eq!(conn.poll_transmit(&mut out, Some([1, 2, 3, 4])), Ok(true));
    assert_eq!(out[0], 0x88, "a close frame");
    assert_eq!(out[1], 0x82, "masked, 2-byte body");
}

#[test]
fn client_receives_unmasked_frames() {
    let mut conn = Connection::new(Role::Client, Config::default());
    assert_eq!(
        feed(&mut conn, &raw_frame(0x81, b"hi", None)),
        [Ev::Text("hi".into())]
    );
}

#[test]
fn rsv_bits_without_extension_1002() {
    for rsv in [0x40, 0x20, 0x10, 0x70] {
        fails_with(&raw_frame(0x81 | rsv, b"x", Some(KEY)), 1002);
    }
}

#[test]
fn reserved_opcodes_1002() {
    for op in [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] {
        fails_with(&client_frame(true, op, b""), 1002);
    }
}

#[test]
fn control_frames_over_125_bytes_1002() {
    for op in [8, 9, 10] {
        fails_with(&client_frame(true, op, &[b'a'; 126]), 1002);
    }
}

#[test]
fn fragmented_control_frames_1002() {
    for op in [8, 9, 10] {
        fails_with(&client_frame(false, op, b""), 1002);
    }
}

#[test]
fn continuation_without_message_1002() {
    fails_with(&client_frame(true, 0, b"x"), 1002);
    fails_with(&client_frame(false, 0, b"x"), 1002);
}

#[test]
fn new_message_inside_fragmented_one_1002() {
    let mut wire = client_frame(false, 1, b"a");
    wire.extend(client_frame(true, 1, b"b"));
    fails_with(&wire, 1002);
    let mut wire = client_frame(false, 2, b"a");
    wire.extend(client_frame(true, 1, b"b"));
    fails_with(&wire, 1002);
}

#[test]
fn fragmented_message_with_interleaved_control_frames() {
    let mut wire = client_frame(false, 1, "frag".as_bytes());
    wire.extend(client_frame(true, 9, b"p1"));
    wire.extend(client_frame(false, 0, "men".as_bytes()));
    wire.extend(client_frame(true, 10, b"u"));
    wire.extend(client_frame(true, 0, "ts ✓".as_bytes()));
    assert_eq!(
        events_any_chunking(&wire),
        [
            Ev::Ping(b"p1".to_vec()),
            Ev::Pong(b"u".to_vec()),
            Ev::Text("fragments ✓".into())
        ]
    );
}

#[test]
fn empty_fragments_and_empty_messages() {
    let mut wire = client_frame(false, 1, b"");
    wire.extend(client_frame(false, 0, b""));
    wire.extend(client_frame(true, 0, b""));
    wire.extend(client_frame(true, 2, b""));
    assert_eq!(
        events_any_chunking(&wire),
        [Ev::Text(String::new()), Ev::Binary(Vec::new())]
    );
}

#[test]
fn length_with_msb_set_1002() {
    let mut wire = vec![0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1];
    wire.extend_from_slice(&KEY);
    fails_with(&wire, 1002);
}

#[test]
fn frame_over_max_frame_size_1009_before_payload_arrives() {
    let mut conn = Connection::new(
        Role::Server,
        Config {
            max_frame_size: 100,
            max_message_size: 1000,
            keepalive: None,
        },
    );
    let wire = client_frame(true, 2, &[0; 101]);
    // Only the header: the limit is enforced before any payload arrives.
    assert_eq!(feed(&mut conn, &wire[..8]), [Ev::Fail(1009)]);
    assert_eq!(close_code_sent(&transmit(&mut conn)), Some(1009));
}

#[test]
fn message_over_max_message_size_1009() {
    let config = Config {
        max_frame_size: 100,
        max_message_size: 150,
        keepalive: None,
    };
    let mut wire = client_frame(false, 2, &[0; 100]);
    wire.extend(client_frame(true, 0, &[0; 51]));
    let mut conn = Connection::new(Role::Server, config);
    assert_eq!(feed(&mut conn, &wire), [Ev::Fail(1009)]);
    assert_eq!(close_code_sent(&transmit(&mut conn)), Some(1009));
    // Exactly at the limit is fine.
    let mut wire = client_frame(false, 2, &[0; 100]);
    wire.extend(client_frame(true, 0, &[0; 50]));
    let mut conn = Connection::new(Role::Server, config);
    assert_eq!(feed(&mut conn, &wire), [Ev::Binary(vec![0; 150])]);
}

#[test]
fn default_limit_is_64_kib() {
    let mut conn = server();
    assert_eq!(
        feed(&mut conn, &client_frame(true, 2, &[1; 65536])),
        [Ev::Binary(vec![1; 65536])]
    );
    assert_eq!(
        feed(&mut conn, &client_frame(true, 2, &[1; 65537])),
        [Ev::Fail(1009)]
    );
}

#[test]
fn whole_frame_in_buffer_is_delivered_in_place() {
    let mut conn = server();
    let mut wire = client_frame(true, 2, b"zero-copy");
    let start = wire.as_ptr() as usize;
    let got = conn.receive(&mut wire);
    let Some(wsproto::Event::Message { payload, .. }) = got.event else {
        panic!("message expected");
    };
    assert_eq!(payload, b"zero-copy");
    assert_eq!(
        payload.as_ptr() as usize,
        start + 6,
        "payload points into the input"
    );
    assert_eq!(conn.heap_bytes(), 0);
}

#[test]
fn split_frame_is_reassembled_and_buffer_released() {
    let mut conn = server();
    let wire = client_frame(true, 1, &[b'a'; 900]);
    assert_eq!(feed_chunked(&mut conn, &wire[..600], 300), []);
    assert!(
        conn.heap_bytes() >= 900,
        "reassembly buffer sized for the frame"
    );
    assert_eq!(feed(&mut conn, &wire[600..]), [Ev::Text("a".repeat(900))]);
    // The closing receive call (the one returning no event) released it: idle holds no heap.
    assert_eq!(conn.heap_bytes(), 0);
}

#[test]
fn many_small_frames_keep_the_buffer_within_the_message_limit() {
    // Seven 42-byte frames make a 294-byte message under a 300-byte limit. Growing the buffer by doubling
    // (42, 84, 168, 336) would pass the limit; it stops at the limit instead.
    let limit = 300;
    let mut conn = Connection::new(
        Role::Server,
        Config {
            max_message_size: limit,
            max_frame_size: 100,
            keepalive: None,
        },
    );
    let chunk = [b'x'; 42];
    let mut wire = client_frame(false, 1, &chunk);
    for _ in 0..5 {
        wire.extend(client_frame(false, 0, &chunk));
    }
    assert_eq!(feed(&mut conn, &wire), []);
    let held = conn.heap_bytes();
    assert!((6 * 42..=limit).contains(&held), "{held}");
    assert_eq!(
        feed(&mut conn, &client_frame(true, 0, &chunk)),
        [Ev::Text("x".repeat(7 * 42))]
    );
    assert!(conn.heap_bytes() <= limit, "{}", conn.heap_bytes());
}

#[test]
fn idle_connection_is_small_and_heap_free() {
    let conn = server();
    let size = std::mem::size_of::<Connection>();
    eprintln!("size_of::<Connection>() = {size}");
    assert!(size <= 192, "Connection grew to {size} bytes");
    assert_eq!(conn.heap_bytes(), 0);
}

#[test]
fn split_ping_buffers_are_released_once_answered() {
    let mut conn = server();
    let events = feed_chunked(&mut conn, &client_frame(true, 9, b"are you there"), 3);
    assert_eq!(events, [Ev::Ping(b"are you there".to_vec())]);
    // The split payload and the pending pong each hold a buffer while they exist.
    assert!(conn.heap_bytes() >= 2 * 125, "{}", conn.heap_bytes());
    let out = transmit(&mut conn);
    assert_eq!(out, [&[0x8a, 13][..], b"are you there"].concat());
    assert!(feed(&mut conn, &client_frame(true, 1, b"next")) == [Ev::Text("next".into())]);
    assert_eq!(conn.heap_bytes(), 0);
}
