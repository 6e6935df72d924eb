//! The io_uring backend: one ring per worker (SINGLE_ISSUER + DEFER_TASKRUN).
//!
//! - Accept: a few single-shot accepts in flight on each of the worker's SO_REUSEPORT listeners, each with its own
//!   address buffer (so the handler learns the peer's address), into direct descriptors (a sparse
//!   fixed-file table sized from the configuration and RLIMIT_NOFILE). A full table fails the accept with
//!   ENFILE after the kernel accepted the connection, so it is closed at once: counted as shed; the accept is
//!   re-armed.
//! - Receive: one multishot recv per connection, taking buffers from the worker's provided-buffer ring; each
//!   buffer goes back right after the handler saw its bytes. Only a window of the buffers is in the ring at a
//!   time, topped up before each submit with the buffers returned last (still in cache). ENOBUFS ends the
//!   recv with the bytes still in the socket and doubles the window; the recv is re-armed on the next loop
//!   iteration, after the batch has returned its buffers.
//! - Send: one send in flight per connection, from the connection's queue; queued bytes are submitted once
//!   per loop iteration together with everything else.
//! - Timers: one timeout op, moved with a timeout update when an earlier timer is armed, wakes the loop
//!   for the timer wheel.
//! - Messages: MSG_RING from another worker's ring; an eventfd polled by the ring for other threads.
//! - Outbound TCP and UDP sockets are plain descriptors on the same ring (connect completion and UDP
//!   readiness through poll ops; datagrams read and sent with non-blocking calls).

mod accept;
mod bufring;
mod hand_out;
mod op;
mod ringio;

use std::fs::File;
use std::io::{self, Read};
use std::net::TcpListener;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Instant;

use io_uring::{IoUring, cqueue, opcode, types};
use socket2::Socket;

use self::accept::IN_FLIGHT;
use self::bufring::BufRing;
use self::op::{Op, gen_matches, pack, pack_plain, unpack};
use self::ringio::RingIo;
use crate::conn::{CloseReason, Conn, Udp};
use crate::ctx::{Core, flag};
use crate::engine::Engine;
use crate::shared::Waker;
use crate::worker::{IoBackend, Wake, WorkerSetup};
use crate::{Config, Error, Handler};

/// Checks that this kernel and process may use io_uring the way the workers do.
pub(crate) fn probe() -> io::Result<()> {
    let ring = builder().build(8)?;
    ring.submitter().register_files_sparse(1)?;
    let br = BufRing::new(1, 64, 0)?;
    br.register(&ring)?;
    let mut p = io_uring::Probe::new();
    ring.submitter().register_probe(&mut p)?;
    for code in [
        opcode::Accept::CODE,
        opcode::RecvMulti::CODE,
        opcode::MsgRingData::CODE,
    ] {
        if !p.is_supported(code) {
            return Err(io::Error::from_raw_os_error(libc::ENOSYS));
        }
    }
    Ok(())
}

/// The user-data index of accept slot `i` of listener `listener`.
fn accept_index(listener: usize, i: usize) -> u32 {
    u32::try_from(listener * IN_FLIGHT + i).unwrap_or(u32::MAX)
}

fn builder() -> io_uring::Builder {
    let mut b = IoUring::builder();
    b.setup_single_issuer()
        .setup_defer_taskrun()
        .setup_submit_all();
    b
}

/// The io_uring half of one worker (the loop around it is [`Worker`](crate::worker::Worker)'s).
pub(crate) struct Ring {
    io: RingIo,
    bufring: BufRing,
    /// The worker's listening sockets, by listener index.
    listeners: Vec<TcpListener>,
    /// Per listener: set when it fails in a way re-arming cannot fix.
    accept_broken: Vec<bool>,
    event: File,
    event_armed: bool,
    timeout_at: Option<Instant>,
    rearm: Vec<Conn>,
    cqes: Vec<(u64, i32, u32)>,
    scratch: Vec<u8>,
    max_conns: usize,
    /// `(completions, microseconds)`: wait for that many completions for at most that long ([`Config::batch_events`]);
    /// `None`: wake on every completion.
    batch: Option<(usize, u32)>,
    /// The overall bound of a batched wait (the timer wheel has its own timeout operation; this only makes the
    /// kernel treat `batch_wait` as a minimum rather than as the whole wait).
    batch_limit: types::Timespec,
    /// Completions the last pass reaped: the next wait is batched only when it found the worker busy
    /// ([`BUSY_COMPLETIONS`]).
    last_reaped: usize,
    /// The direct-descriptor index the next connection handed over takes (they are registered before the first
    /// accept, from index 0 up).
    adopt_next: u32,
    /// A hand-out paused the accepts (the listeners are kept).
    accept_paused: bool,
    /// Descriptors a hand-out installed, not yet taken.
    installed: Vec<(Conn, io::Result<OwnedFd>)>,
}

/// Completions in one pass from which the worker counts as busy and its next wait is batched. Below it a batched
/// wait would not fill its batch: it would only add its timer's wake-up (and its delay) to every message.
const BUSY_COMPLETIONS: usize = 8;

/// Whether a worker whose last pass reaped `reaped` completions is busy: its next wait is then batched.
fn busy(reaped: usize) -> bool {
    reaped >= BUSY_COMPLETIONS
}

/// The connection in slot `slot`, if its generation matches the completion's.
#[inline]
fn conn_at<M>(core: &Core<M>, slot: u32, gen_bits: u32) -> Option<Conn> {
    let conn = Conn::from_key(core.conns.key_at(slot)?);
    gen_matches(conn, gen_bits).then_some(conn)
}

/// The overall bound of a batched wait, in seconds.
const BATCH_LIMIT_SECS: u64 = 1;

/// How a worker waits: see [`Config::batch_events`]. `None` when batching is off or the kernel lacks `min_wait`.
fn batch_of(cfg: &Config, min_wait_supported: bool) -> Option<(usize, u32)> {
    // Below the overall bound of the wait ([`BATCH_LIMIT_SECS`]), or the kernel would take it as the whole wait.
    let usec = u32::try_from(
        cfg.batch_wait
            .as_micros()
            .min(u128::from(BATCH_LIMIT_SECS * 1_000_000 - 1)),
    )
    .unwrap_or(u32::MAX);
    (min_wait_supported && cfg.batch_events > 1 && usec > 0)
        .then_some((cfg.batch_events as usize, usec))
}

crate::engine::teardown_through_io!(Ring);

impl<H: Handler> IoBackend<H> for Ring {
    fn stop_accepting(&mut self) {
        self.cancel_accepts();
        // Closed here, the sockets are gone once the cancelled accepts let go of them: the kernel refuses
        // what comes next (SO_REUSEPORT hands it to a worker still listening, if any).
        self.listeners.clear();
    }

    fn prepare(&mut self, engine: &mut Engine<H>) {
        self.arm_accepts(&engine.core);
        self.prepare_core(&mut engine.core);
    }

    /// Submits one send for every connection with queued bytes and none in flight.
    fn flush(&mut self, engine: &mut Engine<H>) {
        self.flush_core(&mut engine.core);
    }

    fn freeze(&mut self, _: &mut Core<H::Message>) {
        self.pause_accepts();
    }

    fn freeze_conn(&mut self, core: &mut Core<H::Message>, conn: Conn) {
        Ring::freeze_conn(self, core, conn);
    }

    fn quiescent(&self, core: &Core<H::Message>, conn: Conn) -> bool {
        core.conns.get(conn.key()).is_some_and(|c| c.ops == 0)
    }

    fn install(&mut self, core: &mut Core<H::Message>, conn: Conn) {
        Ring::install(self, core, conn);
    }

    fn take_installed(&mut self) -> Vec<(Conn, io::Result<OwnedFd>)> {
        std::mem::take(&mut self.installed)
    }

    fn listener_fds(&self) -> io::Result<Vec<OwnedFd>> {
        self.listeners
            .iter()
            .map(|l| l.try_clone().map(OwnedFd::from))
            .collect()
    }

    fn thaw_conn(&mut self, core: &mut Core<H::Message>, conn: Conn) {
        Ring::thaw_conn(self, core, conn);
    }

    fn resume_accepting(&mut self) {
        self.accept_paused = false;
    }

    fn adopt_fd(&mut self, core: &mut Core<H::Message>, conn: Conn, fd: OwnedFd) -> io::Result<()> {
        let index = self.adopt_next;
        if index as usize >= self.max_conns {
            return Err(io::Error::from_raw_os_error(libc::ENFILE));
        }
        let c = core
            .conns
            .get_mut(conn.key())
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOENT))?;
        // The table holds its own reference: the ordinary descriptor closes when `fd` drops.
        let n = self
            .io
            .ring
            .submitter()
            .register_files_update(index, &[fd.as_raw_fd()])?;
        if n != 1 {
            return Err(io::Error::from_raw_os_error(libc::EBADF));
        }
        self.adopt_next += 1;
        c.fd = index as i32;
        c.flags &= !flag::RAW;
        self.io.arm_recv(c, conn, self.bufring.bgid);
        Ok(())
    }

    fn wait(&mut self, engine: &mut Engine<H>, wake: Wake) -> Result<(), Error> {
        let Wake { now, at: wake_at } = wake;
        self.arm_timeout(now, wake_at);
        self.bufring.top_up();
        engine.core.waiting();
        let waited = if !self.io.submit_backlog() {
            // Entries still wait for room: reap what completed and come back without blocking.
            self.io.ring.submit()
        } else if let Some((events, usec)) = self.batch.filter(|_| busy(self.last_reaped)) {
            let args = types::SubmitArgs::new()
                .min_wait_usec(usec)
                .timespec(&self.batch_limit);
            self.io.ring.submitter().submit_with_args(events, &args)
        } else {
            self.io.ring.submit_and_wait(1)
        };
        engine.core.woke();
        match waited {
            Ok(_) => {}
            // ETIME: the batched wait's overall bound passed with nothing to do.
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EINTR | libc::EBUSY | libc::EAGAIN | libc::ETIME)
                ) => {}
            Err(e) => {
                return Err(Error::RingSetup {
                    what: "submit",
                    source: e,
                });
            }
        }
        self.reap(engine);
        Ok(())
    }
}

impl Ring {
    /// Sets up the worker's ring (sized from `cfg`), direct-descriptor table and buffer ring, and installs its
    /// mailbox waker. `listeners[i]` is listener `i`.
    pub(crate) fn new<M>(setup: WorkerSetup<'_, M>) -> Result<Self, Error> {
        let ring = builder()
            .setup_cqsize(setup.cfg.ring_entries.saturating_mul(4))
            .build(setup.cfg.ring_entries)
            .map_err(|source| Error::RingSetup {
                what: "create ring",
                source,
            })?;
        Self::on_ring(setup, ring)
    }

    /// [`new`](Self::new) around a ring already made (tests make theirs with other setup flags).
    fn on_ring<M>(setup: WorkerSetup<'_, M>, ring: IoUring) -> Result<Self, Error> {
        let (cfg, shared, worker, listeners) =
            (setup.cfg, setup.shared, setup.worker, setup.listeners);
        let setup = |what| move |source| Error::RingSetup { what, source };
        let nofile = crate::sys::nofile_limit().map_err(setup("getrlimit"))?;
        let table = u64::from(cfg.max_connections_per_worker.max(1))
            .min(nofile)
            .max(1) as u32;
        ring.submitter()
            .register_files_sparse(table)
            .map_err(setup("register file table"))?;
        let bufring = BufRing::new(cfg.buf_ring_entries, cfg.buf_size, 0)
            .map_err(setup("map buffer ring"))?;
        bufring
            .register(&ring)
            .map_err(setup("register buffer ring"))?;
        let event = crate::sys::eventfd().map_err(setup("eventfd"))?;
        let waker = Waker::Ring {
            ring_fd: ring.as_raw_fd(),
            event: event.try_clone().map_err(setup("eventfd"))?,
        };
        if let Some(mailbox) = shared.mailboxes.get(worker) {
            mailbox.set_waker(Some(waker));
        }
        let batch = batch_of(cfg, ring.params().is_feature_min_timeout());
        tracing::debug!(worker, table, ?batch, "io_uring worker ready");
        Ok(Self {
            io: RingIo::new(ring, listeners.len()),
            bufring,
            accept_broken: vec![false; listeners.len()],
            listeners,
            event,
            event_armed: false,
            timeout_at: None,
            rearm: Vec::new(),
            cqes: Vec::with_capacity(1024),
            scratch: vec![0; 65536],
            max_conns: table as usize,
            batch,
            batch_limit: types::Timespec::new().sec(BATCH_LIMIT_SECS),
            last_reaped: 0,
            adopt_next: 0,
            accept_paused: false,
            installed: Vec::new(),
        })
    }

    /// Keeps [`IN_FLIGHT`] accepts armed on every listener that still works (none once shutdown began).
    fn arm_accepts<M>(&mut self, core: &Core<M>) {
        if core.stopping || core.accept_stopped || self.accept_paused {
            return;
        }
        for (l, socket) in self.listeners.iter().enumerate() {
            if self.accept_broken.get(l).copied().unwrap_or(true) {
                continue;
            }
            let fd = types::Fd(socket.as_raw_fd());
            for i in 0..IN_FLIGHT {
                let Some(slots) = self.io.accepts.get_mut(l) else {
                    break;
                };
                if slots.is_armed(i) {
                    continue;
                }
                let Some((addr, len)) = slots.arm(i) else {
                    continue;
                };
                let sqe = opcode::Accept::new(fd, addr, len)
                    .file_index(Some(types::DestinationSlot::auto_target()))
                    .build();
                self.io
                    .push(&sqe.user_data(pack_plain(Op::Accept, accept_index(l, i))));
            }
        }
    }

    /// Arms what is not armed: the eventfd poll, recvs after ENOBUFS, outbound connects, UDP sockets, MSG_RING
    /// wake-ups.
    fn prepare_core<M>(&mut self, core: &mut Core<M>) {
        if !self.event_armed {
            let sqe = opcode::PollAdd::new(types::Fd(self.event.as_raw_fd()), libc::POLLIN as u32)
                .multi(true)
                .build();
            self.io.push(&sqe.user_data(pack_plain(Op::Event, 0)));
            self.event_armed = true;
        }
        for conn in self.rearm.drain(..) {
            if let Some(c) = core.conns.get_mut(conn.key()) {
                c.flags &= !flag::REARM;
                if !c.has(flag::CLOSED | flag::RECV_ARMED | flag::FROZEN) {
                    self.io.arm_recv(c, conn, self.bufring.bgid);
                }
            }
        }
        for (conn, sock) in std::mem::take(&mut core.outbound) {
            if let Some(c) = core.conns.get_mut(conn.key()) {
                let sqe =
                    opcode::PollAdd::new(types::Fd(sock.as_raw_fd()), libc::POLLOUT as u32).build();
                self.io.push(&sqe.user_data(pack(Op::ConnectPoll, conn)));
                c.ops += 1;
                self.io.raw.insert(conn.slot, sock);
            }
        }
        for udp in std::mem::take(&mut core.udp_new) {
            if let Some(s) = core.udp.get(udp.0 as usize) {
                let sqe = opcode::PollAdd::new(types::Fd(s.as_raw_fd()), libc::POLLIN as u32)
                    .multi(true)
                    .build();
                self.io.push(&sqe.user_data(pack_plain(Op::UdpPoll, udp.0)));
            }
        }
        for fd in std::mem::take(&mut core.ring_wakes) {
            let sqe =
                opcode::MsgRingData::new(types::Fd(fd), 0, pack_plain(Op::Mail, 0), None).build();
            self.io.push(&sqe.user_data(pack_plain(Op::MailSent, 0)));
        }
    }

    /// Submits one send for every connection with queued bytes and none in flight.
    fn flush_core<M>(&mut self, core: &mut Core<M>) {
        let dirty = std::mem::take(&mut core.dirty);
        for &conn in &dirty {
            let Some(c) = core.conns.get_mut(conn.key()) else {
                continue;
            };
            c.flags &= !flag::DIRTY;
            if c.has(flag::CLOSED | flag::CONNECTING | flag::SEND_INFLIGHT) {
                continue;
            }
            let chunk = c.send.next_chunk(&mut core.pool);
            if chunk.is_empty() {
                continue;
            }
            let (ptr, len) = (
                chunk.as_ptr(),
                u32::try_from(chunk.len()).unwrap_or(u32::MAX),
            );
            let sqe = if c.has(flag::RAW) {
                opcode::Send::new(types::Fd(c.fd), ptr, len)
                    .flags(libc::MSG_NOSIGNAL)
                    .build()
            } else {
                opcode::Send::new(types::Fixed(c.fd as u32), ptr, len)
                    .flags(libc::MSG_NOSIGNAL)
                    .build()
            };
            self.io.push(&sqe.user_data(pack(Op::Send, conn)));
            c.ops += 1;
            c.flags |= flag::SEND_INFLIGHT;
        }
        let mut dirty = dirty;
        dirty.clear();
        if core.dirty.is_empty() {
            core.dirty = dirty;
        }
    }

    /// Makes the ring's timeout operation fire by `want` (moving it earlier when needed).
    fn arm_timeout(&mut self, now: Instant, want: Option<Instant>) {
        let Some(want) = want else { return };
        if self.timeout_at.is_some_and(|at| at <= want) {
            return;
        }
        self.io.timespec = types::Timespec::from(want.saturating_duration_since(now));
        let ts: *const types::Timespec = &self.io.timespec;
        let sqe = if self.timeout_at.is_some() {
            opcode::TimeoutUpdate::new(pack_plain(Op::Timeout, 0), ts)
                .build()
                .user_data(pack_plain(Op::TimeoutUpdate, 0))
        } else {
            opcode::Timeout::new(ts)
                .build()
                .user_data(pack_plain(Op::Timeout, 0))
        };
        self.io.push(&sqe);
        self.timeout_at = Some(want);
    }

    fn reap<H: Handler>(&mut self, engine: &mut Engine<H>) {
        self.cqes.clear();
        for e in self.io.ring.completion() {
            self.cqes.push((e.user_data(), e.result(), e.flags()));
        }
        self.last_reaped = self.cqes.len();
        let cqes = std::mem::take(&mut self.cqes);
        for &(ud, res, flags) in &cqes {
            self.complete(engine, ud, res, flags);
            engine.settle(self);
        }
        self.cqes = cqes;
    }

    fn complete<H: Handler>(&mut self, engine: &mut Engine<H>, ud: u64, res: i32, flags: u32) {
        let Some((op, index, gen_bits)) = unpack(ud) else {
            return;
        };
        let more = cqueue::more(flags);
        match op {
            Op::Accept => self.on_accept(engine, index as usize, res),
            Op::Recv => self.on_recv(engine, index, gen_bits, res, flags),
            Op::Send => self.on_send(engine, index, gen_bits, res),
            Op::Close | Op::Cancel => {
                self.op_done(&mut engine.core, index, gen_bits);
            }
            Op::ConnectPoll => self.on_connect(engine, index, gen_bits, res),
            Op::Install => self.on_install(&mut engine.core, index, gen_bits, res),
            Op::Timeout => self.timeout_at = None,
            Op::TimeoutUpdate | Op::Ignore => {}
            Op::MailSent => {
                if res < 0 {
                    tracing::debug!(errno = -res, "MSG_RING failed");
                }
            }
            Op::Mail => engine.drain_mail(),
            Op::Event => {
                let mut b = [0u8; 8];
                let _ = (&self.event).read(&mut b);
                self.event_armed = more;
                engine.drain_mail();
            }
            Op::UdpPoll => self.on_udp(engine, index, more),
        }
    }

    /// A single-shot operation on slot `slot` completed: uncounts it, frees the slot if it was closed and this was
    /// its last operation. The connection, if it is still open.
    fn op_done<M>(&mut self, core: &mut Core<M>, slot: u32, gen_bits: u32) -> Option<Conn> {
        let conn = conn_at(core, slot, gen_bits)?;
        let c = core.conns.get_mut(conn.key())?;
        c.ops = c.ops.saturating_sub(1);
        if c.has(flag::CLOSED) {
            self.io.free_if_done(core, conn);
            return None;
        }
        Some(conn)
    }

    fn on_accept<H: Handler>(&mut self, engine: &mut Engine<H>, index: usize, res: i32) {
        let (listener, i) = (index / IN_FLIGHT, index % IN_FLIGHT);
        let peer = self
            .io
            .accepts
            .get_mut(listener)
            .and_then(|a| a.complete(i));
        let core = &mut engine.core;
        if res >= 0 {
            let key = (!core.stopping && !core.accept_stopped && core.conns.len() < self.max_conns)
                .then(|| core.accepted_io(res, peer, listener))
                .flatten()
                .and_then(|io| core.conns.insert(io));
            let Some(key) = key else {
                core.stats.shed += 1;
                let sqe = opcode::Close::new(types::Fixed(res as u32)).build();
                self.io.push(&sqe.user_data(pack_plain(Op::Ignore, 0)));
                return;
            };
            let conn = Conn::from_key(key);
            if let Some(c) = core.conns.get_mut(key) {
                self.io.arm_recv(c, conn, self.bufring.bgid);
            }
            engine.accepted(conn);
            return;
        }
        match -res {
            libc::ENFILE | libc::EMFILE => {
                core.stats.shed += 1;
                if core.stats.shed.is_power_of_two() {
                    tracing::warn!(
                        table = self.max_conns,
                        shed = core.stats.shed,
                        "direct-descriptor table full, shedding"
                    );
                }
            }
            libc::ECANCELED => {}
            e @ (libc::EBADF | libc::EINVAL | libc::ENOTSOCK | libc::EOPNOTSUPP) => {
                if let Some(b) = self.accept_broken.get_mut(listener) {
                    *b = true;
                }
                tracing::error!(
                    errno = e,
                    "accept failed for good; this worker accepts no more on this listener"
                );
            }
            e => tracing::warn!(errno = e, "accept failed"),
        }
    }

    fn on_recv<H: Handler>(
        &mut self,
        engine: &mut Engine<H>,
        slot: u32,
        gen_bits: u32,
        res: i32,
        flags: u32,
    ) {
        let more = cqueue::more(flags);
        let bid = cqueue::buffer_select(flags);
        if bid.is_some() {
            self.bufring.taken();
        }
        let core = &mut engine.core;
        let found = conn_at(core, slot, gen_bits)
            .and_then(|conn| Some((conn, core.conns.get_mut(conn.key())?)));
        let Some((conn, c)) = found else {
            if let Some(bid) = bid {
                self.bufring.recycle(bid);
            }
            return;
        };
        if !more {
            c.flags &= !flag::RECV_ARMED;
            c.ops = c.ops.saturating_sub(1);
        }
        let closed = c.has(flag::CLOSED);
        let mut rearm = !more && !closed && !c.has(flag::FROZEN);
        if res > 0 {
            if let Some(bid) = bid {
                engine.data(conn, self.bufring.filled_mut(bid, res as usize));
                self.bufring.recycle(bid);
            }
        } else if res == 0 {
            rearm = false;
            if !closed {
                engine.core.close_later(conn, CloseReason::PeerClosed, true);
            }
        } else {
            match -res {
                libc::ENOBUFS => {
                    engine.core.stats.enobufs += 1;
                    self.bufring.ran_dry();
                }
                libc::ECANCELED => rearm = false,
                e => {
                    rearm = false;
                    if !closed {
                        engine.core.close_later(conn, CloseReason::Io(e), false);
                    }
                }
            }
        }
        if rearm
            && let Some(c) = engine.core.conns.get_mut(conn.key())
            && !c.has(flag::REARM)
        {
            c.flags |= flag::REARM;
            self.rearm.push(conn);
        }
        self.io.free_if_done(&mut engine.core, conn);
    }

    fn on_send<H: Handler>(&mut self, engine: &mut Engine<H>, slot: u32, gen_bits: u32, res: i32) {
        let core = &mut engine.core;
        let Some(conn) = self.op_done(core, slot, gen_bits) else {
            return;
        };
        let Some(c) = core.conns.get_mut(conn.key()) else {
            return;
        };
        c.flags &= !flag::SEND_INFLIGHT;
        if res < 0 {
            core.close_later(conn, CloseReason::Io(-res), false);
            return;
        }
        c.send.advance(res as usize, &mut core.pool);
        c.bytes[1] += res as u64;
        core.stats.bytes_out += res as u64;
        if c.send.is_empty() {
            engine.drained(conn);
        } else {
            core.mark_dirty(conn);
        }
    }

    fn on_connect<H: Handler>(
        &mut self,
        engine: &mut Engine<H>,
        slot: u32,
        gen_bits: u32,
        res: i32,
    ) {
        let core = &mut engine.core;
        let Some(conn) = self.op_done(core, slot, gen_bits) else {
            return;
        };
        let Some(c) = core.conns.get_mut(conn.key()) else {
            return;
        };
        c.flags &= !flag::CONNECTING;
        let outcome = if res < 0 {
            Err(-res)
        } else {
            match self.io.raw.get(&slot).map(Socket::take_error) {
                Some(Ok(None)) => Ok(()),
                Some(Ok(Some(e)) | Err(e)) => Err(e.raw_os_error().unwrap_or(libc::EIO)),
                None => Err(libc::EBADF),
            }
        };
        match outcome {
            Ok(()) => {
                self.io.arm_recv(c, conn, self.bufring.bgid);
                engine.connected(conn);
            }
            Err(e) => core.close_later(conn, CloseReason::ConnectFailed(e), false),
        }
    }

    fn on_udp<H: Handler>(&mut self, engine: &mut Engine<H>, index: u32, more: bool) {
        let udp = Udp(index);
        engine.drain_udp(udp, &mut self.scratch);
        if !more && engine.core.udp.get(index as usize).is_some() {
            engine.core.udp_new.push(udp);
        }
    }
}

#[cfg(test)]
mod ownership_tests;
#[cfg(test)]
mod transfer_tests;

#[cfg(test)]
mod batch_tests {
    use std::time::Duration;

    use super::*;

    fn cfg(events: u32, wait: Duration) -> Config {
        Config {
            batch_events: events,
            batch_wait: wait,
            ..Config::default()
        }
    }

    #[test]
    fn only_a_busy_worker_waits_for_a_batch() {
        // A quiet worker (a pass or two per message) wakes at its first completion: a batch it would not fill
        // would only add the wait's timer wake-up.
        assert!(!busy(0));
        assert!(!busy(BUSY_COMPLETIONS - 1));
        assert!(busy(BUSY_COMPLETIONS));
        assert!(busy(64));
    }

    #[test]
    fn batching_needs_the_kernel_feature_more_than_one_event_and_a_wait() {
        let us = Duration::from_micros;
        assert_eq!(batch_of(&cfg(64, us(100)), true), Some((64, 100)));
        assert_eq!(batch_of(&cfg(64, us(100)), false), None);
        assert_eq!(batch_of(&cfg(1, us(100)), true), None);
        assert_eq!(batch_of(&cfg(0, us(100)), true), None);
        assert_eq!(batch_of(&cfg(64, Duration::ZERO), true), None);
        assert_eq!(batch_of(&cfg(64, Duration::from_nanos(999)), true), None);
        assert_eq!(
            batch_of(&cfg(2, Duration::from_secs(1 << 40)), true),
            Some((2, 999_999))
        );
    }
}
