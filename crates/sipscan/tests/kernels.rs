//! Every line-feed kernel of `sipscan::arch` that the running CPU has matches a byte-by-byte
//! search (single blocks, batches of every length and start, whole messages); a kernel the CPU
//! lacks is named as skipped on stderr instead of passing in silence; the scanner dispatches to
//! the best kernel (NEON on aarch64, where it is baseline).

use std::io::Write;

use sipscan::arch::{self, BATCH, Kernel};
use sipscan::{HeaderName, Message, count_line_feeds};

/// Every kernel name the crate carries on some architecture, best first within each.
const ALL: [&str; 5] = ["avx512bw", "avx2", "sse2", "neon", "scalar"];

/// Straight to stderr (not captured by the test harness), so the output says which kernels ran.
fn report(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// The kernel called `name`, when this CPU has it.
fn kernel(name: &str) -> Option<Kernel> {
    arch::available().into_iter().find(|k| k.name == name)
}

/// The definition: bit `i` set when `bytes[i] == b'\n'` (at most 64 bytes).
fn naive_mask(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .fold(0, |m, (i, _)| m | 1 << i)
}

/// Bytes with line feeds at irregular places and high-bit bytes between them.
fn pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| {
            if i % 7 == 3 || i % 13 == 0 || i % 64 == 63 {
                b'\n'
            } else {
                (i as u8).wrapping_mul(37) | 0x80
            }
        })
        .collect()
}

/// `lf_mask` on blocks with one line feed at each position, none, all, and the pattern.
fn check_blocks(k: Kernel) {
    for i in 0..64 {
        let mut block = [b'a'; 64];
        block[i] = b'\n';
        assert_eq!((k.lf_mask)(&block), 1 << i, "{} lone LF at {i}", k.name);
        let mut block = [b'\n'; 64];
        block[i] = b'\n' ^ 0x80;
        assert_eq!((k.lf_mask)(&block), !(1 << i), "{} all but {i}", k.name);
    }
    assert_eq!((k.lf_mask)(&[0; 64]), 0, "{} no LF", k.name);
    let data = pattern(64 + 64);
    for start in 0..64 {
        let block: &[u8; 64] = data[start..start + 64].try_into().unwrap();
        assert_eq!(
            (k.lf_mask)(block),
            naive_mask(block),
            "{} at {start}",
            k.name
        );
    }
}

/// `lf_masks` on every length up to a batch and a bit, from every start within a block.
fn check_batches(k: Kernel) {
    let data = pattern(64 + BATCH * 64 + 70);
    for start in 0..64 {
        for len in (0..=BATCH * 64 + 70).step_by(if start % 8 == 0 { 1 } else { 29 }) {
            let bytes = &data[start..start + len];
            let mut got = [u64::MAX; BATCH];
            (k.lf_masks)(bytes, &mut got);
            for (i, m) in got.iter().enumerate() {
                let block = bytes.get(i * 64..).unwrap_or(&[]);
                let want = naive_mask(&block[..block.len().min(64)]);
                assert_eq!(*m, want, "{} start {start} len {len} block {i}", k.name);
            }
        }
    }
}

/// A SIP message scanned with the kernel, header lines ending at every block position.
fn check_messages(k: Kernel) {
    for pad in 0..70 {
        let msg = format!(
            "MESSAGE sip:bob@example.test SIP/2.0\r\nVia: SIP/2.0/WS a.invalid;branch=z9hG4bK{}\r\n\
             Subject: {}\r\nCall-ID: x\r\nCSeq: 1 MESSAGE\r\nContent-Length: 5\r\n\r\nhello",
            "b".repeat(pad),
            "s".repeat(pad * 3)
        );
        let m = Message::parse_with(msg.as_bytes(), k)
            .unwrap_or_else(|e| panic!("{} pad {pad}: {e}", k.name));
        assert_eq!(m.header_count(), 5, "{} pad {pad}", k.name);
        assert_eq!(
            m.get(HeaderName::CallId).map(|h| h.value()),
            Some(&b"x"[..])
        );
        assert_eq!(m.body(), b"hello", "{} pad {pad}", k.name);
    }
}

macro_rules! kernel_tests {
    ($name:ident) => {
        #[test]
        fn $name() {
            let name = stringify!($name);
            match kernel(name) {
                Some(k) => {
                    check_blocks(k);
                    check_batches(k);
                    check_messages(k);
                    report(&format!("sipscan: line-feed kernel: ran the {name} path"));
                }
                None => report(&format!(
                    "sipscan: line-feed kernel: skipped: {name} not available on this {} CPU",
                    std::env::consts::ARCH
                )),
            }
        }
    };
}

kernel_tests!(avx512bw);
kernel_tests!(avx2);
kernel_tests!(sse2);
kernel_tests!(neon);
kernel_tests!(scalar);

#[test]
fn kernels_under_test_and_the_dispatched_one() {
    let available: Vec<&str> = arch::available().iter().map(|k| k.name).collect();
    let skipped: Vec<&str> = ALL.into_iter().filter(|n| !available.contains(n)).collect();
    report(&format!(
        "sipscan: kernels tested on this {} CPU: {} (dispatch uses {}); skipped: {}",
        std::env::consts::ARCH,
        available.join(", "),
        arch::selected().name,
        skipped.join(", ")
    ));
    assert!(available.iter().all(|n| ALL.contains(n)), "{available:?}");
    assert_eq!(available.last(), Some(&"scalar"));
    assert_eq!(Some(&arch::selected().name), available.first());
    #[cfg(target_arch = "aarch64")]
    {
        // NEON is part of the aarch64 baseline: it is what the scanner runs.
        assert_eq!(available, ["neon", "scalar"]);
        assert_eq!(arch::selected().name, "neon");
    }
    #[cfg(target_arch = "x86_64")]
    {
        let mut expect = Vec::new();
        if std::is_x86_feature_detected!("avx512bw") {
            expect.push("avx512bw");
        }
        if std::is_x86_feature_detected!("avx2") {
            expect.push("avx2");
        }
        expect.extend(["sse2", "scalar"]);
        assert_eq!(available, expect);
    }
    // The dispatched count equals the definition across block and batch boundaries.
    let data = pattern(3 * BATCH * 64 + 100);
    for len in (0..data.len()).step_by(37) {
        let want = data[..len].iter().filter(|b| **b == b'\n').count();
        assert_eq!(count_line_feeds(&data[..len]), want, "len {len}");
    }
}
