//! The epoll backend, on `mio`: the same handler, the same timers and queues, readiness instead of
//! completions.
//!
//! Each worker polls its own SO_REUSEPORT listeners, its connections (edge-triggered, read and write
//! interest registered once), its UDP sockets and a `mio::Waker` (an eventfd) for messages. Reads go into
//! one per-worker buffer (at most 16 reads per readiness event before other connections get a turn); queued
//! writes are flushed once per loop iteration. The connection cap (`max_connections_per_worker`, and the
//! process fd limit) is enforced by accepting and closing at once: counted as shed.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::Duration;

use mio::net::TcpStream;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};

use crate::conn::{CloseReason, Conn, Udp};
use crate::ctx::{Core, flag};
use crate::engine::{Engine, Teardown};
use crate::shared::Waker;
use crate::worker::{IoBackend, Wake, WorkerSetup};
use crate::{Error, Handler};

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

/// The epoll half of one worker (the loop around it is [`Worker`](crate::worker::Worker)'s).
pub(crate) struct Poller {
    io: PollIo,
    events: Events,
    ready: Vec<(Token, bool, bool)>,
    /// The worker's listening sockets, by listener index (emptied at shutdown).
    listeners: Vec<mio::net::TcpListener>,
    buf: Vec<u8>,
    again: Vec<Conn>,
    max_conns: usize,
    /// Descriptors a hand-out made, not yet taken.
    installed: Vec<(Conn, io::Result<OwnedFd>)>,
}

crate::engine::teardown_through_io!(Poller);

impl<H: Handler> IoBackend<H> for Poller {
    fn stop_accepting(&mut self) {
        for mut l in std::mem::take(&mut self.listeners) {
            let _ = self.io.poll.registry().deregister(&mut l);
        }
    }

    fn prepare(&mut self, engine: &mut Engine<H>) {
        self.prepare_core(&mut engine.core);
    }

    fn flush(&mut self, engine: &mut Engine<H>) {
        let dirty = std::mem::take(&mut engine.core.dirty);
        for &conn in &dirty {
            if let Some(c) = engine.core.conns.get_mut(conn.key()) {
                c.flags &= !flag::DIRTY;
            }
            self.write(engine, conn);
        }
        let mut dirty = dirty;
        dirty.clear();
        if engine.core.dirty.is_empty() {
            engine.core.dirty = dirty;
        }
    }

    fn freeze(&mut self, _: &mut Core<H::Message>) {
        for l in &mut self.listeners {
            let _ = self.io.poll.registry().deregister(l);
        }
    }

    fn freeze_conn(&mut self, core: &mut Core<H::Message>, conn: Conn) {
        if let Some(c) = core.conns.get_mut(conn.key()) {
            c.flags |= flag::FROZEN;
        }
    }

    fn quiescent(&self, _: &Core<H::Message>, _: Conn) -> bool {
        // Reads and writes are system calls made in the loop: nothing is ever in flight between passes.
        true
    }

    fn install(&mut self, _: &mut Core<H::Message>, conn: Conn) {
        let fd = match self.io.stream(conn) {
            Some(s) => s.as_fd().try_clone_to_owned(),
            None => Err(io::Error::from_raw_os_error(libc::EBADF)),
        };
        self.installed.push((conn, fd));
    }

    fn take_installed(&mut self) -> Vec<(Conn, io::Result<OwnedFd>)> {
        std::mem::take(&mut self.installed)
    }

    fn listener_fds(&self) -> io::Result<Vec<OwnedFd>> {
        self.listeners
            .iter()
            .map(|l| l.as_fd().try_clone_to_owned())
            .collect()
    }

    fn thaw_conn(&mut self, core: &mut Core<H::Message>, conn: Conn) {
        if let Some(c) = core.conns.get_mut(conn.key()) {
            c.flags &= !flag::FROZEN;
            // Edge-triggered: what arrived while it was frozen is read without waiting for more.
            self.again.push(conn);
        }
    }

    fn resume_accepting(&mut self) {
        for (i, l) in self.listeners.iter_mut().enumerate() {
            let registry = self.io.poll.registry();
            if let Err(e) = registry.register(l, listener_token(i), Interest::READABLE) {
                tracing::warn!(error = %e, listener = i, "cannot accept again after a hand-out");
            }
        }
    }

    fn adopt_fd(&mut self, core: &mut Core<H::Message>, conn: Conn, fd: OwnedFd) -> io::Result<()> {
        let stream = std::net::TcpStream::from(fd);
        stream.set_nonblocking(true)?;
        let _ = stream.set_nodelay(true);
        // Registered edge-triggered: bytes that arrived while the connection moved are reported at once.
        self.io.put(conn, TcpStream::from_std(stream))?;
        if let Some(c) = core.conns.get_mut(conn.key()) {
            c.flags &= !flag::RAW;
        }
        Ok(())
    }

    fn wait(&mut self, engine: &mut Engine<H>, wake: Wake) -> Result<(), Error> {
        let Wake { now, at: wake_at } = wake;
        let timeout = if self.again.is_empty() {
            // Round up to whole milliseconds so the wheel's tick has begun when poll returns.
            wake_at.map(|w| {
                let micros = w.saturating_duration_since(now).as_micros();
                Duration::from_millis(micros.div_ceil(1000) as u64)
            })
        } else {
            Some(Duration::ZERO)
        };
        engine.core.waiting();
        let polled = self.io.poll.poll(&mut self.events, timeout);
        engine.core.woke();
        if let Err(e) = polled
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
            self.dispatch(engine, token, readable, writable);
            engine.settle(self);
        }
        self.ready = ready;
        for conn in std::mem::take(&mut self.again) {
            self.read(engine, conn);
            engine.settle(self);
        }
        Ok(())
    }
}

impl Poller {
    /// Registers the worker's listeners (`listeners[i]` is listener `i`) and installs its mailbox waker.
    pub(crate) fn new<M>(setup: WorkerSetup<'_, M>) -> Result<Self, Error> {
        let (cfg, shared, worker, listeners) =
            (setup.cfg, setup.shared, setup.worker, setup.listeners);
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
        if let Some(mailbox) = shared.mailboxes.get(worker) {
            mailbox.set_waker(Some(Waker::Mio(waker)));
        }
        Ok(Self {
            io: PollIo {
                poll,
                streams: Vec::new(),
            },
            events: Events::with_capacity(1024),
            ready: Vec::with_capacity(1024),
            listeners: polled,
            buf: vec![0; cfg.buf_size.max(65536) as usize],
            again: Vec::new(),
            max_conns: cfg.max_connections_per_worker as usize,
            installed: Vec::new(),
        })
    }

    /// Polls the outbound connections and UDP sockets opened since the last pass.
    fn prepare_core<M>(&mut self, core: &mut Core<M>) {
        for (conn, sock) in std::mem::take(&mut core.outbound) {
            let stream = TcpStream::from_std(std::net::TcpStream::from(sock));
            if let Err(e) = self.io.put(conn, stream) {
                let errno = e.raw_os_error().unwrap_or(libc::EIO);
                core.close_later(conn, CloseReason::ConnectFailed(errno), false);
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

    fn dispatch<H: Handler>(
        &mut self,
        engine: &mut Engine<H>,
        token: Token,
        readable: bool,
        writable: bool,
    ) {
        match token {
            WAKER => engine.drain_mail(),
            Token(t) if let Some(l) = token_listener(t) => self.accept(engine, l),
            Token(t) if t & UDP_BIT != 0 => {
                self.recv_udp(engine, Udp((t & !UDP_BIT) as u32));
            }
            Token(t) => {
                let Some(key) = engine.core.conns.key_at(t as u32) else {
                    return;
                };
                let conn = Conn::from_key(key);
                if conn_token(conn) != token {
                    return;
                }
                if writable {
                    self.writable(engine, conn);
                }
                if readable {
                    self.read(engine, conn);
                }
            }
        }
    }

    fn accept<H: Handler>(&mut self, engine: &mut Engine<H>, listener: usize) {
        loop {
            let Some(l) = self.listeners.get(listener) else {
                return;
            };
            match l.accept() {
                Ok((stream, peer)) => {
                    let core = &mut engine.core;
                    if core.stopping || core.accept_stopped || core.conns.len() >= self.max_conns {
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
                    engine.accepted(conn);
                    engine.settle(self);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    if let Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM) =
                        e.raw_os_error()
                    {
                        // Out of descriptors: the connection stays in the backlog until one frees up.
                        let stats = &mut engine.core.stats;
                        stats.shed += 1;
                        if stats.shed.is_power_of_two() {
                            tracing::warn!(
                                error = %e,
                                open = engine.core.conns.len(),
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

    fn read<H: Handler>(&mut self, engine: &mut Engine<H>, conn: Conn) {
        for _ in 0..READS_PER_EVENT {
            if engine.core.live(conn).is_none_or(|c| c.has(flag::FROZEN)) {
                return;
            }
            let Some(stream) = self.io.stream(conn) else {
                return;
            };
            match (&*stream).read(&mut self.buf) {
                Ok(0) => {
                    engine.core.close_later(conn, CloseReason::PeerClosed, true);
                    return;
                }
                Ok(n) => {
                    let bytes = self.buf.get_mut(..n).unwrap_or_default();
                    engine.data(conn, bytes);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let reason = CloseReason::Io(e.raw_os_error().unwrap_or(libc::EIO));
                    engine.core.close_later(conn, reason, false);
                    return;
                }
            }
        }
        self.again.push(conn);
    }

    fn writable<H: Handler>(&mut self, engine: &mut Engine<H>, conn: Conn) {
        let Some(c) = engine.core.live(conn) else {
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
                Ok(()) => engine.connected(conn),
                Err(e) => engine
                    .core
                    .close_later(conn, CloseReason::ConnectFailed(e), false),
            }
            return;
        }
        self.write(engine, conn);
    }

    /// Writes queued bytes until the queue is empty or the socket is full.
    fn write<H: Handler>(&mut self, engine: &mut Engine<H>, conn: Conn) {
        let core = &mut engine.core;
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
                    c.bytes[1] += n as u64;
                    core.stats.bytes_out += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let reason = CloseReason::Io(e.raw_os_error().unwrap_or(libc::EIO));
                    core.close_later(conn, reason, false);
                    return;
                }
            }
        }
        engine.drained(conn);
    }

    fn recv_udp<H: Handler>(&mut self, engine: &mut Engine<H>, udp: Udp) {
        engine.drain_udp(udp, &mut self.buf);
    }
}
