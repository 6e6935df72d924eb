//! Fused unmask + streaming UTF-8 validation: verdicts and error positions equal
//! `std::str::from_utf8` on the whole payload, for every available path and entry point,
//! on valid, invalid, overlong, surrogate and truncated inputs and on every split of 2-, 3- and
//! 4-byte code points across chunks. Errors are reported from the first chunk after which the
//! payload can no longer become valid ("fail fast").

mod common;

use common::{on, reference_unmask, report};
use proptest::prelude::*;
use wsmask::{Implementation, Utf8Error, Utf8Stream};

const KEY: [u8; 4] = [0x5a, 0xc3, 0x0f, 0xe8];

#[derive(Clone, Copy, Debug, PartialEq)]
enum Entry {
    InPlace,
    Copy,
    PlainValidate,
    /// The crate-level (`Utf8Stream::unmask_validate` etc.) entry points, which take the
    /// cached best kernel directly; checked when `imp` is the best one.
    DispatchedInPlace,
    DispatchedCopy,
    DispatchedValidate,
}

const ENTRIES: [Entry; 3] = [Entry::InPlace, Entry::Copy, Entry::PlainValidate];

/// The entry points to check with `imp`: the dispatched ones too when it is the best.
fn entries(imp: Implementation) -> Vec<Entry> {
    let mut all = ENTRIES.to_vec();
    if imp == Implementation::best() {
        all.extend([
            Entry::DispatchedInPlace,
            Entry::DispatchedCopy,
            Entry::DispatchedValidate,
        ]);
    }
    all
}

/// What std says after each chunk and at the end.
fn oracle(payload: &[u8], cuts: &[usize]) -> (Vec<Result<(), Utf8Error>>, Result<(), Utf8Error>) {
    let mut per_chunk = Vec::new();
    let mut failed = None;
    for &end in cuts.iter().skip(1) {
        if failed.is_none()
            && let Err(e) = std::str::from_utf8(&payload[..end])
            && e.error_len().is_some()
        {
            failed = Some(Utf8Error {
                valid_up_to: e.valid_up_to(),
            });
        }
        per_chunk.push(failed.map_or(Ok(()), Err));
    }
    let end = match failed {
        Some(e) => Err(e),
        None => std::str::from_utf8(payload)
            .map(|_| ())
            .map_err(|e| Utf8Error {
                valid_up_to: e.valid_up_to(),
            }),
    };
    (per_chunk, end)
}

/// Feed `payload` (plain text) masked with KEY in the chunks `cuts` delimits; check every
/// verdict against the oracle and the unmasked bytes against the plain text.
fn check(imp: Implementation, entry: Entry, payload: &[u8], cuts: &[usize]) {
    let masked = reference_unmask(payload, KEY, 0);
    let (want_chunks, want_end) = oracle(payload, cuts);
    let mut stream = Utf8Stream::new();
    let mut out = masked.clone();
    for (i, w) in cuts.windows(2).enumerate() {
        let (a, b) = (w[0], w[1]);
        let got = match entry {
            Entry::InPlace => stream.unmask_validate_with(imp, &mut out[a..b], KEY, a),
            Entry::Copy => {
                stream.unmask_copy_validate_with(imp, &masked[a..b], &mut out[a..b], KEY, a)
            }
            Entry::PlainValidate => {
                out[a..b].copy_from_slice(&payload[a..b]);
                stream.validate_with(imp, &payload[a..b])
            }
            Entry::DispatchedInPlace => stream.unmask_validate(&mut out[a..b], KEY, a),
            Entry::DispatchedCopy => {
                stream.unmask_copy_validate(&masked[a..b], &mut out[a..b], KEY, a)
            }
            Entry::DispatchedValidate => {
                out[a..b].copy_from_slice(&payload[a..b]);
                stream.validate(&payload[a..b])
            }
        };
        assert_eq!(
            got,
            want_chunks[i],
            "{imp} {entry:?} chunk {i} ({a}..{b}) of {} bytes, cuts {cuts:?}: {:02x?}",
            payload.len(),
            &payload[a.saturating_sub(4)..(b + 4).min(payload.len())]
        );
    }
    assert_eq!(
        stream.finish(),
        want_end,
        "{imp} {entry:?} finish, cuts {cuts:?}"
    );
    assert_eq!(out, payload, "{imp} {entry:?} did not unmask everything");
}

fn check_all_entries(imp: Implementation, payload: &[u8], cuts: &[usize]) {
    for entry in entries(imp) {
        check(imp, entry, payload, cuts);
    }
}

fn whole(payload: &[u8]) -> Vec<usize> {
    vec![0, payload.len()]
}

/// Mixed SIP-like text with 1-, 2-, 3- and 4-byte code points.
fn mixed_text(len_hint: usize) -> Vec<u8> {
    let unit = "INVITE sip:bob@example.test SIP/2.0\r\nSubject: héllo ✓ 日本 — Grüße 🎉\r\n";
    let mut s = String::new();
    while s.len() < len_hint {
        s.push_str(unit);
    }
    s.into_bytes()
}

fn named_cases() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("empty", vec![]),
        ("ascii", b"REGISTER sip:example.test SIP/2.0\r\n".to_vec()),
        ("mixed", mixed_text(300)),
        ("lone continuation", b"abc\x80def".to_vec()),
        ("overlong 2-byte", b"ab\xc0\xafcd".to_vec()),
        ("overlong C1", b"\xc1\xbf".to_vec()),
        ("overlong 3-byte", b"x\xe0\x80\xafx".to_vec()),
        ("overlong 4-byte", b"x\xf0\x80\x80\xafx".to_vec()),
        ("surrogate D800", b"x\xed\xa0\x80x".to_vec()),
        ("surrogate DFFF", b"x\xed\xbf\xbfx".to_vec()),
        ("above U+10FFFF", b"x\xf4\x90\x80\x80x".to_vec()),
        ("F5 lead", b"x\xf5\x80\x80\x80".to_vec()),
        ("FF byte", b"x\xffx".to_vec()),
        ("truncated 2-byte at end", b"abc\xc3".to_vec()),
        ("truncated 3-byte at end", b"abc\xe2\x9c".to_vec()),
        ("truncated 4-byte at end", b"abc\xf0\x9f\x8e".to_vec()),
        ("truncated in the middle", b"ab\xe2\x9cxyz".to_vec()),
        ("max code point", "\u{10FFFF}".as_bytes().to_vec()),
        ("U+FFFF", "\u{FFFF}".as_bytes().to_vec()),
        ("5 continuations", b"\xf0\x9f\x8e\x89\x80".to_vec()),
    ]
}

fn named(imp: Implementation) {
    for (name, case) in named_cases() {
        for pad in [0usize, 61, 64, 130] {
            // The same case after `pad` ASCII bytes and followed by more text, to move it
            // across vector blocks; also at the very end.
            let mut p = vec![b'a'; pad];
            p.extend_from_slice(&case);
            check_all_entries(imp, &p, &whole(&p));
            let mut q = p.clone();
            q.extend_from_slice(&mixed_text(200));
            check_all_entries(imp, &q, &whole(&q));
            let _ = name;
        }
    }
}

/// Every split point of every 2-, 3- and 4-byte code point, at many block positions.
fn splits(imp: Implementation) {
    for ch in [
        'é',
        'ß',
        '✓',
        '日',
        '€',
        '🎉',
        '\u{10FFFF}',
        '\u{800}',
        '\u{10000}',
    ] {
        let mut enc = [0u8; 4];
        let bytes = ch.encode_utf8(&mut enc).as_bytes().to_vec();
        for pad in [0usize, 1, 15, 31, 32, 62, 63, 64, 65, 127, 200] {
            let mut p = vec![b'x'; pad];
            p.extend_from_slice(&bytes);
            p.extend_from_slice(
                b" tail text to cross a block boundary.............................",
            );
            for cut in 1..bytes.len() {
                let cuts = [0, pad + cut, p.len()];
                check_all_entries(imp, &p, &cuts);
                // Chunk ends in the code point, message ends there too: finish must fail.
                let truncated = &p[..pad + cut];
                check_all_entries(imp, truncated, &whole(truncated));
                // One byte per chunk across the code point.
                let mut bytewise: Vec<usize> = (0..=pad + bytes.len()).collect();
                bytewise.push(p.len());
                bytewise.dedup();
                if pad < 70 {
                    check_all_entries(imp, &p, &bytewise);
                }
            }
        }
    }
}

/// Corrupt every position of a mixed text with bytes that break it in different ways.
fn every_position(imp: Implementation) {
    let text = mixed_text(260);
    for pos in 0..text.len() {
        for bad in [
            0x80u8, 0xbf, 0xc0, 0xc3, 0xe0, 0xed, 0xf0, 0xf4, 0xf5, 0xff, b'A',
        ] {
            let mut p = text.clone();
            p[pos] = bad;
            check(imp, Entry::InPlace, &p, &whole(&p));
            check(imp, Entry::PlainValidate, &p, &[0, pos / 2, p.len()]);
        }
    }
}

/// Long ASCII text with one code point, invalid byte or cut-off sequence placed around
/// multiples of 256 bytes (the AVX-512 kernel tests four 64-byte blocks at once for "all ASCII"
/// and checks a group with a non-ASCII byte block by block), up to 8 KiB in, whole and from an
/// odd start.
fn sparse_non_ascii(imp: Implementation) {
    let inserts: [&[u8]; 8] = [
        "é".as_bytes(),
        "✓".as_bytes(),
        "🎉".as_bytes(),
        b"\x80",
        b"\xc3",
        b"\xed\xa0\x80",
        b"\xf0\x9f",
        b"\xe2\x9c\x93\x80",
    ];
    for len in [1100usize, 4200, 9000] {
        for base in [256usize, 1024, 4096, 8192]
            .into_iter()
            .filter(|&b| b + 8 < len)
        {
            for pos in base - 4..=base + 4 {
                for ins in inserts {
                    let mut p: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
                    p[pos..pos + ins.len()].copy_from_slice(ins);
                    check_all_entries(imp, &p, &whole(&p));
                    check_all_entries(imp, &p, &[0, 1, pos + 1, len]);
                }
            }
        }
    }
}

/// One generated case of `random_text_random_chunks`: `text` with `edits` applied, maybe
/// truncated, fed in the chunks `raw_cuts` picks, through every entry point of `imp`.
fn random_case(
    imp: Implementation,
    text: String,
    edits: &[(prop::sample::Index, u8)],
    truncate: prop::sample::Index,
    do_truncate: bool,
    raw_cuts: &[prop::sample::Index],
) {
    let mut p = text.into_bytes();
    for (at, byte) in edits {
        if !p.is_empty() {
            let i = at.index(p.len());
            p[i] = *byte;
        }
    }
    if do_truncate && !p.is_empty() {
        p.truncate(truncate.index(p.len()));
    }
    let mut cuts: Vec<usize> = raw_cuts.iter().map(|c| c.index(p.len() + 1)).collect();
    cuts.push(0);
    cuts.push(p.len());
    cuts.sort_unstable();
    cuts.dedup();
    if cuts.len() == 1 {
        cuts.push(0);
    }
    for entry in entries(imp) {
        check(imp, entry, &p, &cuts);
    }
}

macro_rules! utf8_tests {
    ($name:ident, $imp:expr) => {
        mod $name {
            use super::*;

            #[test]
            fn named_valid_invalid_overlong_surrogate_truncated() {
                on($imp, "UTF-8 named cases", || named($imp));
            }

            #[test]
            fn every_split_of_multibyte_code_points() {
                on($imp, "UTF-8 code point splits", || splits($imp));
            }

            #[test]
            fn sparse_non_ascii_at_group_boundaries() {
                on($imp, "UTF-8 sparse non-ASCII at group boundaries", || sparse_non_ascii($imp));
            }

            #[test]
            fn corruption_at_every_position() {
                on($imp, "UTF-8 corruption at every position", || every_position($imp));
            }

            #[test]
            fn random_text_random_chunks() {
                on($imp, "UTF-8 random text in random chunks (proptest)", || {
                    proptest!(ProptestConfig::with_cases(200), |(
                        text in "[a-z:;@<>\\r\\n ]{0,80}([é✓日🎉\u{10FFFF}ß]{0,3}[a-z ]{0,70}){0,12}",
                        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3),
                        truncate in any::<prop::sample::Index>(),
                        do_truncate in any::<bool>(),
                        raw_cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..4),
                    )| {
                        random_case($imp, text, &edits, truncate, do_truncate, &raw_cuts);
                    });
                });
            }
        }
    };
}

utf8_tests!(avx512vbmi, Implementation::Avx512Vbmi);
utf8_tests!(avx512, Implementation::Avx512);
utf8_tests!(avx2, Implementation::Avx2);
utf8_tests!(sse2, Implementation::Sse2);
utf8_tests!(neon, Implementation::Neon);
utf8_tests!(scalar, Implementation::Scalar);

#[test]
fn dispatched_stream_matches_std_on_mixed_and_broken_text() {
    let text = mixed_text(5000);
    let masked = reference_unmask(&text, KEY, 0);
    let mut buf = masked.clone();
    let mut s = Utf8Stream::new();
    let cuts = [0, 7, 1000, 1001, 1002, 4096, text.len()];
    for w in cuts.windows(2) {
        s.unmask_validate(&mut buf[w[0]..w[1]], KEY, w[0]).unwrap();
    }
    s.finish().unwrap();
    assert_eq!(buf, text);

    let mut broken = text.clone();
    broken[3333] = 0xff;
    let want = std::str::from_utf8(&broken).unwrap_err().valid_up_to();
    let mut s = Utf8Stream::new();
    let mut dst = vec![0u8; broken.len()];
    let masked = reference_unmask(&broken, KEY, 0);
    assert_eq!(
        s.unmask_copy_validate(&masked[..3000], &mut dst[..3000], KEY, 0),
        Ok(())
    );
    let err = s
        .unmask_copy_validate(&masked[3000..], &mut dst[3000..], KEY, 3000)
        .unwrap_err();
    assert_eq!(err.valid_up_to, want);
    assert_eq!(dst, broken, "an error still leaves the chunk unmasked");
    assert_eq!(s.finish(), Err(err), "the error sticks");
    s.reset();
    assert_eq!(s.validate(b"fresh"), Ok(()));
    assert_eq!(s.finish(), Ok(()));
}

#[test]
fn fail_fast_on_an_impossible_prefix_before_the_message_ends() {
    let mut s = Utf8Stream::new();
    assert_eq!(s.validate(b"ok \xe0"), Ok(()));
    assert!(s.is_incomplete());
    // E0 80 can never become valid (overlong): reported now, more chunks would follow.
    assert_eq!(s.validate(b"\x80 more"), Err(Utf8Error { valid_up_to: 3 }));
    report("wsmask: fail-fast checked on the dispatched path");
}
