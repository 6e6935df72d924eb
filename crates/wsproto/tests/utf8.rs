//! RFC 6455 §8.1: text must be UTF-8, and invalid text fails (1007) as early as the bytes allow.

mod common;

use common::*;

#[test]
fn invalid_text_is_1007() {
    let mut conn = server();
    assert_eq!(
        feed(&mut conn, &client_frame(true, 1, &[b'a', 0xFF, b'b'])),
        [Ev::Fail(1007)]
    );
    assert_eq!(close_code_sent(&transmit(&mut conn)), Some(1007));
}

#[test]
fn fail_fast_inside_an_unfinished_frame() {
    // A 1000-byte text frame whose 5th byte is invalid: only the first 20 bytes arrive.
    let mut payload = vec![b'x'; 1000];
    payload[4] = 0xC0;
    let wire = client_frame(true, 1, &payload);
    let mut conn = server();
    assert_eq!(feed(&mut conn, &wire[..20]), [Ev::Fail(1007)]);
}

#[test]
fn fail_fast_inside_an_unfinished_fragmented_message() {
    // Autobahn 6.4.x: the first fragment is valid, the second is bad, the message never finishes.
    let mut wire = client_frame(false, 1, "κόσμε".as_bytes());
    wire.extend(client_frame(false, 0, &[0xF4, 0x90, 0x80, 0x80]));
    let mut conn = server();
    assert_eq!(feed(&mut conn, &wire), [Ev::Fail(1007)]);
}

#[test]
fn code_points_split_across_fragments_and_reads() {
    let text = "κόσμε 日本 🎉";
    let bytes = text.as_bytes();
    let mut wire = Vec::new();
    // One byte per fragment: every code point is split.
    for (i, b) in bytes.iter().enumerate() {
        let op = if i == 0 { 1 } else { 0 };
        wire.extend(client_frame(
            i + 1 == bytes.len(),
            op,
            std::slice::from_ref(b),
        ));
    }
    assert_eq!(events_any_chunking(&wire), [Ev::Text(text.into())]);
}

#[test]
fn truncated_code_point_at_message_end_is_1007() {
    let mut wire = client_frame(false, 1, "ok".as_bytes());
    wire.extend(client_frame(true, 0, &[0xE2, 0x9C]));
    assert_eq!(events_any_chunking(&wire), [Ev::Fail(1007)]);
}

#[test]
fn binary_is_not_checked() {
    assert_eq!(
        events_any_chunking(&client_frame(true, 2, &[0xFF, 0xFE])),
        [Ev::Binary(vec![0xFF, 0xFE])]
    );
}

#[test]
fn utf8_state_resets_between_messages() {
    let mut wire = client_frame(true, 1, "a".as_bytes());
    wire.extend(client_frame(true, 1, "ü".as_bytes()));
    assert_eq!(
        events_any_chunking(&wire),
        [Ev::Text("a".into()), Ev::Text("ü".into())]
    );
}
