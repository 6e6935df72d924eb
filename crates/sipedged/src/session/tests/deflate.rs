//! permessage-deflate on a session: agreed when the policy allows, compressed messages inflated for the edge and
//! counted, declined when the policy says so.

use wsproto::deflate::{Compressor, DeflateConfig};

use super::*;

fn deflating() -> Policy {
    Policy {
        deflate: Some(DeflateConfig::default()),
        ..policy()
    }
}

fn offer() -> Vec<u8> {
    upgrade(
        "/",
        "Sec-WebSocket-Protocol: sip\r\nOrigin: https://app.example\r\n\
         Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n",
    )
}

/// A browser's compressed text frame (RSV1) carrying `payload`.
fn compressed(payload: &[u8]) -> Vec<u8> {
    let mut wire = Vec::new();
    Compressor::new(15, 6, false).compress(payload, &mut wire);
    let mut out = Vec::new();
    wsproto::writer::write_compressed_frame(&mut out, wsproto::OpCode::Text, &wire, Some(MASK));
    out
}

/// The browser sends MESSAGE compressed by `browser` (which keeps its window); the edge hands it on inflated.
/// Returns the compressed size.
fn send_kept(h: &mut Harness, browser: &mut Compressor) -> usize {
    let mut wire = Vec::new();
    browser.compress(MESSAGE, &mut wire);
    let mut frame = Vec::new();
    wsproto::writer::write_compressed_frame(&mut frame, wsproto::OpCode::Text, &wire, Some(MASK));
    let got = h.feed(&frame);
    assert!(
        got.iter()
            .any(|r| matches!(r, Rec::ToEdge { message, .. } if message == MESSAGE)),
        "{got:?}"
    );
    wire.len()
}

#[test]
fn a_browser_offer_is_accepted_and_its_compressed_messages_reach_the_edge_inflated() {
    let mut h = Harness::new(deflating());
    let got = h.feed(&offer());
    let answer = String::from_utf8(transmitted(&got)).unwrap();
    assert!(
        answer.contains(
            "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; \
             client_no_context_takeover\r\n"
        ),
        "{answer}"
    );
    assert!(got.contains(&Rec::Deflate(15)), "{got:?}");
    let mut two = compressed(MESSAGE);
    two.extend_from_slice(&text(MESSAGE));
    let wire_len = two.len();
    let got = h.feed(&two);
    let to_edge = got
        .iter()
        .filter(|r| matches!(r, Rec::ToEdge { message, .. } if message == MESSAGE))
        .count();
    assert_eq!(to_edge, 2, "compressed and plain alike: {got:?}");
    let inflated: Vec<_> = got
        .iter()
        .filter_map(|r| match r {
            Rec::Inflated(n) => Some(*n),
            _ => None,
        })
        .collect();
    assert_eq!(inflated.len(), 1, "only the compressed one is counted");
    assert!(inflated[0] < MESSAGE.len() && inflated[0] < wire_len);
}

#[test]
fn with_deflate_off_the_offer_is_declined_and_a_compressed_frame_fails_with_1002() {
    let mut h = Harness::new(policy());
    let got = h.feed(&offer());
    assert!(
        !String::from_utf8(transmitted(&got))
            .unwrap()
            .contains("Extensions")
    );
    assert!(got.contains(&Rec::Opened));
    let got = h.feed(&compressed(MESSAGE));
    assert!(
        !got.iter().any(|r| matches!(r, Rec::ToEdge { .. })),
        "{got:?}"
    );
    assert!(got.contains(&Rec::Count(Counter::WsProtocolErrors, 1)));
    let closes: Vec<_> = frames(&transmitted(&got))
        .into_iter()
        .filter(|(op, _)| *op == 0x88)
        .map(|(_, p)| u16::from_be_bytes([p[0], p[1]]))
        .collect();
    assert_eq!(closes, [1002]);
}

#[test]
fn a_compression_bomb_closes_with_1009_and_reaches_nobody() {
    let mut h = Harness::new(deflating());
    h.feed(&offer());
    let bomb = compressed(&vec![b'a'; 4 << 20]);
    assert!(
        bomb.len() < 65536,
        "fits the message limit compressed: {}",
        bomb.len()
    );
    let got = h.feed(&bomb);
    assert!(
        !got.iter().any(|r| matches!(r, Rec::ToEdge { .. })),
        "{got:?}"
    );
    let closes: Vec<_> = frames(&transmitted(&got))
        .into_iter()
        .filter(|(op, _)| *op == 0x88)
        .map(|(_, p)| u16::from_be_bytes([p[0], p[1]]))
        .collect();
    assert_eq!(closes, [1009]);
    assert!(
        h.codecs.buffer_bytes() <= 65537,
        "{}",
        h.codecs.buffer_bytes()
    );
}

#[test]
fn a_browser_keeping_its_window_is_read_through_the_connections_window() {
    let mut p = deflating();
    p.deflate = Some(DeflateConfig {
        client_no_context_takeover: false,
        client_max_window_bits: 10,
        ..DeflateConfig::default()
    });
    let mut h = Harness::new(p);
    let got = h.feed(&offer());
    let answer = String::from_utf8(transmitted(&got)).unwrap();
    assert!(answer.contains("client_max_window_bits=10"), "{answer}");
    assert!(!answer.contains("client_no_context_takeover"), "{answer}");
    // The browser compresses every message against the ones before (its window: 1 KiB).
    let mut browser = Compressor::new(10, 6, true);
    let mut sent_twice = 0;
    for _ in 0..3 {
        let wire = send_kept(&mut h, &mut browser);
        sent_twice += usize::from(wire < MESSAGE.len() / 4);
    }
    assert_eq!(
        sent_twice, 2,
        "the 2nd and 3rd messages refer back to the 1st"
    );
}

#[test]
fn a_browsers_context_is_kept_packed_and_its_next_message_still_reads() {
    let mut p = deflating();
    p.deflate = Some(DeflateConfig {
        client_no_context_takeover: false,
        client_max_window_bits: 11,
        ..DeflateConfig::default()
    });
    let mut h = Harness::new(p);
    let answer = String::from_utf8(transmitted(&h.feed(&offer()))).unwrap();
    assert!(answer.contains("client_max_window_bits=11"), "{answer}");
    let mut browser = Compressor::new(11, 6, true);
    let mut send = |h: &mut Harness| send_kept(h, &mut browser);
    send(&mut h);
    let one = h.session.inflate_context_bytes();
    assert!(
        one > 0 && one < MESSAGE.len(),
        "packed: {one} of {}",
        MESSAGE.len()
    );
    for _ in 0..4 {
        // Each message refers back into the packed bytes of the ones before.
        let wire = send(&mut h);
        assert!(wire < MESSAGE.len() / 4, "{wire}");
    }
    let five = h.session.inflate_context_bytes();
    assert!(
        five < 2 * one,
        "five copies pack to about one: {five} of {one}"
    );
}
