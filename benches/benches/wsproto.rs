//! Parse + unmask (+ UTF-8 check) a browser's stream of 1,000 masked 900-byte text frames.
//!
//! The payload is the browser→server SIP traffic of a real JsSIP session (REGISTER, a UTF-8 MESSAGE,
//! INVITE with WebRTC SDP, ...) from `shared/data/traces/`, cut into consecutive 900-byte text frames
//! (at character boundaries, padded with spaces), each masked with its own key as a browser does.
//! Each implementation gets a fresh copy of the same wire bytes (made and freed outside the timing)
//! and must deliver 1,000 text messages:
//! * `wsproto`: `Connection::receive` fed 64 KiB reads (a recv buffer's worth), unmasking in place;
//! * `tungstenite`: `WebSocket::from_raw_socket` (server role) over a `std::io::Cursor`;
//! * `fastwebsockets`: `FragmentCollector` over `WebSocket::after_handshake` (server role) on a
//!   `std::io::Cursor`, polled to completion (the cursor never blocks).

use std::future::Future;
use std::hint::black_box;
use std::io::Cursor;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

const FRAMES: usize = 1000;
const FRAME_PAYLOAD: usize = 900;
const READ_SIZE: usize = 64 * 1024;

/// The browser→server SIP messages of the JsSIP trace, with CRLF line ends.
fn browser_sip_stream() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/data/traces/jssip-kamailio-session.txt"
    );
    let trace = std::fs::read_to_string(path).expect("trace file under shared/data/traces");
    let mut stream = String::new();
    let mut sending = false;
    for line in trace.lines() {
        if line.starts_with("--- ") || line.starts_with("=== ") {
            sending = line.starts_with("--- >>> send");
            continue;
        }
        if sending {
            stream.push_str(line);
            stream.push_str("\r\n");
        }
    }
    assert!(stream.len() > 4 * FRAME_PAYLOAD, "trace too short");
    stream
}

/// 1,000 masked text frames of exactly 900 payload bytes each.
fn wire() -> Vec<u8> {
    let sip = browser_sip_stream();
    let mut wire = Vec::with_capacity(FRAMES * (FRAME_PAYLOAD + 8));
    let mut at = 0;
    let mut seed = 0x9E37_79B9_u32;
    for _ in 0..FRAMES {
        if at + FRAME_PAYLOAD > sip.len() {
            at = 0;
        }
        let mut end = at + FRAME_PAYLOAD;
        while !sip.is_char_boundary(end) {
            end -= 1;
        }
        let mut payload = sip.as_bytes()[at..end].to_vec();
        payload.resize(FRAME_PAYLOAD, b' ');
        at = end;
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let key = seed.to_le_bytes();
        wire.extend_from_slice(&[0x81, 0x80 | 126]);
        wire.extend_from_slice(&(FRAME_PAYLOAD as u16).to_be_bytes());
        wire.extend_from_slice(&key);
        wire.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    }
    wire
}

fn run_wsproto(wire: &mut [u8]) -> usize {
    let mut conn = wsproto::Connection::new(wsproto::Role::Server, wsproto::Config::default());
    let mut total = 0;
    for read in wire.chunks_mut(READ_SIZE) {
        let mut pos = 0;
        loop {
            let got = conn.receive(&mut read[pos..]);
            pos += got.consumed;
            match got.event {
                Some(wsproto::Event::Message { payload, .. }) => total += black_box(payload).len(),
                Some(other) => panic!("unexpected {other:?}"),
                None => break,
            }
        }
    }
    total
}

fn run_tungstenite(wire: &mut [u8]) -> usize {
    use tungstenite::protocol::{Role, WebSocket};
    let mut ws = WebSocket::from_raw_socket(Cursor::new(wire), Role::Server, None);
    let mut total = 0;
    for _ in 0..FRAMES {
        match ws.read().expect("valid frame") {
            tungstenite::Message::Text(text) => total += black_box(text.as_str()).len(),
            other => panic!("unexpected {other:?}"),
        }
    }
    total
}

/// Poll a future that never waits (its I/O is an in-memory cursor).
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

fn run_fastwebsockets(wire: &mut [u8]) -> usize {
    use fastwebsockets::{FragmentCollector, OpCode, Role, WebSocket};
    let mut ws =
        FragmentCollector::new(WebSocket::after_handshake(Cursor::new(wire), Role::Server));
    let mut total = 0;
    for _ in 0..FRAMES {
        let frame = ready(ws.read_frame()).expect("valid frame");
        assert_eq!(frame.opcode, OpCode::Text);
        total += black_box(&frame.payload[..]).len();
    }
    total
}

/// Parses a wire image in place and returns the payload bytes seen.
type Parser = fn(&mut [u8]) -> usize;

fn bench(c: &mut Criterion) {
    let wire = wire();
    let expected = FRAMES * FRAME_PAYLOAD;
    assert_eq!(run_wsproto(&mut wire.clone()), expected);
    assert_eq!(run_tungstenite(&mut wire.clone()), expected);
    assert_eq!(run_fastwebsockets(&mut wire.clone()), expected);

    let mut group = c.benchmark_group("wsproto_parse_unmask_1000x900B_text");
    group.throughput(Throughput::Bytes(wire.len() as u64));
    let runs: [(&str, Parser); 3] = [
        ("wsproto", run_wsproto),
        ("tungstenite", run_tungstenite),
        ("fastwebsockets", run_fastwebsockets),
    ];
    for (name, run) in runs {
        group.bench_function(name, |b| {
            b.iter_batched_ref(|| wire.clone(), |w| run(w), BatchSize::LargeInput);
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
