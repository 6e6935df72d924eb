//! The wsmask bench's key comparisons measured by turns, for shared, noisy machines.
//!
//! Run: `cargo bench -p sipedge-benches --bench wsmask_turns [-- ROUNDS]` (default 300 rounds).
//!
//! criterion measures one function for seconds, then the next; on a VM whose neighbours load the
//! caches in phases, two functions measured seconds apart can differ by 1.5× either way. Here
//! the functions of one comparison take turns: each round runs every function for a batch of
//! calls (a few tens of µs) and times the batch, and the rounds repeat. Every function sees the
//! same mix of quiet and loaded phases. Printed per function: the fastest batch (the machine
//! undisturbed) and the median batch, as time per call, and each one's ratio against the
//! comparison's baseline (> 1: faster than the baseline).
//!
//! `wsmask_avx2` is the AVX2 kernel called directly (what a CPU without AVX-512 dispatches to;
//! an AVX2 instruction on a CPU without AVX2 would fault, so run it on one that has it).
//!
//! The same inputs as `benches/wsmask.rs`: up to 1 KiB, a call unmasks 16 distinct frames in
//! place (each on a 64-byte boundary), with the buffer and the key passed through `black_box` once
//! per call, not once per frame; the UTF-8 cases unmask SIP text from the traces out of one
//! buffer into another and validate it.

#[allow(dead_code)] // the baseline loop is used by `wsmask.rs` only
mod wsmask_data;

use std::hint::black_box;
use std::time::Instant;

use wsmask::{Implementation, Utf8Stream};
use wsmask_data::{AlignedBuf, KEY, pattern, sip_corpus, sip_sample};

const FRAMES: usize = 16;

/// One function of a comparison: a name and one call.
type Case<'a> = (&'a str, Box<dyn FnMut() + 'a>);

/// Run the cases in turns for `rounds` rounds; print a table against the first case.
fn compare(title: &str, rounds: usize, mut cases: Vec<Case<'_>>) {
    // Calls per batch: about 20 µs of the slowest case.
    let mut calls = 1usize;
    loop {
        let t = Instant::now();
        for (_, f) in cases.iter_mut() {
            for _ in 0..calls {
                f();
            }
        }
        if t.elapsed().as_micros() >= 20 * cases.len() as u128 || calls >= 1 << 20 {
            break;
        }
        calls *= 2;
    }
    let mut times: Vec<Vec<f64>> = vec![Vec::with_capacity(rounds); cases.len()];
    for _ in 0..rounds {
        for (i, (_, f)) in cases.iter_mut().enumerate() {
            let t = Instant::now();
            for _ in 0..calls {
                f();
            }
            times[i].push(t.elapsed().as_nanos() as f64 / calls as f64);
        }
    }
    let stats: Vec<(f64, f64)> = times
        .iter_mut()
        .map(|v| {
            v.sort_by(f64::total_cmp);
            (v[0], v[v.len() / 2])
        })
        .collect();
    let (base_min, base_med) = stats[0];
    println!("{title} ({rounds} rounds of {calls} calls each)");
    println!(
        "  {:<20} {:>12} {:>12} {:>14} {:>14}",
        "function", "fastest ns", "median ns", "fastest ratio", "median ratio"
    );
    for ((name, _), (min, med)) in cases.iter().zip(&stats) {
        println!(
            "  {name:<20} {min:>12.2} {med:>12.2} {:>13.2}x {:>13.2}x",
            base_min / min,
            base_med / med
        );
    }
}

/// `n` copies of the pattern of `size` bytes, `stride` apart, each on a 64-byte boundary.
fn frames(size: usize, n: usize) -> (AlignedBuf, usize) {
    let stride = size.div_ceil(64) * 64;
    let mut all = vec![0u8; stride * n];
    for f in all.chunks_exact_mut(stride) {
        f[..size].copy_from_slice(&pattern(size));
    }
    (AlignedBuf::new(&all, 0), stride)
}

fn main() {
    let rounds = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(300usize);
    for size in [125usize, 1024, 16384, 65536] {
        let n = if size <= 1024 { FRAMES } else { 1 };
        let (mut a, stride) = frames(size, n);
        let (mut b, _) = frames(size, n);
        let (mut c, _) = frames(size, n);
        let (mut e, _) = frames(size, n);
        let src = pattern(size);
        let cases: Vec<Case<'_>> = vec![
            (
                "fastwebsockets",
                Box::new(|| {
                    let key = black_box(KEY);
                    for f in black_box(a.bytes()).chunks_mut(stride) {
                        fastwebsockets::unmask(&mut f[..size], key);
                    }
                }),
            ),
            (
                "wsmask",
                Box::new(|| {
                    let key = black_box(KEY);
                    for f in black_box(b.bytes()).chunks_mut(stride) {
                        wsmask::unmask(&mut f[..size], key, 0);
                    }
                }),
            ),
            (
                "wsmask_avx2",
                Box::new(|| {
                    let key = black_box(KEY);
                    for f in black_box(e.bytes()).chunks_mut(stride) {
                        Implementation::Avx2.unmask(&mut f[..size], key, 0);
                    }
                }),
            ),
            (
                "memcpy",
                Box::new(|| {
                    for f in black_box(c.bytes()).chunks_mut(stride) {
                        f[..size].copy_from_slice(&src);
                    }
                }),
            ),
        ];
        compare(&format!("unmask {size} B x {n}"), rounds, cases);
    }
    let corpus = sip_corpus();
    for size in [1024usize, 16384] {
        let plain = sip_sample(&corpus, size);
        let mut masked = plain.clone();
        wsmask::unmask(&mut masked, KEY, 0);
        let src = AlignedBuf::new(&masked, 0);
        let mut d1 = AlignedBuf::new(&plain, 0);
        let mut d2 = AlignedBuf::new(&plain, 0);
        let cases: Vec<Case<'_>> = vec![
            (
                "two_pass_simdutf8",
                Box::new(|| {
                    wsmask::unmask_copy(black_box(src.view()), d1.bytes(), KEY, 0);
                    black_box(simdutf8::basic::from_utf8(d1.view()).is_ok());
                }),
            ),
            (
                "wsmask_fused",
                Box::new(|| {
                    let mut utf8 = Utf8Stream::new();
                    let r = utf8.unmask_copy_validate(black_box(src.view()), d2.bytes(), KEY, 0);
                    black_box(r.and_then(|()| utf8.finish())).ok();
                }),
            ),
        ];
        compare(&format!("unmask_utf8 {size} B"), rounds, cases);
    }
}
