//! RFC 6455 §5.5 and §7: control frames and the close handshake, with exact close codes.

mod common;

use common::*;
use wsproto::{Config, Connection, Role, SendError};

fn close_body(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut body = code.to_be_bytes().to_vec();
    body.extend_from_slice(reason);
    body
}

fn fails_with(wire: &[u8], code: u16) {
    let mut conn = server();
    let events = feed(&mut conn, wire);
    assert_eq!(events.last(), Some(&Ev::Fail(code)), "{events:?}");
    assert_eq!(close_code_sent(&transmit(&mut conn)), Some(code));
    assert!(conn.is_closed());
}

#[test]
fn ping_is_answered_with_identical_pong() {
    let mut conn = server();
    assert_eq!(
        feed(&mut conn, &client_frame(true, 9, b"are you there")),
        [Ev::Ping(b"are you there".to_vec())]
    );
    let out = transmit(&mut conn);
    assert_eq!(out, [&[0x8A, 13][..], b"are you there"].concat());
}

#[test]
fn only_the_latest_ping_is_answered() {
    let mut conn = server();
    let mut wire = client_frame(true, 9, b"one");
    wire.extend(client_frame(true, 9, b"two"));
    assert_eq!(feed(&mut conn, &wire).len(), 2);
    assert_eq!(transmit(&mut conn), [&[0x8A, 3][..], b"two"].concat());
}

#[test]
fn ping_split_across_reads_is_answered() {
    let mut conn = server();
    let wire = client_frame(true, 9, &[b'p'; 125]);
    assert_eq!(
        feed_chunked(&mut conn, &wire, 7),
        [Ev::Ping(vec![b'p'; 125])]
    );
    let out = transmit(&mut conn);
    assert_eq!(&out[..2], [0x8A, 125]);
    assert_eq!(&out[2..], &[b'p'; 125][..]);
}

#[test]
fn unsolicited_pong_is_delivered_and_not_answered() {
    let mut conn = server();
    assert_eq!(
        feed(&mut conn, &client_frame(true, 10, b"x")),
        [Ev::Pong(b"x".to_vec())]
    );
    assert!(transmit(&mut conn).is_empty());
    assert!(conn.is_open());
}

#[test]
fn close_is_echoed_with_the_same_code_then_closed() {
    for code in [
        1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999,
    ] {
        let mut conn = server();
        let events = feed(
            &mut conn,
            &client_frame(true, 8, &close_body(code, "bye ✓".as_bytes())),
        );
        assert_eq!(events, [Ev::Close(Some(code), "bye ✓".into())]);
        assert!(!conn.is_closed(), "reply not yet sent");
        assert_eq!(close_code_sent(&transmit(&mut conn)), Some(code));
        assert!(conn.is_closed());
    }
}

#[test]
fn empty_close_is_answered_with_empty_close() {
    let mut conn = server();
    assert_eq!(
        feed(&mut conn, &client_frame(true, 8, b"")),
        [Ev::Close(None, String::new())]
    );
    assert_eq!(transmit(&mut conn), [0x88, 0x00]);
    assert!(conn.is_closed());
}

#[test]
fn invalid_close_codes_1002() {
    for code in [
        0, 999, 1004, 1005, 1006, 1012, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
    ] {
        fails_with(&client_frame(true, 8, &close_body(code, b"")), 1002);
    }
}

#[test]
fn one_byte_close_body_1002() {
    fails_with(&client_frame(true, 8, &[0x03]), 1002);
}

#[test]
fn close_reason_invalid_utf8_1007() {
    fails_with(
        &client_frame(true, 8, &close_body(1000, &[0xCE, 0xBA, 0xE1, 0xBD])),
        1007,
    );
}

#[test]
fn frames_after_close_are_ignored() {
    let mut conn = server();
    let mut wire = client_frame(true, 8, &close_body(1000, b""));
    wire.extend(client_frame(true, 1, b"ignored"));
    wire.extend(client_frame(true, 9, b"ignored"));
    assert_eq!(
        feed(&mut conn, &wire),
        [Ev::Close(Some(1000), String::new())]
    );
    assert_eq!(transmit(&mut conn), [0x88, 0x02, 0x03, 0xE8]);
}

#[test]
fn close_in_the_middle_of_a_fragmented_message() {
    let mut conn = server();
    let mut wire = client_frame(false, 1, b"half");
    wire.extend(client_frame(true, 8, &close_body(1000, b"")));
    assert_eq!(
        feed(&mut conn, &wire),
        [Ev::Close(Some(1000), String::new())]
    );
    assert_eq!(conn.heap_bytes(), 0);
}

#[test]
fn we_close_first_then_peer_answers() {
    let mut conn = server();
    let mut out = Vec::new();
    conn.close(1001, "shutdown", &mut out, None).expect("open");
    assert_eq!(close_code_sent(&out), Some(1001));
    assert_eq!(
        conn.send_text("late", &mut out, None),
        Err(SendError::Closed)
    );
    // Data may still arrive before the peer's Close.
    assert_eq!(
        feed(&mut conn, &client_frame(true, 1, b"in flight")),
        [Ev::Text("in flight".into())]
    );
    assert!(!conn.is_closed());
    assert_eq!(
        feed(&mut conn, &client_frame(true, 8, &close_body(1001, b""))),
        [Ev::Close(Some(1001), String::new())]
    );
    assert!(conn.is_closed());
    assert!(transmit(&mut conn).is_empty(), "no second close");
}

#[test]
fn our_close_must_be_valid() {
    let mut conn = server();
    let mut out = Vec::new();
    assert_eq!(
        conn.close(1005, "", &mut out, None),
        Err(SendError::InvalidCloseCode(1005))
    );
    assert_eq!(
        conn.close(1000, &"r".repeat(124), &mut out, None),
        Err(SendError::ControlFrameTooLong(126))
    );
    assert!(out.is_empty());
}

#[test]
fn masking_is_enforced_on_send() {
    let mut out = Vec::new();
    let mut server = server();
    assert_eq!(
        server.send_text("x", &mut out, Some(KEY)),
        Err(SendError::MaskKeyForbidden)
    );
    let mut client = Connection::new(Role::Client, Config::default());
    assert_eq!(
        client.send_text("x", &mut out, None),
        Err(SendError::MaskKeyRequired)
    );
    client
        .send_text("Hello", &mut out, Some(KEY))
        .expect("masked");
    assert_eq!(
        out,
        [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58
        ]
    );
}

#[test]
fn client_and_server_talk() {
    let mut client = Connection::new(Role::Client, Config::default());
    let mut srv = server();
    let mut wire = Vec::new();
    client
        .send_binary(&[1, 2, 3], &mut wire, Some([9, 9, 9, 9]))
        .expect("open");
    client
        .send_ping(b"k", &mut wire, Some([1, 1, 1, 1]))
        .expect("open");
    client
        .close(1000, "done", &mut wire, Some([2, 2, 2, 2]))
        .expect("open");
    assert_eq!(
        feed(&mut srv, &wire),
        [
            Ev::Binary(vec![1, 2, 3]),
            Ev::Ping(b"k".to_vec()),
            Ev::Close(Some(1000), "done".into())
        ]
    );
    let back = transmit(&mut srv);
    assert!(srv.is_closed());
    assert_eq!(
        feed(&mut client, &back),
        [
            Ev::Pong(b"k".to_vec()),
            Ev::Close(Some(1000), String::new())
        ]
    );
    assert!(client.is_closed());
}
