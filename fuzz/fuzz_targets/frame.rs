//! Frame parser fuzzing: arbitrary bytes into a `Connection` (server or client role, with or without a
//! permessage-deflate decompressor), fed whole and cut into reads. Oracles: no panic; text messages are valid UTF-8; control payloads ≤ 125 bytes;
//! all input is consumed when no event comes out; the events do not depend on how input is cut;
//! buffered memory stays within the configured limits;
//! queued replies encode as well-formed frames.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wsproto::deflate::Decompressor;
use wsproto::{Config, Connection, Event, MessageKind, Role};

#[derive(Debug, PartialEq, Eq)]
enum Ev {
    Message(MessageKind, Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>, String),
    Fail(u16),
}

fn run(
    role: Role,
    config: Config,
    wire: &[u8],
    cut: usize,
    mut inflate: Option<Decompressor>,
) -> (Vec<Ev>, Vec<u8>) {
    let mut conn = Connection::new(role, config);
    let mut events = Vec::new();
    let mut out = Vec::new();
    let mask = match role {
        Role::Server => None,
        Role::Client => Some([1, 2, 3, 4]),
    };
    for piece in wire.chunks(cut.max(1)) {
        let mut piece = piece.to_vec();
        let mut pos = 0;
        let len = piece.len();
        loop {
            let got = match inflate.as_mut() {
                Some(d) => conn.receive_inflating(&mut piece[pos..], d),
                None => conn.receive(&mut piece[pos..]),
            };
            assert!(got.consumed <= len - pos);
            pos += got.consumed;
            let Some(event) = got.event else {
                assert_eq!(pos, len);
                break;
            };
            events.push(match event {
                Event::Message { kind, payload } => {
                    if kind == MessageKind::Text {
                        assert!(std::str::from_utf8(payload).is_ok());
                    }
                    assert!(payload.len() <= config.max_message_size);
                    Ev::Message(kind, payload.to_vec())
                }
                Event::Ping(p) => {
                    assert!(p.len() <= 125);
                    Ev::Ping(p.to_vec())
                }
                Event::Pong(p) => {
                    assert!(p.len() <= 125);
                    Ev::Pong(p.to_vec())
                }
                Event::Close { code, reason } => {
                    assert!(code.is_none_or(wsproto::close_code::is_valid_on_wire));
                    Ev::Close(code, reason.to_owned())
                }
                Event::ProtocolError { code, error } => {
                    assert_eq!(code, error.close_code());
                    Ev::Fail(code)
                }
            });
            while conn.poll_transmit(&mut out, mask).expect("mask matches role") {}
        }
    }
    while conn.poll_transmit(&mut out, mask).expect("mask matches role") {}
    // Memory stays bounded by the limits: the reassembly buffer by the message size limit, plus a split
    // control frame and a pending Pong (126 bytes each).
    assert!(conn.heap_bytes() <= config.max_message_size + 2 * 126);
    // Inflating never holds more than the limit plus the byte that shows it was passed.
    assert!(inflate.is_none_or(|d| d.buffer_bytes() <= config.max_message_size + 1));
    (events, out)
}

/// Every frame we wrote parses back (the peer's role is the opposite one).
fn check_output(role: Role, out: &[u8]) {
    let peer = match role {
        Role::Server => Role::Client,
        Role::Client => Role::Server,
    };
    let (events, _) = run(peer, Config::default(), out, out.len().max(1), None);
    assert!(
        !events.iter().any(|e| matches!(e, Ev::Fail(_))),
        "our own frames failed to parse: {events:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, data)) = data.split_first() else {
        return;
    };
    // Second byte: bit 0 inflates permessage-deflate messages, bits 1-3 the window (8 + n), bit 4 context
    // takeover.
    let Some((&deflate, wire)) = data.split_first() else {
        return;
    };
    let inflate = || {
        (deflate & 1 == 1).then(|| Decompressor::new(8 + ((deflate >> 1) & 7), deflate & 16 != 0))
    };
    let role = if control & 1 == 0 { Role::Server } else { Role::Client };
    let config = Config {
        max_message_size: if control & 2 == 0 { 65536 } else { 300 },
        max_frame_size: if control & 4 == 0 { 65536 } else { 100 },
        keepalive: None,
    };
    let cut = usize::from(control >> 3) + 1;
    let (whole, out) = run(role, config, wire, wire.len(), inflate());
    let (chunked, out_chunked) = run(role, config, wire, cut, inflate());
    assert_eq!(whole, chunked, "cut into {cut}-byte reads");
    assert_eq!(out, out_chunked);
    check_output(role, &out);
});
