//! A provided-buffer ring (IORING_REGISTER_PBUF_RING): receive buffers the kernel picks from when a
//! multishot recv has data, so an idle connection holds no receive buffer.
//!
//! One anonymous mapping holds the ring of `io_uring_buf` entries (page aligned, as the kernel requires)
//! followed by the buffers. The application owns the tail: handing a buffer over writes an entry at the tail
//! and publishes the new tail with a release store; the kernel consumes from the head.
//!
//! The kernel takes buffers in ring order, so a buffer handed over now is filled only after every buffer
//! handed over before it. With all the buffers in the ring, every receive would land in the buffer used
//! longest ago, out of cache. So only a window of them is handed over at a time (first [`INITIAL_WINDOW`]),
//! topped up before each submit from a stack of returned buffers, the most recently used first; a receive
//! that finds the ring empty (ENOBUFS) doubles the window, up to all the buffers.

use std::io;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::IoUring;
use io_uring::types::BufRingEntry;

use crate::sys::Mapping;

/// One worker's buffer ring.
#[derive(Debug)]
pub(crate) struct BufRing {
    map: Mapping,
    entries: u16,
    buf_size: u32,
    ring_bytes: usize,
    tail: u16,
    pub(crate) bgid: u16,
    /// How many buffers to keep handed over.
    window: u16,
    /// Buffers handed over and not yet seen in a completion (the kernel may have taken more).
    in_ring: u16,
    /// Buffers we hold that are free, the most recently returned last.
    free: Vec<u16>,
}

const PAGE: usize = 4096;

/// Buffers handed to the kernel at first: more than one loop iteration's receives take here with
/// hundreds of busy connections.
pub(crate) const INITIAL_WINDOW: u16 = 64;

impl BufRing {
    /// Maps a ring of `entries` buffers of `buf_size` bytes (entries: power of two, 1..=32768), all
    /// handed to the kernel once registered.
    pub(crate) fn new(entries: u16, buf_size: u32, bgid: u16) -> io::Result<Self> {
        if entries == 0 || !entries.is_power_of_two() || entries > 32768 || buf_size == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "buffer ring entries must be a power of two in 1..=32768, buffers non-empty",
            ));
        }
        let ring_bytes =
            (usize::from(entries) * std::mem::size_of::<BufRingEntry>()).next_multiple_of(PAGE);
        let map = Mapping::new(ring_bytes + usize::from(entries) * buf_size as usize)?;
        let mut ring = Self {
            map,
            entries,
            buf_size,
            ring_bytes,
            tail: 0,
            bgid,
            window: entries.min(INITIAL_WINDOW),
            in_ring: 0,
            // Popped from the end: the lowest addresses go first.
            free: (0..entries).rev().collect(),
        };
        ring.top_up();
        Ok(ring)
    }

    /// Hands free buffers to the kernel until the window is full.
    pub(crate) fn top_up(&mut self) {
        let mut wrote = false;
        while self.in_ring < self.window {
            let Some(bid) = self.free.pop() else {
                break;
            };
            self.write_entry(bid);
            self.in_ring += 1;
            wrote = true;
        }
        if wrote {
            self.publish();
        }
    }

    /// A completion carried a buffer: the kernel took it from the ring.
    pub(crate) fn taken(&mut self) {
        self.in_ring = self.in_ring.saturating_sub(1);
    }

    /// A receive found the ring empty: hand over twice as many buffers from now on.
    pub(crate) fn ran_dry(&mut self) {
        let grown = self.window.saturating_mul(2).min(self.entries);
        if grown > self.window {
            tracing::debug!(window = grown, "receive buffer ring ran dry; window grows");
            self.window = grown;
        }
    }

    /// Buffers handed to the kernel at a time now.
    #[cfg(test)]
    pub(crate) fn window(&self) -> u16 {
        self.window
    }

    /// Registers the ring with `ring` under `self.bgid`.
    pub(crate) fn register(&self, ring: &IoUring) -> io::Result<()> {
        // SAFETY: the entry array lives in `self.map`, page aligned, `entries` long, and stays mapped until
        // `self` drops; the worker drops its `IoUring` (which unregisters everything) before its `BufRing`.
        unsafe {
            ring.submitter().register_buf_ring_with_flags(
                self.map.as_ptr() as u64,
                self.entries,
                self.bgid,
                0,
            )
        }
    }

    fn write_entry(&mut self, bid: u16) {
        let idx = usize::from(self.tail & (self.entries - 1));
        let addr = self.buffer_ptr(bid) as u64;
        // SAFETY: `idx < entries`, so the entry lies inside the ring part of the mapping; the kernel only
        // reads entries between its head and our published tail, and this one is at or after our tail.
        let entry = unsafe { &mut *self.map.as_ptr().cast::<BufRingEntry>().add(idx) };
        entry.set_addr(addr);
        entry.set_len(self.buf_size);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    fn publish(&self) {
        // SAFETY: the tail field overlays the `resv` of entry 0, inside the mapping, 2-byte aligned; it is
        // shared with the kernel, so it is only written through an atomic.
        let tail = unsafe {
            &*BufRingEntry::tail(self.map.as_ptr().cast::<BufRingEntry>()).cast::<AtomicU16>()
        };
        tail.store(self.tail, Ordering::Release);
    }

    fn buffer_ptr(&self, bid: u16) -> *mut u8 {
        let off = self.ring_bytes + usize::from(bid) * self.buf_size as usize;
        debug_assert!(off + self.buf_size as usize <= self.map.len());
        self.map.as_ptr().wrapping_add(off)
    }

    /// The first `len` bytes of buffer `bid`, which a completion just handed to us; writable, so that a TLS
    /// session decrypts records where they arrived.
    pub(crate) fn filled_mut(&mut self, bid: u16, len: usize) -> &mut [u8] {
        if bid >= self.entries {
            return &mut [];
        }
        let len = len.min(self.buf_size as usize);
        // SAFETY: `bid < entries`, so the buffer lies inside the mapping; the kernel wrote `len` bytes and
        // gave the buffer up with this completion, so it does not touch it again until we return it, which
        // needs `&mut self` and so ends this borrow first; `&mut self` also makes it the only borrow.
        unsafe { std::slice::from_raw_parts_mut(self.buffer_ptr(bid), len) }
    }

    /// Takes buffer `bid` back from the handler; [`BufRing::top_up`] hands it to the kernel again.
    pub(crate) fn recycle(&mut self, bid: u16) {
        if bid < self.entries && self.free.len() < usize::from(self.entries) {
            self.free.push(bid);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_sizes_and_lays_out_buffers() {
        assert!(BufRing::new(3, 64, 0).is_err());
        assert!(BufRing::new(0, 64, 0).is_err());
        let mut ring = BufRing::new(4, 100, 0).unwrap();
        assert_eq!(ring.tail, 4);
        assert!(ring.free.is_empty());
        assert_eq!(ring.filled_mut(1, 500).len(), 100);
        assert!(ring.filled_mut(4, 10).is_empty());
        assert_eq!(
            ring.buffer_ptr(1) as usize - ring.buffer_ptr(0) as usize,
            100
        );
    }

    #[test]
    fn hands_over_a_window_and_reuses_the_latest_buffer_first() {
        let mut ring = BufRing::new(1024, 64, 0).unwrap();
        assert_eq!(ring.window(), INITIAL_WINDOW);
        assert_eq!(ring.tail, INITIAL_WINDOW);
        assert_eq!(ring.in_ring, INITIAL_WINDOW);
        // The kernel takes buffers 0 and 1; the handler returns 1, then 0.
        ring.taken();
        ring.taken();
        ring.recycle(1);
        ring.recycle(0);
        ring.top_up();
        assert_eq!(ring.tail, INITIAL_WINDOW + 2);
        assert_eq!(ring.in_ring, INITIAL_WINDOW);
        // Buffer 0, returned last, went into the ring first: it is the one still in cache.
        let entry = |r: &BufRing, i: u16| {
            let idx = usize::from(i & (r.entries - 1));
            // SAFETY: `idx < entries`, so the entry lies inside the ring part of the mapping.
            unsafe { (*r.map.as_ptr().cast::<BufRingEntry>().add(idx)).bid() }
        };
        assert_eq!(entry(&ring, INITIAL_WINDOW), 0);
        assert_eq!(entry(&ring, INITIAL_WINDOW + 1), 1);
        // Running dry doubles the window, up to every buffer.
        ring.ran_dry();
        ring.top_up();
        assert_eq!(ring.in_ring, 2 * INITIAL_WINDOW);
        for _ in 0..10 {
            ring.ran_dry();
        }
        ring.top_up();
        assert_eq!(ring.window(), 1024);
        assert_eq!(ring.in_ring, 1024);
        assert!(ring.free.is_empty());
        // A small ring starts with all its buffers handed over.
        let small = BufRing::new(2, 64, 0).unwrap();
        assert_eq!((small.window(), small.in_ring), (2, 2));
    }
}
