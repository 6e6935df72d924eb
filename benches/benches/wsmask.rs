//! WebSocket unmasking (RFC 6455 §5.3) and fused unmask + UTF-8 validation, side by side with
//! peer crates and the physical reference (memcpy).
//!
//! Run: `cargo bench -p sipedge-benches --bench wsmask`
//! Results: `target/criterion/<group>/<function>/<size>/new/estimates.json`.
//!
//! Group `unmask` (in place, throughput in bytes). At sizes up to 1 KiB each iteration unmasks
//! 16 distinct buffers of the size one after the other (each on a 64-byte boundary), as a
//! server goes through successive frames, and the time is per 16 frames; larger sizes unmask one
//! buffer per iteration. The buffer and the key pass through `black_box` once per iteration, not
//! once per frame: a `black_box` per frame makes every call reload its slice and key from the
//! stack first, a cost of the harness (about 1 ns per 125-byte frame for `wsmask`) that no
//! receive path has. Functions:
//! - `wsmask`: dispatched `wsmask::unmask` (AVX-512 on a CPU that has it);
//! - `wsmask_scalar`: `wsmask::Implementation::Scalar` (portable 8-byte words);
//! - `fastwebsockets`: its public `fastwebsockets::unmask`;
//! - tungstenite: not benched — tungstenite 0.26 keeps its mask function private
//!   (`mod mask` in `protocol/frame`, only reachable through frame (de)serialisation);
//! - `u64_word`: a plain 8-bytes-at-a-time loop, what a careful C coder writes;
//! - `memcpy`: `copy_from_slice` of the same size;
//! - `wsmask_unaligned` (16384 only): `wsmask` on a buffer starting 1 byte past a 64-byte
//!   boundary. Every other buffer here starts on a 64-byte boundary.
//!
//! Group `unmask_same_buffer` (sizes up to 1 KiB): the same functions on one buffer, unmasked
//! again and again. Every iteration re-reads the bytes the previous one just stored, so at small
//! sizes it measures how soon the CPU forwards those stores to the next loads (a chain no
//! receive path has: a server unmasks bytes the kernel wrote long before) more than the
//! unmasking work.
//!
//! Group `unmask_utf8`: SIP text from the JsSIP / SIP.js traces in `shared/data/traces/`, masked,
//! unmasked out of a receive buffer into a message buffer (the io path) and validated:
//! - `wsmask_fused`: `Utf8Stream::unmask_copy_validate` + `finish` (one pass over the bytes);
//! - `two_pass_simdutf8`: dispatched `wsmask::unmask_copy`, then `simdutf8::basic::from_utf8`;
//! - `two_pass_std`: dispatched `wsmask::unmask_copy`, then `std::str::from_utf8`.

mod wsmask_data;

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use wsmask::{Implementation, Utf8Stream};
use wsmask_data::{AlignedBuf, KEY, pattern, sip_corpus, sip_sample, u64_word_unmask};

const SIZES: [usize; 6] = [16, 125, 1024, 16384, 65536, 1048576];

/// Frames unmasked per iteration at sizes up to 1 KiB in group `unmask`.
const FRAMES: usize = 16;

/// Group `name`: every function at every size; an iteration unmasks `frames(size)` distinct
/// buffers of that size one after the other (each on a 64-byte boundary, 1 byte past it for
/// `wsmask_unaligned`), and the throughput counts all of them.
fn bench_unmask_group(c: &mut Criterion, name: &str, sizes: &[usize], frames: fn(usize) -> usize) {
    let mut group = c.benchmark_group(name);
    for &size in sizes {
        let n = frames(size);
        let stride = size.div_ceil(64) * 64;
        let mut all = vec![0u8; stride * n];
        for frame in all.chunks_exact_mut(stride) {
            frame[..size].copy_from_slice(&pattern(size));
        }
        let mut bufs = AlignedBuf::new(&all, 0);
        group.throughput(Throughput::Bytes((size * n) as u64));
        each(&mut group, size, stride, "wsmask", &mut bufs, |buf, key| {
            wsmask::unmask(buf, key, 0)
        });
        each(
            &mut group,
            size,
            stride,
            "wsmask_scalar",
            &mut bufs,
            |buf, key| Implementation::Scalar.unmask(buf, key, 0),
        );
        each(
            &mut group,
            size,
            stride,
            "fastwebsockets",
            &mut bufs,
            fastwebsockets::unmask,
        );
        each(
            &mut group,
            size,
            stride,
            "u64_word",
            &mut bufs,
            u64_word_unmask,
        );
        let src = AlignedBuf::new(&pattern(size), 0);
        each(&mut group, size, stride, "memcpy", &mut bufs, |buf, _| {
            buf.copy_from_slice(src.view())
        });
        if size == 16384 && n == 1 {
            let mut unaligned = AlignedBuf::new(&pattern(size), 1);
            each(
                &mut group,
                size,
                stride,
                "wsmask_unaligned",
                &mut unaligned,
                |buf, key| wsmask::unmask(buf, key, 0),
            );
        }
    }
    group.finish();
}

/// One function of an unmask group: `f` on each `size`-byte frame of `bufs` (`stride` apart).
fn each<M: criterion::measurement::Measurement>(
    group: &mut criterion::BenchmarkGroup<'_, M>,
    size: usize,
    stride: usize,
    id: &str,
    bufs: &mut AlignedBuf,
    f: impl Fn(&mut [u8], [u8; 4]),
) {
    group.bench_with_input(BenchmarkId::new(id, size), &size, |b, _| {
        b.iter(|| {
            let (all, key) = (black_box(bufs.bytes()), black_box(KEY));
            for frame in all.chunks_mut(stride) {
                f(&mut frame[..size], key);
            }
        })
    });
}

fn bench_unmask(c: &mut Criterion) {
    bench_unmask_group(
        c,
        "unmask",
        &SIZES,
        |size| if size <= 1024 { FRAMES } else { 1 },
    );
}

fn bench_unmask_same_buffer(c: &mut Criterion) {
    let small: Vec<usize> = SIZES.iter().copied().filter(|&s| s <= 1024).collect();
    bench_unmask_group(c, "unmask_same_buffer", &small, |_| 1);
}

fn bench_unmask_utf8(c: &mut Criterion) {
    let corpus = sip_corpus();
    let mut group = c.benchmark_group("unmask_utf8");
    for &size in &SIZES {
        let plain = sip_sample(&corpus, size);
        let mut masked = plain.clone();
        wsmask::unmask(&mut masked, KEY, 0);
        let src = AlignedBuf::new(&masked, 0);
        let mut dst = AlignedBuf::new(&vec![0u8; size], 0);
        group.throughput(Throughput::Bytes(size as u64));
        let mut check = Utf8Stream::new();
        assert_eq!(
            check.unmask_copy_validate(src.view(), dst.bytes(), KEY, 0),
            Ok(())
        );
        assert_eq!(check.finish(), Ok(()));
        assert_eq!(dst.view(), &plain[..]);

        group.bench_with_input(BenchmarkId::new("wsmask_fused", size), &size, |b, _| {
            b.iter(|| {
                let mut utf8 = Utf8Stream::new();
                let r = utf8.unmask_copy_validate(black_box(src.view()), dst.bytes(), KEY, 0);
                black_box(r.and_then(|()| utf8.finish()))
            })
        });
        group.bench_with_input(
            BenchmarkId::new("two_pass_simdutf8", size),
            &size,
            |b, _| {
                b.iter(|| {
                    wsmask::unmask_copy(black_box(src.view()), dst.bytes(), KEY, 0);
                    black_box(simdutf8::basic::from_utf8(dst.view()).is_ok())
                })
            },
        );
        group.bench_with_input(BenchmarkId::new("two_pass_std", size), &size, |b, _| {
            b.iter(|| {
                wsmask::unmask_copy(black_box(src.view()), dst.bytes(), KEY, 0);
                black_box(std::str::from_utf8(dst.view()).is_ok())
            })
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    bench_unmask,
    bench_unmask_same_buffer,
    bench_unmask_utf8
);
criterion_main!(benches);
