//! The epoll backend, on `mio`: the same handler, the same timers and queues, readiness instead of
//! completions.
//!
//! Each worker polls its own SO_REUSEPORT listeners, its connections (edge-triggered, read and write
//! interest registered once), its UDP sockets and a `mio::Waker` (an eventfd) for messages. Reads go into
//! one per-worker buffer (at most 16 reads per readiness event before other connections get a turn); queued
//! writes are flushed once per loop iteration. The connection cap (`max_connections_per_worker`, and the
//! process fd limit) is enforced by accepting and closing at once: counted as shed.

use std::io::{self, Read, Write};
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};

use crate::conn::{CloseReason, Conn, Origin, Udp};
use crate::ctx::{CloseOrder, Core, flag};
use crate::engine::{Engine, Teardown};
use crate::shared::{Shared, Waker};
use crate::{Config, Error, Handler, Stats};

const WAKER: Token = Token(usize::MAX - 1);
/// Listener `l`'s token is `FIRST_LISTENER - l`.
const FIRST_LISTENER: usize = usize::MAX - 2;
const UDP_BIT: usize = 1 << 62;
const GEN_BITS: u32 = 0x3fff_ffff;
const READS_PER_EVENT: usize = 16;

fn listener_token(l: usize) -> Token {
    Token(FIRST_LISTENER - l)
}

/// The listener a token names, if it names one.
fn token_listener(t: usize) -> Option<usize> {
    let l = FIRST_LISTENER.checked_sub(t)?;
    (l < crate::MAX_LISTENERS).then_some(l)
}

fn conn_token(conn: Conn) -> Token {
    Token(((conn.generation & GEN_BITS) as usize) << 32 | conn.slot as usize)
}

struct PollIo {
    poll: Poll,
    streams: Vec<Option<TcpStream>>,
}

impl PollIo {
    fn stream(&self, conn: Conn) -> Option<&TcpStream> {
        self.streams.get(conn.slot as usize)?.as_ref()
    }

    fn put(&mut self, conn: Conn, mut stream: TcpStream) -> io::Result<()> {
        self.poll.registry().register(
            &mut stream,
            conn_token(conn),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        let slot = conn.slot as usize;
        if self.streams.len() <= slot {
            self.streams.resize_with(slot + 1, || None);
        }
        self.streams[slot] = Some(stream);
        Ok(())
    }
}

impl<M> Teardown<M> for PollIo {
    fn teardown(&mut self, core: &mut Core<M>, conn: Conn) {
        if let Some(mut s) = self
            .streams
            .get_mut(conn.slot as usize)
            .and_then(Option::take)
        {
            let _ = self.poll.registry().deregister(&mut s);
        }
        core.conns.remove(conn.key());
    }
}

/// One epoll worker.
pub(crate) struct Worker<H: Handler> {
    io: PollIo,
    engine: Engine<H>,
    events: Events,
    ready: Vec<(Token, bool, bool)>,
    /// The worker's listening sockets, by listener index (emptied at shutdown).
    listeners: Vec<mio::net::TcpListener>,
    buf: Vec<u8>,
    again: Vec<Conn>,
    max_conns: usize,
    deadline: Option<Instant>,
    aborted: bool,
}

impl<H: Handler> Worker<H> {
    pub(crate) fn new(
        cfg: &Config,
        shared: Arc<Shared<H::Message>>,
        worker: usize,
        handler: H,
        listeners: Vec<TcpListener>,
    ) -> Result<Self, Error> {
        let poll = Poll::new().map_err(Error::Poll)?;
        let waker = mio::Waker::new(poll.registry(), WAKER).map_err(Error::Poll)?;
        let mut polled = Vec::with_capacity(listeners.len());
        for (i, l) in listeners.into_iter().enumerate() {
            let mut l = mio::net::TcpListener::from_std(l);
            poll.registry()
                .register(&mut l, listener_token(i), Interest::READABLE)
                .map_err(Error::Poll)?;
            polled.push(l);
        }
        shared.mailboxes[worker].set_waker(Some(Waker::Mio(waker)));
        let core = Core::new(worker, cfg, shared, false);
        Ok(Self {
            io: PollIo {
                poll,
                streams: Vec::new(),
            },
            engine: Engine::new(handler, core),
            events: Events::with_capacity(1024),
            ready: Vec::with_capacity(1024),
            listeners: polled,
            buf: vec![0; cfg.buf_size.max(65536) as usize],
            again: Vec::new(),
            max_conns: cfg.max_connections_per_worker as usize,
            deadline: None,
            aborted: false,
        })
    }

    pub(crate) fn run(mut self) -> Result<Stats, Error> {
        self.engine.start();
        self.engine.drain_mail();
        loop {
            let now = Instant::now();
            if self.shutdown_step(now) {
                break;
            }
            self.engine.fire_timers(now);
            self.engine.settle(&mut self.io);
            self.prepare();
            self.engine.settle(&mut self.io);
            self.flush();
            self.engine.settle(&mut self.io);
            let timeout = self.timeout(now);
            if let Err(e) = self.io.poll.poll(&mut self.events, timeout)
                && e.kind() != io::ErrorKind::Interrupted
            {
                return Err(Error::Poll(e));
            }
            self.ready.clear();
            self.ready.extend(self.events.iter().map(|e| {
                (
                    e.token(),
                    e.is_readable() || e.is_read_closed() || e.is_error(),
                    e.is_writable(),
                )
            }));
            let ready = std::mem::take(&mut self.ready);
            for &(token, readable, writable) in &ready {
                self.dispatch(token, readable, writable);
                self.engine.settle(&mut self.io);
            }
            self.ready = ready;
            for conn in std::mem::take(&mut self.again) {
                self.read(conn);
                self.engine.settle(&mut self.io);
            }
        }
        let core = &self.engine.core;
        core.shared.mailboxes[core.worker].set_waker(None);
        Ok(core.stats)
    }

    fn timeout(&self, now: Instant) -> Option<Duration> {
        if !self.again.is_empty() {
            return Some(Duration::ZERO);
        }
        let mut want = self.engine.next_timer();
        if let Some(d) = self.deadline {
            want = Some(want.map_or(d, |w| w.min(d)));
        }
        // Round up to whole milliseconds so the wheel's tick has begun when poll returns.
        want.map(|w| w.saturating_duration_since(now).as_micros().div_ceil(1000) as u64)
            .map(Duration::from_millis)
    }

    fn shutdown_step(&mut self, now: Instant) -> bool {
        if self.deadline.is_none() {
            let Some(deadline) = self.engine.core.shared.shutdown_deadline() else {
                return false;
            };
            self.deadline = Some(deadline);
            for mut l in std::mem::take(&mut self.listeners) {
                let _ = self.io.poll.registry().deregister(&mut l);
            }
            self.engine.begin_shutdown();
        }
        if self.engine.core.conns.is_empty() {
            return true;
        }
        if self.deadline.is_some_and(|d| now >= d) && !self.aborted {
            self.aborted = true;
            self.engine.abort_all(CloseReason::ShutdownDeadline);
            self.engine.settle(&mut self.io);
        }
        self.engine.core.conns.is_empty()
    }

    fn prepare(&mut self) {
        let core = &mut self.engine.core;
        for (conn, sock) in std::mem::take(&mut core.outbound) {
            let stream = TcpStream::from_std(std::net::TcpStream::from(sock));
            if let Err(e) = self.io.put(conn, stream) {
                let errno = e.raw_os_error().unwrap_or(libc::EIO);
                core.to_close.push_back(CloseOrder {
                    conn,
                    reason: CloseReason::ConnectFailed(errno),
                    graceful: false,
                });
            }
        }
        for udp in std::mem::take(&mut core.udp_new) {
            if let Some(s) = core.udp.get(udp.0 as usize) {
                let fd = s.as_raw_fd();
                let token = Token(UDP_BIT | udp.0 as usize);
                if let Err(e) =
                    self.io
                        .poll
                        .registry()
                        .register(&mut SourceFd(&fd), token, Interest::READABLE)
                {
                    tracing::warn!(error = %e, "cannot poll UDP socket");
                }
            }
        }
    }

    fn dispatch(&mut self, token: Token, readable: bool, writable: bool) {
        match token {
            WAKER => self.engine.drain_mail(),
            Token(t) if let Some(l) = token_listener(t) => self.accept(l),
            Token(t) if t & UDP_BIT != 0 => {
                self.recv_udp(Udp((t & !UDP_BIT) as u32));
            }
            Token(t) => {
                let Some(key) = self.engine.core.conns.key_at(t as u32) else {
                    return;
                };
                let conn = Conn::from_key(key);
                if conn_token(conn) != token {
                    return;
                }
                if writable {
                    self.writable(conn);
                }
                if readable {
                    self.read(conn);
                }
            }
        }
    }

    fn accept(&mut self, listener: usize) {
        loop {
            let Some(l) = self.listeners.get(listener) else {
                return;
            };
            match l.accept() {
                Ok((stream, peer)) => {
                    let core = &mut self.engine.core;
                    if core.stopping || core.conns.len() >= self.max_conns {
                        core.stats.shed += 1;
                        if core.stats.shed.is_power_of_two() && !core.stopping {
                            tracing::warn!(
                                cap = self.max_conns,
                                shed = core.stats.shed,
                                "connection cap reached, shedding"
                            );
                        }
                        continue;
                    }
                    let _ = stream.set_nodelay(true);
                    let Some(io) = core.accepted_io(-1, Some(peer), listener) else {
                        core.stats.shed += 1;
                        continue;
                    };
                    let Some(key) = core.conns.insert(io) else {
                        continue;
                    };
                    let conn = Conn::from_key(key);
                    if self.io.put(conn, stream).is_err() {
                        core.conns.remove(key);
                        core.stats.shed += 1;
                        continue;
                    }
                    self.engine.accepted(conn);
                    self.engine.settle(&mut self.io);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    if let Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM) =
                        e.raw_os_error()
                    {
                        // Out of descriptors: the connection stays in the backlog until one frees up.
                        let stats = &mut self.engine.core.stats;
                        stats.shed += 1;
                        if stats.shed.is_power_of_two() {
                            tracing::warn!(
                                error = %e,
                                open = self.engine.core.conns.len(),
                                shed = stats.shed,
                                "epoll worker refuses connections: out of file descriptors"
                            );
                        }
                        return;
                    }
                }
            }
        }
    }

    fn read(&mut self, conn: Conn) {
        for _ in 0..READS_PER_EVENT {
            if self.engine.core.live(conn).is_none() {
                return;
            }
            let Some(stream) = self.io.stream(conn) else {
                return;
            };
            match (&*stream).read(&mut self.buf) {
                Ok(0) => {
                    self.close_later(conn, CloseReason::PeerClosed, true);
                    return;
                }
                Ok(n) => {
                    let bytes = self.buf.get_mut(..n).unwrap_or_default();
                    self.engine.data(conn, bytes);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.close_later(
                        conn,
                        CloseReason::Io(e.raw_os_error().unwrap_or(libc::EIO)),
                        false,
                    );
                    return;
                }
            }
        }
        self.again.push(conn);
    }

    fn writable(&mut self, conn: Conn) {
        let Some(c) = self.engine.core.live(conn) else {
            return;
        };
        if c.has(flag::CONNECTING) {
            let Some(stream) = self.io.stream(conn) else {
                return;
            };
            let outcome = match stream.take_error() {
                Ok(Some(e)) | Err(e) => Err(e.raw_os_error().unwrap_or(libc::EIO)),
                Ok(None) => match stream.peer_addr() {
                    Ok(_) => Ok(()),
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => return,
                    Err(e) => Err(e.raw_os_error().unwrap_or(libc::EIO)),
                },
            };
            match outcome {
                Ok(()) => self.engine.open(conn, Origin::Connected),
                Err(e) => self.close_later(conn, CloseReason::ConnectFailed(e), false),
            }
            return;
        }
        self.write(conn);
    }

    fn flush(&mut self) {
        let dirty = std::mem::take(&mut self.engine.core.dirty);
        for &conn in &dirty {
            if let Some(c) = self.engine.core.conns.get_mut(conn.key()) {
                c.flags &= !flag::DIRTY;
            }
            self.write(conn);
        }
        let mut dirty = dirty;
        dirty.clear();
        if self.engine.core.dirty.is_empty() {
            self.engine.core.dirty = dirty;
        }
    }

    /// Writes queued bytes until the queue is empty or the socket is full.
    fn write(&mut self, conn: Conn) {
        let core = &mut self.engine.core;
        let Some(c) = core.conns.get_mut(conn.key()) else {
            return;
        };
        if c.has(flag::CLOSED | flag::CONNECTING) || c.send.is_empty() {
            return;
        }
        let Some(stream) = self.io.stream(conn) else {
            return;
        };
        loop {
            let chunk = c.send.next_chunk(&mut core.pool);
            if chunk.is_empty() {
                break;
            }
            match (&*stream).write(chunk) {
                Ok(n) => {
                    c.send.advance(n, &mut core.pool);
                    core.stats.bytes_out += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let reason = CloseReason::Io(e.raw_os_error().unwrap_or(libc::EIO));
                    self.close_later(conn, reason, false);
                    return;
                }
            }
        }
        self.engine.drained(conn);
    }

    fn close_later(&mut self, conn: Conn, reason: CloseReason, graceful: bool) {
        self.engine.core.to_close.push_back(CloseOrder {
            conn,
            reason,
            graceful,
        });
    }

    fn recv_udp(&mut self, udp: Udp) {
        loop {
            let Some(sock) = self.engine.core.udp.get(udp.0 as usize) else {
                return;
            };
            match sock.recv_from(&mut self.buf) {
                Ok((n, from)) => {
                    let bytes = self.buf.get(..n).unwrap_or_default();
                    self.engine.datagram(udp, from, bytes);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    }
}
