//! PROXY protocol v2 parser fuzzing (`ringmux::proxy_header`): arbitrary bytes as a connection's first
//! bytes, fed whole and cut into reads. Oracles: no panic; the outcome does not depend on how the bytes are
//! cut; the header consumed is never longer than `MAX_HEADER` nor than the bytes given, nor is more held; a
//! PROXY header it accepts encodes back to the same addresses; a spent parser keeps refusing.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ringmux::proxy_header::{
    MAX_HEADER, Progress, ProxyHeader, ProxyHeaderError, ProxyHeaderParser, encode,
};

/// The header and how many bytes of `data` it took, or the error.
fn run(data: &[u8], cut: usize) -> Result<Option<(ProxyHeader, usize)>, ProxyHeaderError> {
    let mut p = ProxyHeaderParser::new();
    let mut offset = 0;
    for piece in data.chunks(cut.max(1)) {
        match p.feed(piece)? {
            Progress::Incomplete => {
                assert!(p.buffered() <= MAX_HEADER);
                offset += piece.len();
            }
            Progress::Done { header, consumed } => {
                assert!(consumed <= piece.len());
                let used = offset + consumed;
                assert!(used <= MAX_HEADER);
                // Spent: more bytes are refused.
                assert!(p.feed(b"x").is_err());
                return Ok(Some((header, used)));
            }
        }
    }
    Ok(None)
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, data)) = data.split_first() else {
        return;
    };
    let cut = usize::from(control) + 1;
    let whole = run(data, data.len());
    assert_eq!(whole, run(data, cut), "cut {cut}");
    assert_eq!(whole, run(data, 1), "byte by byte");
    if let Ok(Some((header, _))) = whole {
        let addrs = match header {
            ProxyHeader::Proxied {
                source,
                destination,
            } => Some((source, destination)),
            ProxyHeader::Local | ProxyHeader::Unknown => None,
        };
        let mut again = Vec::new();
        encode(addrs, &[], &mut again);
        let expect = match header {
            ProxyHeader::Unknown => ProxyHeader::Local,
            h => h,
        };
        assert_eq!(run(&again, again.len()), Ok(Some((expect, again.len()))));
    }
});
