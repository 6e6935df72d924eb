//! permessage-deflate on the wire (RFC 7692): negotiated in the handshake, compressed messages in and out,
//! every rule about RSV1, and the limits while inflating.

mod common;

use common::{Ev, KEY, client_frame, owned, raw_frame, server};
use wsproto::deflate::{Compressor, Decompressor, DeflateConfig};
use wsproto::{
    ClientHandshake, Config, Connection, MessageKind, Role, ServerConfig, ServerHandshake,
};

const OFFER: &[u8] =
    b"GET / HTTP/1.1\r\nHost: edge\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
    Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n";

fn deflating_server() -> ServerConfig {
    ServerConfig {
        deflate: Some(DeflateConfig::default()),
        ..ServerConfig::default()
    }
}

/// Feeds `wire` to `conn` with `inflate`, in chunks of `chunk` bytes; collects events.
fn feed_inflating(
    conn: &mut Connection,
    inflate: &mut Decompressor,
    wire: &[u8],
    chunk: usize,
) -> Vec<Ev> {
    let mut events = Vec::new();
    for piece in wire.chunks(chunk.max(1)) {
        let mut piece = piece.to_vec();
        let mut pos = 0;
        loop {
            let got = conn.receive_inflating(&mut piece[pos..], inflate);
            pos += got.consumed;
            match got.event {
                Some(e) => events.push(owned(e)),
                None => break,
            }
        }
    }
    events
}

/// A client's compressed text message `text`, split into frames of `frame` compressed bytes.
fn compressed_frames(text: &str, frame: usize) -> Vec<u8> {
    let mut payload = Vec::new();
    Compressor::new(15, 6, false).compress(text.as_bytes(), &mut payload);
    let mut wire = Vec::new();
    let pieces: Vec<&[u8]> = payload.chunks(frame.max(1)).collect();
    for (i, piece) in pieces.iter().enumerate() {
        let fin = u8::from(i + 1 == pieces.len()) << 7;
        let (rsv1, opcode) = if i == 0 { (0x40, 0x1) } else { (0, 0x0) };
        wire.extend(raw_frame(fin | rsv1 | opcode, piece, Some(KEY)));
    }
    wire
}

#[test]
fn the_server_accepts_a_browser_offer_and_names_it_in_the_answer() {
    let mut hs = ServerHandshake::new(deflating_server());
    let request = hs.feed(OFFER).expect("valid").expect("complete");
    let params = request.deflate.expect("accepted");
    let mut out = Vec::new();
    request.write_accept(&mut out);
    let text = String::from_utf8(out).expect("ascii");
    assert!(text.contains(&format!(
        "Sec-WebSocket-Extensions: {}\r\n",
        params.header_value()
    )));
    // Without a policy the offer is declined, as before.
    let declined = ServerHandshake::new(ServerConfig::default())
        .feed(OFFER)
        .expect("ok")
        .expect("done");
    assert_eq!(declined.deflate, None);
}

#[test]
fn a_client_and_a_server_agree_and_exchange_compressed_messages() {
    let mut client_hs = ClientHandshake::new(*b"the sample nonce", &["sip"])
        .offer_deflate(DeflateConfig::default());
    let mut request = Vec::new();
    client_hs.write_request("edge", "/", None, &mut request);
    let got = ServerHandshake::new(deflating_server())
        .feed(&request)
        .expect("ok")
        .expect("done");
    let mut answer = Vec::new();
    got.write_accept(&mut answer);
    let agreed = client_hs
        .feed(&answer)
        .expect("valid answer")
        .expect("done")
        .deflate
        .expect("agreed");
    assert_eq!(Some(agreed), got.deflate);

    let (mut client, mut srv) = (
        Connection::new(Role::Client, Config::default()),
        Connection::new(Role::Server, Config::default()),
    );
    let (mut c_out, mut s_in) = (
        agreed.compressor(Role::Client, 6),
        agreed.decompressor(Role::Server),
    );
    let (mut s_out, mut c_in) = (
        agreed.compressor(Role::Server, 6),
        agreed.decompressor(Role::Client),
    );
    let invite = "INVITE sip:bob@example.test SIP/2.0\r\n".repeat(40);
    let mut wire = Vec::new();
    client
        .send_compressed(
            MessageKind::Text,
            invite.as_bytes(),
            &mut wire,
            Some(KEY),
            &mut c_out,
        )
        .expect("open");
    assert!(
        wire.len() * 4 < invite.len(),
        "{} bytes for {}",
        wire.len(),
        invite.len()
    );
    assert_eq!(wire[0], 0xC1, "FIN, RSV1, text");
    for chunk in [1, 7, wire.len()] {
        assert_eq!(
            feed_inflating(&mut srv, &mut s_in, &wire, chunk),
            [Ev::Text(invite.clone())]
        );
    }
    let mut back = Vec::new();
    srv.send_compressed(
        MessageKind::Binary,
        b"SIP/2.0 200 OK",
        &mut back,
        None,
        &mut s_out,
    )
    .expect("open");
    assert_eq!(
        feed_inflating(&mut client, &mut c_in, &back, back.len()),
        [Ev::Binary(b"SIP/2.0 200 OK".to_vec())]
    );
    // Uncompressed messages still pass on the same connection.
    let plain = client_frame(true, 0x1, b"plain");
    assert_eq!(
        feed_inflating(&mut srv, &mut s_in, &plain, plain.len()),
        [Ev::Text("plain".into())]
    );
}

#[test]
fn a_fragmented_compressed_message_is_inflated_whole() {
    let text = "a=candidate:1 1 udp 2122260223 192.0.2.1 54321 typ host\r\n".repeat(30);
    let wire = compressed_frames(&text, 17);
    for chunk in [1, 5, 64, wire.len()] {
        let mut d = Decompressor::new(15, false);
        assert_eq!(
            feed_inflating(&mut server(), &mut d, &wire, chunk),
            [Ev::Text(text.clone())]
        );
    }
}

#[test]
fn rsv1_without_a_negotiated_extension_fails_with_1002() {
    let wire = compressed_frames("hello", 100);
    assert_eq!(common::feed(&mut server(), &wire), [Ev::Fail(1002)]);
}

#[test]
fn rsv1_on_a_continuation_or_a_control_frame_fails_with_1002() {
    let mut wire = raw_frame(0x41, b"", Some(KEY)); // RSV1 text, not final
    wire.extend(raw_frame(0xC0, b"x", Some(KEY))); // RSV1 continuation
    let mut d = Decompressor::new(15, false);
    assert_eq!(
        feed_inflating(&mut server(), &mut d, &wire, wire.len()),
        [Ev::Fail(1002)]
    );
    let ping = raw_frame(0xC9, b"", Some(KEY));
    assert_eq!(
        feed_inflating(&mut server(), &mut d, &ping, ping.len()),
        [Ev::Fail(1002)]
    );
}

#[test]
fn a_compression_bomb_fails_with_1009_not_memory() {
    let mut payload = Vec::new();
    Compressor::new(15, 9, false).compress(&vec![b'a'; 8 << 20], &mut payload);
    let wire = raw_frame(0xC1, &payload, Some(KEY));
    assert!(
        wire.len() < Config::DEFAULT_MAX_MESSAGE_SIZE,
        "the bomb fits the limit compressed"
    );
    let mut d = Decompressor::new(15, false);
    assert_eq!(
        feed_inflating(&mut server(), &mut d, &wire, wire.len()),
        [Ev::Fail(1009)]
    );
    assert!(
        d.buffer_bytes() <= Config::DEFAULT_MAX_MESSAGE_SIZE + 1,
        "{}",
        d.buffer_bytes()
    );
}

#[test]
fn bad_deflate_data_and_bad_inflated_text_fail_with_1007() {
    let mut d = Decompressor::new(15, false);
    let garbage = raw_frame(0xC1, &[0xff; 20], Some(KEY));
    assert_eq!(
        feed_inflating(&mut server(), &mut d, &garbage, garbage.len()),
        [Ev::Fail(1007)]
    );
    let mut payload = Vec::new();
    Compressor::new(15, 6, false).compress(&[0xce, 0xba, 0xe1, 0xbd], &mut payload);
    let bad_text = raw_frame(0xC1, &payload, Some(KEY));
    assert_eq!(
        feed_inflating(&mut server(), &mut d, &bad_text, bad_text.len()),
        [Ev::Fail(1007)]
    );
}
