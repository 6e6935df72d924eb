//! The per-connection send queue: bytes being written plus bytes queued behind them.
//!
//! The queue owns no memory while empty. `inflight` is the buffer a write is reading from (with io_uring the
//! kernel holds a pointer into it, so it is never touched until the write completes); new bytes go to
//! `pending`. Buffers come from and go back to a small per-worker pool.

/// Bytes waiting to be written on one connection.
#[derive(Debug, Default)]
pub(crate) struct SendQueue {
    inflight: Vec<u8>,
    written: usize,
    pending: Vec<u8>,
}

/// Per-worker recycled buffers, so a busy connection does not allocate for every message.
#[derive(Debug, Default)]
pub(crate) struct BufPool {
    free: Vec<Vec<u8>>,
}

const POOL_MAX: usize = 256;
const POOL_BUF_MAX: usize = 64 * 1024;

impl BufPool {
    pub(crate) fn take(&mut self) -> Vec<u8> {
        self.free.pop().unwrap_or_default()
    }

    pub(crate) fn give(&mut self, mut buf: Vec<u8>) {
        poison(&mut buf);
        if buf.capacity() != 0 && buf.capacity() <= POOL_BUF_MAX && self.free.len() < POOL_MAX {
            buf.clear();
            self.free.push(buf);
        }
    }
}

/// The byte debug builds write over a buffer going back to the pool.
#[cfg(any(debug_assertions, test))]
pub(crate) const POISON: u8 = 0xDB;

/// Debug builds overwrite a returned buffer's bytes with [`POISON`], so that anything still reading it (the
/// kernel, for an io_uring send that had not completed) shows that it read freed bytes.
#[inline]
fn poison(buf: &mut [u8]) {
    #[cfg(debug_assertions)]
    buf.fill(POISON);
    #[cfg(not(debug_assertions))]
    let _ = buf;
}

impl SendQueue {
    /// Bytes not yet written.
    pub(crate) fn len(&self) -> usize {
        self.inflight.len() - self.written + self.pending.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn push(&mut self, bytes: &[u8], pool: &mut BufPool) {
        if self.pending.capacity() == 0 {
            self.pending = pool.take();
        }
        self.pending.extend_from_slice(bytes);
    }

    /// The buffer new bytes are appended to (for writers that encode in place, such as TLS). Call
    /// [`tidy`](Self::tidy) afterwards so that an empty queue owns no memory.
    pub(crate) fn pending_mut(&mut self, pool: &mut BufPool) -> &mut Vec<u8> {
        if self.pending.capacity() == 0 {
            self.pending = pool.take();
        }
        &mut self.pending
    }

    /// Returns the pending buffer to the pool if nothing was appended to it.
    pub(crate) fn tidy(&mut self, pool: &mut BufPool) {
        if self.pending.is_empty() {
            pool.give(std::mem::take(&mut self.pending));
        }
    }

    /// The bytes the next write should carry (moves pending bytes up when nothing is in flight).
    pub(crate) fn next_chunk(&mut self, pool: &mut BufPool) -> &[u8] {
        if self.written >= self.inflight.len() && !self.pending.is_empty() {
            let done = std::mem::take(&mut self.inflight);
            pool.give(done);
            self.inflight = std::mem::take(&mut self.pending);
            self.written = 0;
        }
        self.inflight.get(self.written..).unwrap_or_default()
    }

    /// Records that `n` bytes of the current chunk were written; frees buffers once all is written.
    pub(crate) fn advance(&mut self, n: usize, pool: &mut BufPool) {
        self.written = (self.written + n).min(self.inflight.len());
        if self.is_empty() {
            self.release(pool);
        }
    }

    /// Drops the bytes queued behind the one being written and returns their buffer; the buffer being written
    /// stays (io_uring: the kernel may still read it) and is freed with the queue.
    pub(crate) fn release_pending(&mut self, pool: &mut BufPool) {
        pool.give(std::mem::take(&mut self.pending));
    }

    /// Takes every byte not yet written out of the queue (nothing may be in flight), returning the buffers.
    pub(crate) fn take_all(&mut self, pool: &mut BufPool) -> Vec<u8> {
        let mut out = self
            .inflight
            .get(self.written..)
            .unwrap_or_default()
            .to_vec();
        out.extend_from_slice(&self.pending);
        self.release(pool);
        out
    }

    /// Drops every queued byte and returns the buffers.
    pub(crate) fn release(&mut self, pool: &mut BufPool) {
        pool.give(std::mem::take(&mut self.inflight));
        pool.give(std::mem::take(&mut self.pending));
        self.written = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_and_frees_when_drained() {
        let mut pool = BufPool::default();
        let mut q = SendQueue::default();
        q.push(b"hello ", &mut pool);
        assert_eq!(q.next_chunk(&mut pool), b"hello ");
        q.push(b"world", &mut pool); // queued behind the in-flight chunk
        q.advance(3, &mut pool);
        assert_eq!(q.len(), 8);
        assert_eq!(q.next_chunk(&mut pool), b"lo ");
        q.advance(3, &mut pool);
        assert_eq!(q.next_chunk(&mut pool), b"world");
        q.advance(5, &mut pool);
        assert!(q.is_empty());
        assert_eq!(
            q.inflight.capacity() + q.pending.capacity(),
            0,
            "empty queue owns no memory"
        );
        assert_eq!(pool.free.len(), 2, "buffers went back to the pool");
    }

    #[test]
    fn release_pending_keeps_the_buffer_being_written() {
        let mut pool = BufPool::default();
        let mut q = SendQueue::default();
        q.push(b"in flight", &mut pool);
        let chunk = q.next_chunk(&mut pool);
        let (ptr, len) = (chunk.as_ptr(), chunk.len());
        q.push(b"queued", &mut pool);
        q.release_pending(&mut pool);
        assert_eq!(
            pool.free.len(),
            1,
            "only the queued bytes' buffer is returned"
        );
        assert_eq!(
            q.inflight.as_ptr(),
            ptr,
            "the buffer being written did not move"
        );
        assert_eq!(q.len(), len, "its bytes are still there");
        // Reusing the pool does not hand out the buffer being written.
        let mut other = pool.take();
        other.extend_from_slice(b"another connection's bytes");
        assert_ne!(other.as_ptr(), ptr);
        assert_eq!(q.inflight.as_slice(), b"in flight");
    }
}
