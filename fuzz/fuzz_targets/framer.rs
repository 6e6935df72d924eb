//! SIP stream framer fuzzing (`edge::framer::StreamFramer`, the core's TCP stream): arbitrary bytes, fed
//! whole and cut into reads. Oracles: no panic; the messages and the error do not depend on how the stream
//! is cut; nothing held past the size limit; every message the scanner accepts ends where the framer cut it
//! (framer and scanner agree on the boundary: no smuggled message).
#![no_main]
use edge::framer::{FramingError, StreamFramer};
use libfuzzer_sys::fuzz_target;

fn run(wire: &[u8], cut: usize, max: usize) -> (Vec<Vec<u8>>, Option<FramingError>) {
    let mut f = StreamFramer::new(max);
    let mut got = Vec::new();
    for piece in wire.chunks(cut.max(1)) {
        f.push(piece);
        loop {
            match f.next_message() {
                Ok(Some(m)) => {
                    assert!(m.len() <= max);
                    got.push(m);
                }
                Ok(None) => {
                    assert!(f.buffered() <= max, "{} bytes held", f.buffered());
                    break;
                }
                Err(e) => {
                    assert_eq!(f.buffered(), 0);
                    assert_eq!(f.next_message(), Err(e));
                    return (got, Some(e));
                }
            }
        }
    }
    (got, None)
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, wire)) = data.split_first() else {
        return;
    };
    let max = if control & 1 == 0 { 65536 } else { 200 };
    let cut = usize::from(control >> 1) + 1;
    let (whole, err) = run(wire, wire.len(), max);
    let (chunked, chunked_err) = run(wire, cut, max);
    // A size error may show on a prefix before the bytes that end an earlier message arrive only when the
    // whole stream is at hand; messages before it are the same.
    match (err, chunked_err) {
        (Some(FramingError::TooLarge(_)), _) | (_, Some(FramingError::TooLarge(_))) => {
            let n = whole.len().min(chunked.len());
            assert_eq!(whole[..n], chunked[..n], "cut {cut}");
        }
        _ => {
            assert_eq!(whole, chunked, "cut {cut}");
            assert_eq!(err, chunked_err, "cut {cut}");
        }
    }
    for m in &whole {
        if let Ok(msg) = sipscan::Message::parse(m) {
            assert!(
                msg.trailing().is_empty(),
                "scanner and framer disagree on the end"
            );
            assert_eq!(
                msg.content_length().map(|n| n as usize),
                Some(msg.body().len())
            );
        }
    }
});
