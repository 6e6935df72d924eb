//! WebSocket unmasking (RFC 6455 §5.3) and fused unmask + UTF-8 validation, side by side with
//! peer crates and the physical reference (memcpy).
//!
//! Run: `cargo bench -p sipedge-benches --bench wsmask`
//! Results: `target/criterion/<group>/<function>/<size>/new/estimates.json`.
//!
//! Group `unmask` (in place, throughput in bytes). At sizes up to 1 KiB each iteration unmasks
//! 16 distinct buffers of the size one after the other (each on a 64-byte boundary), as a
//! server goes through successive frames, and the time is per 16 frames; larger sizes unmask one
//! buffer per iteration. Functions:
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

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use wsmask::{Implementation, Utf8Stream};

const SIZES: [usize; 6] = [16, 125, 1024, 16384, 65536, 1048576];
const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A buffer whose bytes start `shift` bytes past a 64-byte boundary.
struct AlignedBuf {
    storage: Vec<u8>,
    start: usize,
    len: usize,
}

impl AlignedBuf {
    fn new(data: &[u8], shift: usize) -> Self {
        let mut storage = vec![0u8; data.len() + 128];
        let start = (64 - storage.as_ptr() as usize % 64) % 64 + shift;
        storage[start..start + data.len()].copy_from_slice(data);
        Self {
            storage,
            start,
            len: data.len(),
        }
    }

    fn bytes(&mut self) -> &mut [u8] {
        &mut self.storage[self.start..self.start + self.len]
    }

    fn view(&self) -> &[u8] {
        &self.storage[self.start..self.start + self.len]
    }
}

/// The "careful C" baseline: XOR 8 bytes at a time with a doubled key, bytes for the tail.
fn u64_word_unmask(buf: &mut [u8], key: [u8; 4]) {
    let k = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    let mut words = buf.chunks_exact_mut(8);
    for w in &mut words {
        let v = u64::from_ne_bytes(w.try_into().expect("8-byte chunk")) ^ k;
        w.copy_from_slice(&v.to_ne_bytes());
    }
    for (i, b) in words.into_remainder().iter_mut().enumerate() {
        *b ^= key[i & 3];
    }
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 131 + 7) as u8).collect()
}

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
        each(&mut group, size, stride, "wsmask", &mut bufs, |buf| {
            wsmask::unmask(buf, black_box(KEY), 0)
        });
        each(
            &mut group,
            size,
            stride,
            "wsmask_scalar",
            &mut bufs,
            |buf| Implementation::Scalar.unmask(buf, black_box(KEY), 0),
        );
        each(
            &mut group,
            size,
            stride,
            "fastwebsockets",
            &mut bufs,
            |buf| fastwebsockets::unmask(buf, black_box(KEY)),
        );
        each(&mut group, size, stride, "u64_word", &mut bufs, |buf| {
            u64_word_unmask(buf, black_box(KEY))
        });
        let src = AlignedBuf::new(&pattern(size), 0);
        each(&mut group, size, stride, "memcpy", &mut bufs, |buf| {
            buf.copy_from_slice(black_box(src.view()))
        });
        if size == 16384 && n == 1 {
            let mut unaligned = AlignedBuf::new(&pattern(size), 1);
            each(
                &mut group,
                size,
                stride,
                "wsmask_unaligned",
                &mut unaligned,
                |buf| wsmask::unmask(buf, black_box(KEY), 0),
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
    f: impl Fn(&mut [u8]),
) {
    group.bench_with_input(BenchmarkId::new(id, size), &size, |b, _| {
        b.iter(|| {
            for frame in bufs.bytes().chunks_mut(stride) {
                f(black_box(&mut frame[..size]));
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

/// `../shared/data/traces/` beside the repository root (CI clones main with shared/ beside it).
/// The JsSIP / SIP.js traces: `shared/` beside the checkout, or the copies the edge tests keep in the repository.
fn traces_dir() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let shared = root.join("../../shared/data/traces");
    if shared.is_dir() {
        shared
    } else {
        root.join("../crates/edge/tests/data/traces")
    }
}

/// Each WebSocket message of a trace file: the lines after a `--- >>> send` / `--- <<< recv`
/// line up to the next `---` or `===` line, minus the one newline the trace adds after it.
fn trace_messages(text: &str) -> Vec<String> {
    let mut messages = Vec::new();
    let mut current: Option<String> = None;
    for line in text.split_inclusive('\n') {
        if line.starts_with("--- ") || line.starts_with("=== ") {
            messages.extend(current.take());
            if line.starts_with("--- ") {
                current = Some(String::new());
            }
        } else if let Some(m) = current.as_mut() {
            m.push_str(line);
        }
    }
    messages.extend(current);
    for m in &mut messages {
        if m.ends_with('\n') {
            m.pop();
        }
    }
    messages.retain(|m| !m.is_empty());
    messages
}

/// All messages of all traces in order, starting from the first one with a UTF-8 (non-ASCII)
/// body — the chat MESSAGE — so that every size includes non-ASCII text, as SIP chat does.
fn sip_corpus() -> Vec<u8> {
    let dir = traces_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    let mut messages = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        messages.extend(trace_messages(&text));
    }
    assert!(
        messages.len() > 10,
        "too few SIP messages in {}",
        dir.display()
    );
    let first_utf8 = messages.iter().position(|m| !m.is_ascii()).unwrap_or(0);
    messages.rotate_left(first_utf8);
    messages.concat().into_bytes()
}

/// `size` bytes of the corpus (repeated as needed), cut at a code point boundary and padded
/// with spaces, so the sample is valid UTF-8.
fn sip_sample(corpus: &[u8], size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size + corpus.len());
    while out.len() < size {
        out.extend_from_slice(corpus);
    }
    let mut cut = size;
    while cut > 0 && (out[cut] & 0xC0) == 0x80 {
        cut -= 1;
    }
    out.truncate(cut);
    out.resize(size, b' ');
    assert!(std::str::from_utf8(&out).is_ok());
    out
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
