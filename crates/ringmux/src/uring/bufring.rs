//! A provided-buffer ring (IORING_REGISTER_PBUF_RING): receive buffers the kernel picks from when a
//! multishot recv has data, so an idle connection holds no receive buffer.
//!
//! One anonymous mapping holds the ring of `io_uring_buf` entries (page aligned, as the kernel requires)
//! followed by the buffers. The application owns the tail: returning a buffer writes an entry at the tail and
//! publishes the new tail with a release store; the kernel consumes from the head.

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
}

const PAGE: usize = 4096;

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
        };
        for bid in 0..entries {
            ring.write_entry(bid);
        }
        ring.publish();
        Ok(ring)
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

    /// Gives buffer `bid` back to the kernel.
    pub(crate) fn recycle(&mut self, bid: u16) {
        if bid < self.entries {
            self.write_entry(bid);
            self.publish();
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
        assert_eq!(ring.filled_mut(1, 500).len(), 100);
        assert!(ring.filled_mut(4, 10).is_empty());
        assert_eq!(
            ring.buffer_ptr(1) as usize - ring.buffer_ptr(0) as usize,
            100
        );
    }
}
