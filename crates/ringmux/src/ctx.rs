//! Worker-local state shared by both backends, and [`Ctx`], the handler's view of it.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

use crate::Error;
use crate::conn::{CloseReason, Conn, SendError, Udp};
use crate::proxy_state::{ProxyConn, ProxyTable};
use crate::sendq::{BufPool, SendQueue};
use crate::shared::{Shared, Wake};
use crate::slab::Slab;
use crate::stats::Stats;
use crate::tls::session::TlsConn;
use crate::tls::{TlsAcceptor, TlsConnectError, TlsConnector};
use crate::wheel::{TimerId, TimerWheel};

/// Flags of a connection slot.
pub(crate) mod flag {
    /// The handler holds state for it (open was called).
    pub const OPENED: u16 = 1;
    /// Graceful close asked: closes once the send queue is written.
    pub const CLOSING: u16 = 2;
    /// Torn down and the handler told; the slot waits for in-flight I/O before it is freed.
    pub const CLOSED: u16 = 4;
    /// Listed in `Core::dirty`.
    pub const DIRTY: u16 = 8;
    /// Listed in `Core::overflowed`.
    pub const OVERFLOWED: u16 = 16;
    /// Call `Handler::writable` when the queue drains.
    pub const NOTIFY_DRAINED: u16 = 32;
    /// An outbound connect is in progress.
    pub const CONNECTING: u16 = 64;
    /// `fd` is a plain descriptor, not an io_uring direct descriptor.
    pub const RAW: u16 = 128;
    /// io_uring: a multishot recv is armed.
    pub const RECV_ARMED: u16 = 256;
    /// io_uring: a send is in flight.
    pub const SEND_INFLIGHT: u16 = 512;
    /// io_uring: the recv must be re-armed once buffers return.
    pub const REARM: u16 = 1024;
    /// Accepted from a trusted proxy: reading its PROXY protocol header (not yet opened).
    pub const PROXY_PENDING: u16 = 2048;
    /// The connection came with a PROXY protocol header (`peer` is what it named).
    pub const PROXIED: u16 = 4096;
    /// A hand-out stopped its reads ([`crate::hand_out`]).
    pub const FROZEN: u16 = 8192;
    /// A hand-out wrote its state: nothing more is sent on it until the hand-out ends.
    pub const HANDED: u16 = 16384;
}

/// [`ConnIo::listener`] of a connection no listener accepted.
pub(crate) const NO_LISTENER: u8 = u8::MAX;

/// ringmux's part of one connection slot (the handler's state sits in a parallel table).
#[derive(Debug)]
pub(crate) struct ConnIo {
    pub(crate) send: SendQueue,
    /// io_uring: the direct-descriptor index, or a raw fd when `RAW` is set. Unused by epoll.
    pub(crate) fd: i32,
    pub(crate) flags: u16,
    /// io_uring: operations in flight that still name this slot.
    pub(crate) ops: u8,
    /// Which listener accepted it ([`NO_LISTENER`] for outbound connections).
    pub(crate) listener: u8,
    /// Why it closes, once a close was asked.
    pub(crate) reason: Option<CloseReason>,
    /// The remote address (accepted: as the accept reported it; outbound: the address connected to).
    pub(crate) peer: Option<SocketAddr>,
    /// The TLS session, on connections accepted by a TLS listener and outbound ones from `Ctx::connect_tls`.
    pub(crate) tls: Option<Box<TlsConn>>,
    /// Bytes received and written on the socket (TLS: the records).
    pub(crate) bytes: [u64; 2],
}

impl ConnIo {
    pub(crate) fn new(fd: i32, flags: u16, peer: Option<SocketAddr>) -> Self {
        Self {
            send: SendQueue::default(),
            fd,
            flags,
            ops: 0,
            listener: NO_LISTENER,
            reason: None,
            peer,
            tls: None,
            bytes: [0; 2],
        }
    }

    /// Bytes queued and not yet written, plaintext waiting for a TLS handshake included.
    pub(crate) fn queued(&self) -> usize {
        self.send.len() + self.tls.as_ref().map_or(0, |t| t.waiting())
    }

    /// Queues close_notify on a TLS connection (once); `true` if the send queue grew.
    pub(crate) fn close_notify(&mut self, pool: &mut BufPool) -> bool {
        let Some(tls) = self.tls.as_deref_mut() else {
            return false;
        };
        let before = self.send.len();
        let out = self.send.pending_mut(pool);
        tls.close_notify(out);
        self.send.tidy(pool);
        self.send.len() > before
    }

    /// Drops the queued bytes at teardown. A buffer the kernel still reads (an io_uring send in flight) stays
    /// with the slot, which is freed only once that send completes, rather than going back to the pool where
    /// another connection could refill it.
    pub(crate) fn release_send(&mut self, pool: &mut BufPool) {
        if self.has(flag::SEND_INFLIGHT) {
            self.send.release_pending(pool);
        } else {
            self.send.release(pool);
        }
    }

    pub(crate) fn has(&self, f: u16) -> bool {
        self.flags & f != 0
    }
}

/// A pending close: the connection, why, and whether queued bytes are written first.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CloseOrder {
    pub(crate) conn: Conn,
    pub(crate) reason: CloseReason,
    pub(crate) graceful: bool,
}

/// Worker-local state common to both backends.
pub(crate) struct Core<M> {
    pub(crate) worker: usize,
    pub(crate) conns: Slab<ConnIo>,
    pub(crate) wheel: TimerWheel<(Conn, u64)>,
    pub(crate) epoch: Instant,
    pub(crate) tick: Duration,
    pub(crate) send_limit: usize,
    pub(crate) pool: BufPool,
    /// Connections with bytes to write this iteration.
    pub(crate) dirty: Vec<Conn>,
    pub(crate) to_close: VecDeque<CloseOrder>,
    /// Graceful closes waiting for their queue to drain, each with its deadline (in deadline order: every
    /// close waits the same [`Core::close_timeout`]).
    pub(crate) closing: VecDeque<(Instant, Conn)>,
    pub(crate) close_timeout: Duration,
    pub(crate) overflowed: Vec<Conn>,
    /// Outbound connects started, for the backend to watch.
    pub(crate) outbound: Vec<(Conn, Socket)>,
    pub(crate) udp: Vec<UdpSocket>,
    /// UDP sockets bound since the backend last looked.
    pub(crate) udp_new: Vec<Udp>,
    /// UDP sockets another process handed over, until the handler binds their addresses at start.
    pub(crate) udp_inherited: Vec<UdpSocket>,
    /// A hand-out stopped the reads of the UDP sockets ([`crate::hand_out`]).
    pub(crate) udp_frozen: bool,
    /// Rings to wake with MSG_RING (io_uring backend only).
    pub(crate) ring_wakes: Vec<RawFd>,
    pub(crate) is_ring: bool,
    pub(crate) shared: Arc<Shared<M>>,
    pub(crate) stopping: bool,
    /// The handler asked to stop accepting ([`Ctx::stop_accepting`]); the worker closes its listeners.
    pub(crate) accept_stopped: bool,
    /// The handler asked to visit every open connection ([`Ctx::visit_connections`]).
    pub(crate) visit_requested: bool,
    pub(crate) stats: Stats,
    /// Each listener's TLS settings (accepted connections run TLS with them), by listener index.
    pub(crate) tls: Vec<Option<TlsAcceptor>>,
    /// PROXY protocol settings and the connections using it.
    pub(crate) proxy: ProxyTable,
    /// Outbound TLS connections with the time their handshake must be complete by (in deadline order: every one
    /// waits the same [`Core::handshake_timeout`]).
    pub(crate) handshakes: VecDeque<(Instant, Conn)>,
    pub(crate) handshake_timeout: Duration,
    /// Why an outbound TLS connection that is closing failed, for `Handler::connect_failed`.
    pub(crate) connect_errors: HashMap<Conn, TlsConnectError>,
    /// When the loop last returned from its wait for I/O.
    pub(crate) woke_at: Instant,
    /// A hand-out of the listeners and connections to another process, when one was asked.
    pub(crate) hand_out: crate::hand_out::HandOut,
}

impl<M> Core<M> {
    /// The loop is about to wait for I/O: the time since it woke was busy.
    pub(crate) fn waiting(&mut self) {
        self.stats.busy += self.woke_at.elapsed();
    }

    /// The loop's wait for I/O returned.
    pub(crate) fn woke(&mut self) {
        self.woke_at = Instant::now();
    }

    pub(crate) fn new(
        worker: usize,
        cfg: &crate::Config,
        shared: Arc<Shared<M>>,
        is_ring: bool,
    ) -> Self {
        let (tls, proxy) = cfg
            .listeners
            .iter()
            .map(|l| (l.tls.clone(), l.proxy_protocol.clone()))
            .unzip();
        Self {
            worker,
            conns: Slab::new(),
            wheel: TimerWheel::new(cfg.wheel_buckets),
            epoch: Instant::now(),
            tick: cfg.tick.max(Duration::from_micros(100)),
            send_limit: cfg.send_queue_limit,
            pool: BufPool::default(),
            dirty: Vec::new(),
            to_close: VecDeque::new(),
            closing: VecDeque::new(),
            close_timeout: cfg.close_timeout,
            overflowed: Vec::new(),
            outbound: Vec::new(),
            udp: Vec::new(),
            udp_new: Vec::new(),
            udp_inherited: Vec::new(),
            udp_frozen: false,
            ring_wakes: Vec::new(),
            is_ring,
            shared,
            stopping: false,
            accept_stopped: false,
            visit_requested: false,
            stats: Stats::default(),
            woke_at: Instant::now(),
            hand_out: crate::hand_out::HandOut::default(),
            tls,
            proxy: ProxyTable::new(proxy),
            handshakes: VecDeque::new(),
            handshake_timeout: cfg.tls_handshake_timeout,
            connect_errors: HashMap::new(),
        }
    }

    /// The slot of a connection listener `listener` accepted, with its TLS session on a TLS listener (`None`:
    /// the session could not be made, the connection is to be shed).
    pub(crate) fn accepted_io(
        &mut self,
        fd: i32,
        peer: Option<SocketAddr>,
        listener: usize,
    ) -> Option<ConnIo> {
        let mut io = ConnIo::new(fd, 0, peer);
        io.listener = u8::try_from(listener).unwrap_or(NO_LISTENER);
        if let Some(acceptor) = self.tls.get(listener).and_then(Option::as_ref) {
            match acceptor.session() {
                Ok(s) => io.tls = Some(Box::new(s)),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot start a TLS session; connection shed");
                    return None;
                }
            }
        }
        Some(io)
    }

    /// The tick `t` falls in (rounded down).
    pub(crate) fn tick_of(&self, t: Instant) -> u64 {
        (t.saturating_duration_since(self.epoch).as_nanos() / self.tick.as_nanos()) as u64
    }

    /// When tick `tick` begins.
    pub(crate) fn instant_of(&self, tick: u64) -> Instant {
        self.epoch
            + self
                .tick
                .saturating_mul(u32::try_from(tick).unwrap_or(u32::MAX))
    }

    /// Marks `conn` as having bytes to write this iteration.
    pub(crate) fn mark_dirty(&mut self, conn: Conn) {
        if let Some(io) = self.conns.get_mut(conn.key())
            && !io.has(flag::DIRTY)
        {
            io.flags |= flag::DIRTY;
            self.dirty.push(conn);
        }
    }

    /// Queues a close of `conn` (carried out by the engine's next settle); `graceful`: write queued bytes first.
    #[inline]
    pub(crate) fn close_later(&mut self, conn: Conn, reason: CloseReason, graceful: bool) {
        self.to_close.push_back(CloseOrder {
            conn,
            reason,
            graceful,
        });
    }

    /// Aborts the graceful closes whose deadline passed by `now` with their queue still unread (a zero-window
    /// peer), counting each in [`Stats::close_aborted`]. A close that finished, or a slot reused since, is
    /// skipped: the generation in the handle no longer matches.
    pub(crate) fn expire_closing(&mut self, now: Instant) {
        while let Some(&(due, conn)) = self.closing.front() {
            if due > now {
                break;
            }
            self.closing.pop_front();
            let Some(io) = self.live(conn).filter(|io| io.has(flag::CLOSING)) else {
                continue;
            };
            let reason = io.reason.unwrap_or(CloseReason::Shutdown);
            self.stats.close_aborted += 1;
            tracing::debug!(?conn, "graceful close timed out with unread bytes; aborted");
            self.close_later(conn, reason, false);
        }
    }

    /// Fails the outbound TLS connection `conn` with `why` (reported to `Handler::connect_failed` once it is torn
    /// down); `graceful`: an alert queued for the server goes out first.
    pub(crate) fn fail_handshake(&mut self, conn: Conn, why: TlsConnectError, graceful: bool) {
        tracing::debug!(?conn, error = %why, "outbound TLS connection failed");
        self.stats.tls_failed += 1;
        self.connect_errors.insert(conn, why);
        self.close_later(conn, CloseReason::Tls, graceful);
    }

    /// Drops the outbound TLS connections whose handshake is not complete by `now`.
    pub(crate) fn expire_handshakes(&mut self, now: Instant) {
        while let Some(&(due, conn)) = self.handshakes.front() {
            if due > now {
                break;
            }
            self.handshakes.pop_front();
            let pending = self.live(conn).is_some_and(|io| {
                !io.has(flag::OPENED) && !self.connect_errors.contains_key(&conn)
            });
            if pending {
                self.fail_handshake(
                    conn,
                    TlsConnectError::Timeout(self.handshake_timeout),
                    false,
                );
            }
        }
    }

    /// Live: the handle names a connection that is not torn down.
    pub(crate) fn live(&self, conn: Conn) -> Option<&ConnIo> {
        self.conns
            .get(conn.key())
            .filter(|io| !io.has(flag::CLOSED))
    }
}

/// The handler's view of its worker: queue bytes, close, arm timers, post to other workers, open sockets.
pub struct Ctx<'a, M> {
    pub(crate) core: &'a mut Core<M>,
}

impl<M> std::fmt::Debug for Core<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("worker", &self.worker)
            .field("connections", &self.conns.len())
            .field("timers", &self.wheel.len())
            .field("stopping", &self.stopping)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl<M> std::fmt::Debug for Ctx<'_, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx").field("core", &self.core).finish()
    }
}

impl<M> Ctx<'_, M> {
    /// This worker's index.
    pub fn worker(&self) -> usize {
        self.core.worker
    }

    /// How many workers the server runs.
    pub fn workers(&self) -> usize {
        self.core.shared.mailboxes.len()
    }

    /// The current time.
    pub fn now(&self) -> Instant {
        Instant::now()
    }

    /// When the worker's loop last returned from its wait for I/O: whatever it hands over now had reached the
    /// worker by then (the time since is what the worker itself took; time in the kernel's queues before the
    /// wait returned is not in it).
    pub fn woke_at(&self) -> Instant {
        self.core.woke_at
    }

    /// `true` once graceful shutdown began.
    pub fn is_shutting_down(&self) -> bool {
        self.core.stopping
    }

    /// Stop accepting connections for good, without shutting down: the worker closes its listening sockets
    /// once the callback returns (the kernel then refuses new connections to it), and connections it still
    /// accepted meanwhile are closed unseen. Open connections are not touched. For draining a node: once every
    /// worker stopped, a load balancer's connects are refused at once.
    pub fn stop_accepting(&mut self) {
        self.core.accept_stopped = true;
    }

    /// `false` once [`stop_accepting`](Self::stop_accepting) was asked, or shutdown began.
    pub fn is_accepting(&self) -> bool {
        !(self.core.accept_stopped || self.core.stopping)
    }

    /// Visit every open connection once the current callback returns: the handler's
    /// [`visit`](crate::Handler::visit) runs for each (in slot order, until it breaks), then
    /// [`visited`](crate::Handler::visited). Asked from [`message`](crate::Handler::message) or
    /// [`worker_timer`](crate::Handler::worker_timer) (elsewhere, the visit waits for the next of those).
    pub fn visit_connections(&mut self) {
        self.core.visit_requested = true;
    }

    /// Bytes received and written on `conn`'s socket so far (on TLS connections, the records), if it is live.
    pub fn bytes(&self, conn: Conn) -> Option<(u64, u64)> {
        let c = self.core.live(conn)?;
        Some((c.bytes[0], c.bytes[1]))
    }

    /// Connections this worker holds (including ones finishing their close).
    pub fn connections(&self) -> usize {
        self.core.conns.len()
    }

    /// This worker's counters so far (the same [`Stats`] [`Server::join`](crate::Server::join) returns): a
    /// read-only view, to publish them while the server runs.
    pub fn stats(&self) -> &Stats {
        &self.core.stats
    }

    /// The remote address of `conn`: the peer an accepted connection came from (the client a PROXY protocol
    /// header named, on a connection from a trusted proxy), or the address an outbound connection was opened
    /// to. `None` once the connection is gone, or if the kernel reported an address family other than
    /// IPv4/IPv6.
    pub fn peer_addr(&self, conn: Conn) -> Option<SocketAddr> {
        self.core.live(conn)?.peer
    }

    /// The socket's own remote address: the proxy's on a connection that came with a PROXY protocol header,
    /// else the same as [`peer_addr`](Self::peer_addr).
    pub fn socket_peer_addr(&self, conn: Conn) -> Option<SocketAddr> {
        let io = self.core.live(conn)?;
        if !io.has(flag::PROXIED) {
            return io.peer;
        }
        match self.core.proxy.conns.get(&conn)? {
            ProxyConn::Done { socket_peer } => *socket_peer,
            ProxyConn::Pending { .. } => io.peer,
        }
    }

    /// `true` if `conn` came from a trusted proxy with a PROXY protocol header (which may have kept the
    /// socket's address: `LOCAL`, or addresses unknown to the proxy).
    pub fn is_proxied(&self, conn: Conn) -> bool {
        self.core.live(conn).is_some_and(|io| io.has(flag::PROXIED))
    }

    /// Which listener accepted `conn`: its index in [`Config::listeners`](crate::Config::listeners); `None` for
    /// outbound connections and closed handles.
    pub fn listener(&self, conn: Conn) -> Option<usize> {
        let io = self.core.live(conn)?;
        (io.listener != NO_LISTENER).then_some(usize::from(io.listener))
    }

    /// `true` if `conn` runs TLS (accepted on a TLS listener, or opened by [`connect_tls`](Self::connect_tls)).
    /// Its bytes are plaintext to the handler all the same.
    pub fn is_tls(&self, conn: Conn) -> bool {
        self.core.live(conn).is_some_and(|io| io.tls.is_some())
    }

    /// The TLS version a TLS connection negotiated (`None` for plain connections and before the handshake
    /// settled it).
    pub fn tls_version(&self, conn: Conn) -> Option<rustls::ProtocolVersion> {
        self.core.live(conn)?.tls.as_ref()?.version()
    }

    /// Queues `bytes` on `conn`. Writes go out at the end of the loop iteration, in order. On a TLS
    /// connection the bytes are encrypted now (or, before the handshake finished, kept until it has).
    ///
    /// When the queued total would pass the configured bound, nothing is queued, `QueueFull` is returned and
    /// [`Handler::slow_consumer`](crate::Handler::slow_consumer) decides how the connection closes.
    pub fn send(&mut self, conn: Conn, bytes: &[u8]) -> Result<(), SendError> {
        let limit = self.core.send_limit;
        let core = &mut *self.core;
        let io = core
            .conns
            .get_mut(conn.key())
            .filter(|io| !io.has(flag::CLOSED))
            .ok_or(SendError::Gone)?;
        if io.has(flag::CLOSING | flag::HANDED) {
            return Err(SendError::Closing);
        }
        if io.queued() + bytes.len() > limit {
            if !io.has(flag::OVERFLOWED) {
                io.flags |= flag::OVERFLOWED;
                core.overflowed.push(conn);
            }
            return Err(SendError::QueueFull { limit });
        }
        if bytes.is_empty() {
            return Ok(());
        }
        if let Some(tls) = io.tls.as_deref_mut() {
            let out = io.send.pending_mut(&mut core.pool);
            let sealed = tls.send(bytes, out);
            io.send.tidy(&mut core.pool);
            if let Err(e) = sealed {
                tracing::debug!(error = %e, "TLS send failed");
                core.close_later(conn, CloseReason::Tls, false);
                return Err(SendError::Closing);
            }
            if io.send.is_empty() {
                return Ok(());
            }
        } else {
            io.send.push(bytes, &mut core.pool);
        }
        if !io.has(flag::DIRTY) {
            io.flags |= flag::DIRTY;
            core.dirty.push(conn);
        }
        Ok(())
    }

    /// Bytes queued on `conn` and not yet written (`None` if it is gone).
    pub fn queued(&self, conn: Conn) -> Option<usize> {
        self.core.live(conn).map(ConnIo::queued)
    }

    /// Asks for [`Handler::writable`](crate::Handler::writable) once `conn`'s queue is fully written.
    pub fn notify_drained(&mut self, conn: Conn) {
        if let Some(io) = self.core.conns.get_mut(conn.key()) {
            io.flags |= flag::NOTIFY_DRAINED;
        }
    }

    /// Closes `conn` after its queued bytes are written. `reason` reaches
    /// [`Handler::closed`](crate::Handler::closed).
    pub fn close(&mut self, conn: Conn, reason: CloseReason) {
        if self.core.live(conn).is_some() {
            self.core.close_later(conn, reason, true);
        }
    }

    /// Closes `conn` now, dropping queued bytes.
    pub fn abort(&mut self, conn: Conn, reason: CloseReason) {
        if self.core.live(conn).is_some() {
            self.core.close_later(conn, reason, false);
        }
    }

    /// Arms a timer on `conn`: [`Handler::timer`](crate::Handler::timer) gets `token` after `after` (rounded
    /// up to the worker's tick) unless cancelled or the connection is gone by then.
    pub fn arm_timer(&mut self, conn: Conn, after: Duration, token: u64) -> TimerId {
        let core = &mut *self.core;
        let since = Instant::now().saturating_duration_since(core.epoch) + after;
        let tick = core.tick.as_nanos();
        let deadline = since.as_nanos().div_ceil(tick) as u64;
        core.wheel.insert(deadline, (conn, token))
    }

    /// Arms a timer of the worker itself, tied to no connection: [`Handler::worker_timer`](crate::Handler::worker_timer)
    /// gets `token` after `after` (rounded up to the worker's tick) unless cancelled.
    pub fn arm_worker_timer(&mut self, after: Duration, token: u64) -> TimerId {
        self.arm_timer(Conn::WORKER, after, token)
    }

    /// Disarms a timer; `true` if it had not fired yet.
    pub fn cancel_timer(&mut self, id: TimerId) -> bool {
        self.core.wheel.cancel(id).is_some()
    }

    /// Sends `msg` to worker `worker` ([`Handler::message`](crate::Handler::message) there).
    pub fn post(&mut self, worker: usize, msg: M) -> Result<(), Error> {
        let mb = self
            .core
            .shared
            .mailboxes
            .get(worker)
            .ok_or(Error::NoSuchWorker(worker))?;
        if let Wake::MsgRing(fd) = mb.post(msg, self.core.is_ring) {
            self.core.ring_wakes.push(fd);
        }
        Ok(())
    }

    /// Opens an outbound TCP connection on this worker. [`Handler::open`](crate::Handler::open) runs with
    /// [`Origin::Connected`](crate::Origin::Connected) once it connects, or
    /// [`Handler::connect_failed`](crate::Handler::connect_failed) if it does not. Bytes may be queued at once.
    pub fn connect(&mut self, addr: SocketAddr) -> Result<Conn, Error> {
        let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
            .and_then(|s| {
                s.set_nonblocking(true)?;
                s.set_tcp_nodelay(true)?;
                s.set_cloexec(true)?;
                Ok(s)
            })
            .map_err(|source| Error::Socket {
                what: "outbound tcp",
                source,
            })?;
        match sock.connect(&addr.into()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(source) => {
                return Err(Error::Socket {
                    what: "outbound tcp",
                    source,
                });
            }
        }
        let io = ConnIo::new(sock.as_raw_fd(), flag::CONNECTING | flag::RAW, Some(addr));
        let key = self.core.conns.insert(io).ok_or(Error::TableFull)?;
        let conn = Conn::from_key(key);
        self.core.outbound.push((conn, sock));
        Ok(conn)
    }

    /// Opens an outbound TLS connection on this worker: [`connect`](Self::connect), then a client handshake with
    /// `connector`'s settings, sending `server_name` as SNI and checking the server's certificate against it.
    /// [`Handler::open`](crate::Handler::open) runs with [`Origin::Connected`](crate::Origin::Connected) only once
    /// the handshake completed; bytes sent before that wait and go out encrypted. A failed connect or handshake
    /// (refused, bad certificate, wrong name, unknown CA, peer closed, not done within
    /// [`Config::tls_handshake_timeout`](crate::Config::tls_handshake_timeout)) reaches
    /// [`Handler::connect_failed`](crate::Handler::connect_failed), a handshake failure as an `io::Error`
    /// wrapping a [`TlsConnectError`].
    pub fn connect_tls(
        &mut self,
        addr: SocketAddr,
        connector: &TlsConnector,
        server_name: rustls_pki_types::ServerName<'static>,
    ) -> Result<Conn, Error> {
        let session = connector.session(server_name).map_err(Error::Tls)?;
        let conn = self.connect(addr)?;
        if let Some(io) = self.core.conns.get_mut(conn.key()) {
            io.tls = Some(Box::new(session));
        }
        let due = Instant::now() + self.core.handshake_timeout;
        self.core.handshakes.push_back((due, conn));
        Ok(conn)
    }

    /// Binds a UDP socket on this worker; datagrams arrive through
    /// [`Handler::datagram`](crate::Handler::datagram). In a server started on another process's hand-over
    /// ([`Server::start_inheriting`](crate::Server::start_inheriting)), a bind at start to an address the old
    /// worker had bound takes that socket over instead, datagrams waiting in it included.
    pub fn bind_udp(&mut self, addr: SocketAddr) -> Result<Udp, Error> {
        let inherited = self
            .core
            .udp_inherited
            .iter()
            .position(|s| s.local_addr().is_ok_and(|l| l == addr));
        let sock = match inherited {
            Some(i) => Ok(self.core.udp_inherited.swap_remove(i)),
            None => UdpSocket::bind(addr),
        };
        let sock = sock
            .and_then(|s| s.set_nonblocking(true).map(|()| s))
            .map_err(|source| Error::Socket {
                what: "udp",
                source,
            })?;
        let id = Udp(u32::try_from(self.core.udp.len()).map_err(|_| Error::TableFull)?);
        self.core.udp.push(sock);
        self.core.udp_new.push(id);
        Ok(id)
    }

    /// Asks for a receive buffer of `bytes` on a bound UDP socket (`SO_RCVBUF`: what it may hold while the worker
    /// is busy before the kernel drops datagrams) and returns the size the kernel granted, which it caps at
    /// `net.core.rmem_max` (and reports doubled, its bookkeeping included).
    pub fn set_udp_receive_buffer(&self, udp: Udp, bytes: usize) -> io::Result<usize> {
        let sock = socket2::SockRef::from(self.udp_socket(udp)?);
        sock.set_recv_buffer_size(bytes)?;
        sock.recv_buffer_size()
    }

    /// The local address of a bound UDP socket.
    pub fn udp_local_addr(&self, udp: Udp) -> io::Result<SocketAddr> {
        self.udp_socket(udp)?.local_addr()
    }

    /// Sends one datagram now (a plain non-blocking `sendto`: UDP sends never wait for the peer, so the
    /// datagram is in the kernel when this returns).
    pub fn send_to(&mut self, udp: Udp, to: SocketAddr, bytes: &[u8]) -> io::Result<usize> {
        self.udp_socket(udp)?.send_to(bytes, to)
    }

    fn udp_socket(&self, udp: Udp) -> io::Result<&UdpSocket> {
        self.core
            .udp
            .get(udp.0 as usize)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such UDP socket"))
    }
}
