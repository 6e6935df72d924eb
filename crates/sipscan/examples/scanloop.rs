//! Tight loop over `Message::parse` for profiling: `cargo run --release -p sipscan
//! --example scanloop -- <file> [iterations]` (use with `perf stat` on a busy machine).

use std::hint::black_box;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .expect("usage: scanloop <message file> [iterations]");
    let n: u64 = args
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000_000);
    let bytes = std::fs::read(&path).expect("read message");
    let t = std::time::Instant::now();
    let mut acc = 0usize;
    for _ in 0..n {
        let m = sipscan::Message::parse(black_box(&bytes)).expect("scan");
        acc += m.header_count();
    }
    let ns = t.elapsed().as_nanos() as f64 / n as f64;
    println!(
        "{path}: {ns:.1} ns/parse ({} kernel, {acc})",
        sipscan::arch::selected().name
    );
}
