//! The ring and what teardown needs beside it, and how submissions get onto the ring.
//!
//! Every submission a worker makes is counted by its caller (a slot's `ops`, an armed flag) before it reaches
//! the kernel, so none may be lost: [`RingIo::push`] puts the entry on the submission queue, or, when the
//! queue is full and a submit cannot make room (the kernel refuses it for now: `EBUSY` while completions wait
//! to be reaped, `EAGAIN`, `EINTR`), on a backlog in submission order. The worker loop moves the backlog onto
//! the ring before it waits ([`RingIo::submit_backlog`]), and does not block while any of it is left.

use std::collections::{HashMap, VecDeque};
use std::net::Shutdown;

use io_uring::{IoUring, opcode, squeue, types};
use socket2::Socket;

use super::accept::AcceptSlots;
use super::op::{Op, pack};
use crate::conn::Conn;
use crate::ctx::{ConnIo, Core, flag};
use crate::engine::Teardown;

/// The ring and what teardown needs beside it. Declared first in the backend so it drops first: the kernel
/// lets go of buffers before their memory is freed.
pub(super) struct RingIo {
    pub(super) ring: IoUring,
    /// Entries the submission queue had no room for, in submission order.
    backlog: VecDeque<squeue::Entry>,
    /// Sockets behind raw-descriptor connections (outbound TCP), by slot.
    pub(super) raw: HashMap<u32, Socket>,
    pub(super) timespec: types::Timespec,
    /// Address buffers of the accepts in flight, per listener (after `ring`: dropped once the ring is gone).
    pub(super) accepts: Vec<AcceptSlots>,
}

impl RingIo {
    pub(super) fn new(ring: IoUring, listeners: usize) -> Self {
        Self {
            ring,
            backlog: VecDeque::new(),
            raw: HashMap::new(),
            timespec: types::Timespec::new(),
            accepts: (0..listeners).map(|_| AcceptSlots::default()).collect(),
        }
    }

    /// Queues `sqe` for submission. It always gets to the kernel, in order with every other entry: onto the
    /// submission queue, or (queue full and the kernel refusing a submit for now) onto the backlog.
    #[inline]
    pub(super) fn push(&mut self, sqe: &squeue::Entry) {
        if self.backlog.is_empty() && (self.try_push(sqe) || self.submit_for_room(sqe)) {
            return;
        }
        self.backlog.push_back(sqe.clone());
    }

    /// Puts `sqe` on the submission queue if there is room.
    #[inline]
    fn try_push(&mut self, sqe: &squeue::Entry) -> bool {
        // SAFETY: every entry pushed here names memory that outlives the operation.
        // - A send names the heap buffer of its connection's in-flight chunk. That buffer is neither grown nor
        //   moved while the send is in flight (new bytes go to the queue's other buffer), and it stays owned by
        //   the slot until the send's completion arrives: teardown returns only the bytes queued behind it to
        //   the pool (`ConnIo::release_send`), and the slot, buffer included, is freed only once no operation
        //   names it (`ConnIo::ops`, counted before the entry is pushed, backlogged or not). A cancel does not
        //   end the kernel's use; its completion, or the send's, does. Tested by
        //   `ownership_tests::an_aborted_connections_send_buffer_is_not_refilled_while_the_kernel_reads_it`.
        // - The timespec lives in `self` and the kernel reads it during submission.
        // - Accept address buffers are boxed in `self.accepts`, which is dropped after the ring.
        // - Everything else passes no pointer.
        unsafe { self.ring.submission().push(sqe) }.is_ok()
    }

    /// The queue is full: submits it to make room, then pushes `sqe`. `false` if the kernel refused.
    #[cold]
    fn submit_for_room(&mut self, sqe: &squeue::Entry) -> bool {
        match self.ring.submit() {
            Ok(_) => self.try_push(sqe),
            Err(e) => {
                tracing::debug!(error = %e, "io_uring submit refused while the queue was full; entry backlogged");
                false
            }
        }
    }

    /// Moves backlogged entries onto the submission queue, submitting as it fills. `true` when none is left
    /// (the usual case, at the cost of one check); `false` when the kernel refuses a submit for now, and the
    /// caller must not block waiting for completions.
    #[inline]
    pub(super) fn submit_backlog(&mut self) -> bool {
        self.backlog.is_empty() || self.drain_backlog()
    }

    #[cold]
    fn drain_backlog(&mut self) -> bool {
        while let Some(sqe) = self.backlog.front() {
            let sqe = sqe.clone();
            if self.try_push(&sqe) {
                self.backlog.pop_front();
                continue;
            }
            if let Err(e) = self.ring.submit() {
                tracing::debug!(error = %e, left = self.backlog.len(), "io_uring submit refused; backlog kept");
                return false;
            }
        }
        true
    }

    /// Entries waiting for room on the submission queue.
    #[cfg(test)]
    pub(super) fn backlogged(&self) -> usize {
        self.backlog.len()
    }

    pub(super) fn arm_recv(&mut self, c: &mut ConnIo, conn: Conn, bgid: u16) {
        let ud = pack(Op::Recv, conn);
        let sqe = if c.has(flag::RAW) {
            opcode::RecvMulti::new(types::Fd(c.fd), bgid).build()
        } else {
            opcode::RecvMulti::new(types::Fixed(c.fd as u32), bgid).build()
        };
        self.push(&sqe.user_data(ud));
        c.flags |= flag::RECV_ARMED;
        c.ops += 1;
    }

    /// Frees `conn`'s slot once it is closed and no operation names it.
    pub(super) fn free_if_done<M>(&mut self, core: &mut Core<M>, conn: Conn) {
        let done = core
            .conns
            .get(conn.key())
            .is_some_and(|c| c.has(flag::CLOSED) && c.ops == 0);
        if done {
            core.conns.remove(conn.key());
            self.raw.remove(&conn.slot);
        }
    }

    /// Pushes `sqe`, an operation on `conn` whose completion frees its slot, and counts it.
    fn push_counted(&mut self, c: &mut ConnIo, sqe: &squeue::Entry) {
        self.push(sqe);
        c.ops += 1;
    }
}

impl<M> Teardown<M> for RingIo {
    fn teardown(&mut self, core: &mut Core<M>, conn: Conn) {
        let Some(c) = core.conns.get_mut(conn.key()) else {
            return;
        };
        let cancel = |op| {
            opcode::AsyncCancel::new(pack(op, conn))
                .build()
                .user_data(pack(Op::Cancel, conn))
        };
        if c.has(flag::RECV_ARMED) {
            self.push_counted(c, &cancel(Op::Recv));
        }
        if c.has(flag::SEND_INFLIGHT) {
            // A send waiting for a peer that does not read holds the socket open: cancel it.
            self.push_counted(c, &cancel(Op::Send));
        }
        if c.has(flag::CONNECTING) {
            self.push_counted(c, &cancel(Op::ConnectPoll));
        }
        if c.has(flag::RAW) {
            if let Some(s) = self.raw.get(&conn.slot) {
                let _ = s.shutdown(Shutdown::Both);
            }
        } else {
            let sqe = opcode::Close::new(types::Fixed(c.fd as u32)).build();
            self.push_counted(c, &sqe.user_data(pack(Op::Close, conn)));
        }
        self.free_if_done(core, conn);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ring of two submission entries, as the workers build theirs.
    fn tiny() -> RingIo {
        let ring = super::super::builder()
            .setup_cqsize(8)
            .build(2)
            .expect("io_uring ring");
        RingIo::new(ring, 0)
    }

    fn nop(i: u64) -> squeue::Entry {
        opcode::Nop::new().build().user_data(i)
    }

    /// Submits what is left and reaps until `n` completions arrived; returns their user data in order.
    fn reap_all(io: &mut RingIo, n: usize) -> Vec<u64> {
        let mut seen = Vec::with_capacity(n);
        while seen.len() < n {
            assert!(io.submit_backlog(), "backlog submits on the owning thread");
            io.ring.submit_and_wait(1).expect("submit_and_wait");
            seen.extend(io.ring.completion().map(|e| e.user_data()));
        }
        seen
    }

    #[test]
    fn a_full_queue_is_submitted_to_make_room() {
        let mut io = tiny();
        for i in 0..500 {
            io.push(&nop(i));
        }
        assert_eq!(io.backlogged(), 0, "the kernel took every submit");
        let seen = reap_all(&mut io, 500);
        assert_eq!(seen, (0..500).collect::<Vec<_>>());
    }

    #[test]
    fn entries_the_kernel_refuses_wait_in_order_and_none_is_lost() {
        let mut io = tiny();
        // SINGLE_ISSUER: the first submitter owns the ring; a submit from any other thread fails (EEXIST), so
        // there the queue cannot be emptied and every push past its two entries must wait on the backlog.
        io.push(&nop(0));
        io.ring
            .submit()
            .expect("first submit makes this thread the owner");
        std::thread::scope(|s| {
            s.spawn(|| {
                for i in 1..=200 {
                    io.push(&nop(i));
                }
                assert!(!io.submit_backlog(), "another thread cannot submit");
            });
        });
        assert_eq!(io.backlogged(), 200 - 2, "two entries fit the queue");
        let seen = reap_all(&mut io, 201);
        assert_eq!(seen, (0..=200).collect::<Vec<_>>(), "all of them, in order");
        assert_eq!(io.backlogged(), 0);
    }
}
