//! Heap bytes the standalone edge keeps per registered client (registrar binding, expiry queue, flow index).
//!
//! Counted by a global allocator that tracks the bytes live, so the figure is exact and repeatable; the
//! 100,000-client run (`tools/scale/sip-scale.sh`) measures the whole process.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use common::*;
use edge::Mode;
use edge::time::Timestamp;

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call forwards to the system allocator with the caller's arguments; the counter only observes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller upholds `alloc`'s contract, which `System.alloc` shares.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` above with this `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: as for `dealloc`; `new_size` is the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// A REGISTER as JsSIP sends it (the shape `sipload register` uses), for client `i`.
fn register(i: u32, cseq: u32) -> Vec<u8> {
    format!(
        "REGISTER sip:example.test SIP/2.0\r\n\
Via: SIP/2.0/WS 4k3il3d38qec.invalid;branch=z9hG4bK{i}x{cseq}\r\n\
Max-Forwards: 69\r\n\
To: <sip:user{i}@example.test>\r\n\
From: <sip:user{i}@example.test>;tag=t{i}\r\n\
Call-ID: 8rcqb3d2c6og0v9eoha{i:07}\r\n\
CSeq: {cseq} REGISTER\r\n\
Expires: 60\r\n\
Contact: <sip:c{i:07}@4k3il3d38qec.invalid;transport=ws>;+sip.ice;reg-id=1;\
+sip.instance=\"<urn:uuid:56ff4a26-a166-4d3d-8d9b-{i:012}>\";expires=60\r\n\
Supported: path,gruu,outbound\r\n\
Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

#[test]
fn a_registered_client_costs_the_standalone_edge_under_512_heap_bytes() {
    const N: u32 = 20_000;
    let mut e = edge(Mode::Standalone);
    // Warm up the tables' growth so the measurement is of steady state, then measure N more clients, each
    // registered and refreshed twice (a refresh leaves the expiry queue entry of the previous one behind).
    let mut out = Vec::new();
    let mut run = |e: &mut edge::Edge, range: std::ops::Range<u32>| {
        for cseq in 1..=3 {
            for i in range.clone() {
                out.clear();
                let now = Timestamp(1_000_000 + u64::from(cseq) * 20_000);
                e.from_client(&flow(i + 1), &register(i, cseq), now, &mut out);
                assert_eq!(out.len(), 1);
            }
        }
    };
    run(&mut e, 0..N);
    let before = LIVE.load(Ordering::Relaxed);
    run(&mut e, N..3 * N);
    let after = LIVE.load(Ordering::Relaxed);
    let per_client = (after - before) / (2 * N as isize);
    assert_eq!(e.registrar().binding_count(), 3 * N as usize);
    println!("standalone edge: {per_client} heap bytes per registered client");
    assert!(per_client <= 512, "{per_client} bytes per client");
}
