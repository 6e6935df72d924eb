//! Heap bytes the standalone edge keeps per registered client (registrar binding, expiry queue, flow index).
//!
//! Counted by a global allocator that tracks the bytes live, so the figure is exact and repeatable; the
//! 100,000-client run (`tools/scale/sip-scale.sh`) measures the whole process.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Mutex;
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

/// The tests of this file measure one global counter: they run one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

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
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
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

/// `register(i, cseq)` with every expiry set to `expires`.
fn register_for(i: u32, cseq: u32, expires: u32) -> Vec<u8> {
    String::from_utf8(register(i, cseq))
        .unwrap()
        .replace("Expires: 60\r\n", &format!("Expires: {expires}\r\n"))
        .replace(";expires=60", &format!(";expires={expires}"))
        .into_bytes()
}

#[test]
fn a_connection_cycling_through_new_aors_holds_no_memory() {
    // Issue 19 item 8: one connection registers an AoR, unregisters it, registers the next, ...: each binding
    // goes, and so must the connection's index of the AoRs it holds (it grew by one AoR name per cycle).
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    const CYCLES: u32 = 10_000;
    let mut e = edge(Mode::Standalone);
    let mut out = Vec::new();
    let mut cycle = |e: &mut edge::Edge, range: std::ops::Range<u32>| {
        for i in range {
            for (cseq, expires) in [(1, 60), (2, 0)] {
                out.clear();
                e.from_client(
                    &flow(1),
                    &register_for(i, cseq, expires),
                    Timestamp(1_000_000),
                    &mut out,
                );
                assert_eq!(out.len(), 1);
            }
        }
    };
    cycle(&mut e, 0..100);
    let before = LIVE.load(Ordering::Relaxed);
    cycle(&mut e, 100..100 + CYCLES);
    let after = LIVE.load(Ordering::Relaxed);
    assert_eq!(e.registrar().binding_count(), 0);
    // The expiry queue keeps an entry per AoR until its time comes; nothing else may stay.
    let queued = e.expire(Timestamp(2_000_000));
    assert_eq!(queued, 0, "nothing left to expire");
    let after_expiry = LIVE.load(Ordering::Relaxed);
    println!(
        "{CYCLES} register/unregister cycles: {} bytes held, {} after expiry",
        after - before,
        after_expiry - before
    );
    assert!(
        after_expiry - before < 4096,
        "{} bytes held after {CYCLES} cycles",
        after_expiry - before
    );
}
