//! Helpers shared by the integration tests: raw frame building and driving a connection.
#![allow(dead_code)]

use proptest::prelude::*;
use wsproto::{Config, Connection, Event, MessageKind, Role};

pub const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// An event with owned data, for comparisons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ev {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>, String),
    Fail(u16),
}

/// A frame with arbitrary (possibly invalid) bits: `b0` is FIN|RSV|opcode.
pub fn raw_frame(b0: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = vec![b0];
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n @ 0..=125 => out.push(mask_bit | n as u8),
        n @ 126..=0xFFFF => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(key) => {
            out.extend_from_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

/// A masked client frame.
pub fn client_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    raw_frame((u8::from(fin) << 7) | opcode, payload, Some(KEY))
}

pub fn server() -> Connection {
    Connection::new(Role::Server, Config::default())
}

pub fn owned(event: Event<'_>) -> Ev {
    match event {
        Event::Message {
            kind: MessageKind::Text,
            payload,
        } => Ev::Text(String::from_utf8(payload.to_vec()).expect("text is UTF-8")),
        Event::Message {
            kind: MessageKind::Binary,
            payload,
        } => Ev::Binary(payload.to_vec()),
        Event::Ping(p) => Ev::Ping(p.to_vec()),
        Event::Pong(p) => Ev::Pong(p.to_vec()),
        Event::Close { code, reason } => Ev::Close(code, reason.to_owned()),
        Event::ProtocolError { code, .. } => Ev::Fail(code),
    }
}

/// Feed `wire` in chunks of `chunk` bytes; collect events.
pub fn feed_chunked(conn: &mut Connection, wire: &[u8], chunk: usize) -> Vec<Ev> {
    let mut events = Vec::new();
    for piece in wire.chunks(chunk.max(1)) {
        let mut piece = piece.to_vec();
        let mut pos = 0;
        // The documented loop: call until no event comes out.
        loop {
            let got = conn.receive(&mut piece[pos..]);
            pos += got.consumed;
            match got.event {
                Some(e) => events.push(owned(e)),
                None => {
                    assert_eq!(pos, piece.len(), "no event means all input consumed");
                    break;
                }
            }
        }
    }
    events
}

pub fn feed(conn: &mut Connection, wire: &[u8]) -> Vec<Ev> {
    feed_chunked(conn, wire, wire.len())
}

/// Everything `poll_transmit` has queued (server role).
pub fn transmit(conn: &mut Connection) -> Vec<u8> {
    let mut out = Vec::new();
    while conn.poll_transmit(&mut out, None).expect("server role") {}
    out
}

/// The events of every chunking of `wire` from 1 byte to whole, asserting they all agree.
pub fn events_any_chunking(wire: &[u8]) -> Vec<Ev> {
    let whole = feed(&mut server(), wire);
    for chunk in 1..wire.len().min(40) {
        assert_eq!(
            feed_chunked(&mut server(), wire, chunk),
            whole,
            "chunk size {chunk}"
        );
    }
    whole
}

/// The close code of the frame in `out` (server frames are unmasked).
pub fn close_code_sent(out: &[u8]) -> Option<u16> {
    let mut i = 0;
    while i + 2 <= out.len() {
        let op = out[i] & 0x0F;
        let len = usize::from(out[i + 1] & 0x7F);
        let body = out.get(i + 2..i + 2 + len)?;
        if op == 0x8 {
            return match body {
                [a, b, ..] => Some(u16::from_be_bytes([*a, *b])),
                _ => Some(1005),
            };
        }
        i += 2 + len;
    }
    None
}

/// Client frames of every kind a browser sends: text, binary, ping, pong, and a text message in fragments.
pub fn frame_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        ".{0,40}".prop_map(|s: String| client_frame(true, 1, s.as_bytes())),
        proptest::collection::vec(any::<u8>(), 0..300).prop_map(|b| client_frame(true, 2, &b)),
        proptest::collection::vec(any::<u8>(), 0..125).prop_map(|b| client_frame(true, 9, &b)),
        proptest::collection::vec(any::<u8>(), 0..125).prop_map(|b| client_frame(true, 10, &b)),
        (".{1,30}", 1usize..4).prop_map(|(s, parts): (String, usize)| {
            let bytes = s.as_bytes();
            let step = bytes.len().div_ceil(parts).max(1);
            let chunks: Vec<&[u8]> = bytes.chunks(step).collect();
            let mut wire = Vec::new();
            for (i, c) in chunks.iter().enumerate() {
                let op = if i == 0 { 1 } else { 0 };
                wire.extend(client_frame(i + 1 == chunks.len(), op, c));
            }
            wire
        }),
    ]
}
