//! Tight loop over `Message::parse` for profiling: `cargo run --release -p sipscan
//! --example scanloop -- <file>... [--iterations N]` (prints the best of 5 rounds per
//! file, so that a busy machine disturbs it less; use with `valgrind --tool=callgrind`
//! for instruction counts).

use std::hint::black_box;

fn main() {
    let mut files = Vec::new();
    let mut n: u64 = 1_000_000;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--iterations" {
            n = args
                .next()
                .and_then(|s| s.parse().ok())
                .expect("--iterations N");
        } else {
            files.push(a);
        }
    }
    assert!(
        !files.is_empty(),
        "usage: scanloop <message file>... [--iterations N]"
    );
    for path in files {
        let bytes = std::fs::read(&path).expect("read message");
        let mut best = f64::MAX;
        let mut acc = 0usize;
        for _ in 0..5 {
            let t = std::time::Instant::now();
            for _ in 0..n {
                let m = sipscan::Message::parse(black_box(&bytes)).expect("scan");
                acc += m.header_count();
            }
            best = best.min(t.elapsed().as_nanos() as f64 / n as f64);
        }
        println!(
            "{path}: {best:.1} ns/parse, best of 5 ({} kernel, {acc})",
            sipscan::arch::selected().name
        );
    }
}
