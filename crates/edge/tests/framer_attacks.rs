//! Issue 19 item 11, on the edge's side: what a peer on a stream (TCP toward the core) can do to the
//! framer: smuggle a message boundary with a second or folded Content-Length, or make each read rescan
//! everything buffered so far.

use std::time::{Duration, Instant};

use edge::framer::{FramingError, StreamFramer};

/// A request whose header block ends in `extra` header lines (each ending in CRLF), with `body`.
fn request(extra: &str, body: &str) -> Vec<u8> {
    format!(
        "OPTIONS sip:core.example.test SIP/2.0\r\nVia: SIP/2.0/TCP a.example.test;branch=z9hG4bK1\r\n\
         {extra}\r\n{body}"
    )
    .into_bytes()
}

/// Every message the framer cuts from `stream`, pushed in one read, and the error that ended it.
fn frame(stream: &[u8]) -> (Vec<Vec<u8>>, Option<FramingError>) {
    let mut f = StreamFramer::new(65536);
    f.push(stream);
    let mut got = Vec::new();
    loop {
        match f.next_message() {
            Ok(Some(m)) => got.push(m),
            Ok(None) => return (got, None),
            Err(e) => return (got, Some(e)),
        }
    }
}

#[test]
fn a_duplicate_content_length_on_a_stream_ends_it() {
    // The first value frames an empty body, the second would swallow the next message: where one message
    // ends must not depend on which header a reader believes.
    let smuggled = request("Content-Length: 0\r\nContent-Length: 38\r\n", "");
    let mut stream = smuggled.clone();
    stream.extend_from_slice(&request("Content-Length: 0\r\n", ""));
    let (got, err) = frame(&stream);
    assert!(got.is_empty(), "framed {got:?}");
    assert_eq!(err, Some(FramingError::DuplicateContentLength));
    // The same value twice is refused too, and so is the compact form beside the long one.
    for dup in [
        "Content-Length: 0\r\nContent-Length: 0\r\n",
        "l: 0\r\nContent-Length: 0\r\n",
    ] {
        let (got, err) = frame(&request(dup, ""));
        assert!(got.is_empty());
        assert_eq!(err, Some(FramingError::DuplicateContentLength), "{dup}");
    }
}

#[test]
fn a_folded_line_cannot_smuggle_a_content_length() {
    // ` l: 4` continues X-A (RFC 3261 §7.3.1): the message's Content-Length is the 0 after it, as the
    // scanner reads it.
    let m = request("X-A: a\r\n l: 4\r\nContent-Length: 0\r\n", "");
    let next = request("Content-Length: 0\r\n", "");
    let stream = [m.clone(), next.clone()].concat();
    let (got, err) = frame(&stream);
    assert_eq!(err, None);
    assert_eq!(got, vec![m.clone(), next]);
    assert_eq!(
        sipscan::Message::parse(&m).unwrap().content_length(),
        Some(0)
    );
}

#[test]
fn a_trickled_header_block_is_not_rescanned_on_every_read() {
    // A header block of 192 KiB that arrives one byte per read: rescanning the whole buffer on each read
    // costs 192 Ki x 96 Ki comparisons (seconds); a resumed scan, a few per byte.
    let mut m = b"OPTIONS sip:core.example.test SIP/2.0\r\nX-Pad: ".to_vec();
    m.resize(192 * 1024, b'a');
    m.extend_from_slice(b"\r\nContent-Length: 2\r\n\r\nok");
    let mut f = StreamFramer::new(256 * 1024);
    let began = Instant::now();
    let mut got = None;
    for b in &m {
        f.push(std::slice::from_ref(b));
        if let Some(msg) = f.next_message().unwrap() {
            got = Some(msg);
        }
    }
    let took = began.elapsed();
    assert_eq!(got.as_deref(), Some(m.as_slice()));
    assert_eq!(f.buffered(), 0);
    assert!(
        took < Duration::from_secs(2),
        "framing {} bytes trickled one per read took {took:?}",
        m.len()
    );
}

#[test]
fn many_messages_in_one_read_are_cut_without_moving_the_rest_each_time() {
    let one = request("Content-Length: 0\r\n", "");
    let stream = one.repeat(4000);
    let began = Instant::now();
    let mut f = StreamFramer::new(stream.len());
    f.push(&stream);
    let mut n = 0;
    while let Some(m) = f.next_message().unwrap() {
        assert_eq!(m, one);
        n += 1;
    }
    assert_eq!((n, f.buffered()), (4000, 0));
    assert!(began.elapsed() < Duration::from_secs(2));
}
