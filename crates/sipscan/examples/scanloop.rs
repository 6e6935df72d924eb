//! Tight loop over `Message::parse` for profiling: `cargo run --release -p sipscan
//! --example scanloop -- <file>... [--iterations N] [--edge]` (prints the best of 5
//! rounds per file, so that a busy machine disturbs it less; use with `valgrind
//! --tool=callgrind` for instruction counts). `--edge` runs the edge's whole job as the
//! `sipscan_edge` bench does: scan, read the top Route, add Via and Record-Route (Path
//! for REGISTER), pop the Route when it is ours, decrement Max-Forwards, write.

#[path = "common/edge_job.rs"]
mod edge_job;

use edge_job::edge;
use sipscan::Message;
use std::hint::black_box;

fn index(bytes: &[u8]) -> usize {
    let m = Message::parse(bytes).expect("scan");
    m.header_count() + m.body().len()
}

fn main() {
    let mut files = Vec::new();
    let mut n: u64 = 1_000_000;
    let mut edge_job = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--edge" {
            edge_job = true;
        } else if a == "--iterations" {
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
        "usage: scanloop <message file>... [--iterations N] [--edge]"
    );
    let mut out = Vec::with_capacity(4096);
    for path in files {
        let bytes = std::fs::read(&path).expect("read message");
        let mut best = f64::MAX;
        let mut acc = 0usize;
        for _ in 0..5 {
            let t = std::time::Instant::now();
            for _ in 0..n {
                acc += if edge_job {
                    edge(black_box(&bytes), &mut out)
                } else {
                    index(black_box(&bytes))
                };
            }
            best = best.min(t.elapsed().as_nanos() as f64 / n as f64);
        }
        println!(
            "{path}: {best:.1} ns/{}, best of 5 ({} kernel, {acc})",
            if edge_job { "edge job" } else { "parse" },
            sipscan::arch::selected().name
        );
    }
}
