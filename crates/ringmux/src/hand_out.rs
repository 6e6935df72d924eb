//! Handing a worker's listeners and connections to another process: the old side of a hand-over (the new side is
//! [`Server::start_inheriting`](crate::Server::start_inheriting)).
//!
//! The handler asks for it ([`Ctx::hand_out`]). The worker stops accepting (keeping its listening sockets) and
//! stops reading the connections it accepted, while what they queued is still written; once none has a read or
//! a write in flight (or after [`FREEZE_LIMIT`]), the handler writes each connection's state
//! ([`Handler::export`](crate::Handler::export)), each socket is made an ordinary descriptor (io_uring: installed
//! from the direct-descriptor table), and the handler gets them ([`Handler::handed_out`](crate::Handler::handed_out)):
//! first the listeners and the slab's generations, then the connections in chunks of [`CHUNK`] with the bytes
//! still queued for each, then the end ([`HandOutPart`]). A
//! connection with a write still in flight after the limit (io_uring, a peer that does not read) stays, as do
//! the ones still in a handshake (TLS, WebSocket) or a PROXY header. A TLS connection goes with its record
//! state ([`TlsState`](crate::TlsState)). From the moment a connection's state is written until the hand-out
//! ends, nothing more is sent on it ([`Ctx::send`](crate::Ctx::send) says it is closing): what is sent after
//! would be missing from the state.
//!
//! Until the handler answers, every connection stays where it was, frozen. [`Ctx::release_handed_out`] (the new
//! process holds them) lets go of the connections handed over without closing them (the handler hears
//! [`CloseReason::HandedOver`]), closes the listeners, and lets the ones not handed over (refused by the
//! handler, still in a handshake) read again, to be drained here. [`Ctx::resume`] (the new process failed) lets
//! every connection read again and accepts again, as if nothing happened.

use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use crate::conn::{CloseReason, Conn};
use crate::ctx::{Core, Ctx, NO_LISTENER, flag};
use crate::engine::Engine;
use crate::worker::IoBackend;
use crate::{Handler, InheritedConn, TlsState};

/// How long a worker waits for the reads and writes in flight to end before it hands out what is quiet.
pub const FREEZE_LIMIT: Duration = Duration::from_secs(1);
/// Connections a worker hands out at a time: the ordinary descriptors it holds at once (a process may have few,
/// 20,000 on some hosts, while it hands out hundreds of thousands).
pub const CHUNK: usize = 512;

/// One part of a hand-out, as [`Handler::handed_out`](crate::Handler::handed_out) gets it, in this order.
#[derive(Debug)]
pub enum HandOutPart {
    /// The listening sockets (in listener order), the UDP sockets and the generation of every slot of the
    /// worker's slab.
    Start {
        /// The listening sockets.
        listeners: Vec<OwnedFd>,
        /// The UDP sockets the handler bound ([`Ctx::bind_udp`](crate::Ctx::bind_udp)), in the order bound.
        udp: Vec<OwnedFd>,
        /// See [`Slab::generations`](crate::slab::Slab::generations).
        generations: Vec<u32>,
    },
    /// A chunk of at most [`CHUNK`] connections.
    Conns(Vec<InheritedConn>),
    /// Nothing more comes: the connections handed out wait for
    /// [`Ctx::release_handed_out`](crate::Ctx::release_handed_out) or [`Ctx::resume`](crate::Ctx::resume).
    End,
}

/// What the handler asked of the hand-out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ask {
    Begin,
    Release,
    Resume,
}

/// A connection being handed out, waiting for its ordinary descriptor.
#[derive(Debug)]
struct Pending {
    conn: Conn,
    state: Vec<u8>,
    unsent: Vec<u8>,
    tls: TlsState,
}

/// Where a worker's hand-out stands.
#[derive(Debug, Default)]
enum Phase {
    #[default]
    Idle,
    /// Reads stopped; waiting for the operations in flight to end.
    Freezing { until: Instant },
    /// A chunk's descriptors being installed.
    Installing(Chunk),
    /// The handler holds the package; the connections in it wait for its answer.
    Handed { conns: Vec<Conn> },
}

/// A worker's hand-out: what the handler asked and where it stands.
#[derive(Debug, Default)]
pub(crate) struct HandOut {
    asked: Option<Ask>,
    phase: Phase,
    /// When the hand-out began (for the log).
    began: Option<Instant>,
    /// The bytes taken out of send queues for the other process, kept until it holds them: a resume puts
    /// them back (on TLS they are records already sealed; the session breaks without them).
    unsent: Vec<(Conn, Vec<u8>)>,
}

impl<M> Ctx<'_, M> {
    /// Hands this worker's listeners and accepted connections out to another process (see the module
    /// [`hand_out`](crate::hand_out)): the handler gets them in [`Handler::handed_out`](crate::Handler::handed_out).
    /// Ignored while a hand-out is under way.
    pub fn hand_out(&mut self) {
        if matches!(self.core.hand_out.phase, Phase::Idle) {
            self.core.hand_out.asked = Some(Ask::Begin);
        }
    }

    /// The other process holds what was handed out: let go of those connections (without closing them) and of
    /// the listeners; the connections not handed out read again.
    pub fn release_handed_out(&mut self) {
        if matches!(self.core.hand_out.phase, Phase::Handed { .. }) {
            self.core.hand_out.asked = Some(Ask::Release);
        }
    }

    /// The hand-out failed (the other process is gone): every connection reads again and the listeners accept
    /// again. Taken at the worker's next pass, from anywhere (also from within
    /// [`Handler::handed_out`](crate::Handler::handed_out)); ignored when no hand-out is under way. Sends are
    /// taken at once: what the handler sends from now on is written once the connection is thawed.
    pub fn resume(&mut self) {
        self.core.hand_out.asked = Some(Ask::Resume);
        // Before anything sent from now on.
        restore_unsent(self.core);
        let keys: Vec<_> = self.core.conns.keys().collect();
        for key in keys {
            if let Some(io) = self.core.conns.get_mut(key) {
                io.flags &= !flag::HANDED;
            }
        }
    }
}

/// Moves the hand-out on, once per loop pass.
pub(crate) fn step<H: Handler, B: IoBackend<H>>(
    engine: &mut Engine<H>,
    backend: &mut B,
    now: Instant,
) {
    let asked = engine.core.hand_out.asked.take();
    match (asked, std::mem::take(&mut engine.core.hand_out.phase)) {
        (Some(Ask::Begin), Phase::Idle) => {
            backend.freeze(&mut engine.core);
            engine.core.udp_frozen = true;
            for conn in candidates(&engine.core) {
                backend.freeze_conn(&mut engine.core, conn);
            }
            engine.core.hand_out.phase = Phase::Freezing {
                until: now + FREEZE_LIMIT,
            };
            engine.core.hand_out.began = Some(now);
            engine.core.hand_out.unsent.clear();
            // A backend with nothing in flight hands out at once.
            step(engine, backend, now);
        }
        (Some(Ask::Release), Phase::Handed { conns }) => {
            engine.core.hand_out.unsent.clear();
            for conn in conns {
                // Closed below without reading again; the connections kept are thawed.
                if let Some(io) = engine.core.conns.get_mut(conn.key()) {
                    io.flags &= !flag::FROZEN;
                }
                engine
                    .core
                    .close_later(conn, CloseReason::HandedOver, false);
            }
            thaw_all(engine, backend);
            engine.core.accept_stopped = true;
        }
        (Some(Ask::Resume), Phase::Idle) => {}
        (Some(Ask::Resume), _) => {
            thaw_all(engine, backend);
            thaw_udp(engine);
            backend.resume_accepting();
        }
        (_, Phase::Freezing { until }) => {
            let quiet = candidates(&engine.core)
                .into_iter()
                .all(|c| backend.quiescent(&engine.core, c));
            engine.core.hand_out.phase = if quiet || now >= until {
                tracing::debug!(quiet, took = ?now.saturating_duration_since(until - FREEZE_LIMIT), "hand-out: frozen");
                export(engine, backend)
            } else {
                Phase::Freezing { until }
            };
        }
        (_, Phase::Installing(chunk)) => {
            engine.core.hand_out.phase = collect(engine, backend, chunk);
        }
        (_, Phase::Idle) => {
            // Installs that completed after a resume: their descriptors would hold the sockets open.
            drop(backend.take_installed());
        }
        (_, phase) => engine.core.hand_out.phase = phase,
    }
}

/// The open connections a listener accepted: the ones a hand-out freezes.
fn candidates<M>(core: &Core<M>) -> Vec<Conn> {
    core.conns
        .keys()
        .map(Conn::from_key)
        .filter(|&c| {
            core.live(c)
                .is_some_and(|io| io.listener != NO_LISTENER && io.has(flag::OPENED))
        })
        .collect()
}

/// The hand-out starts: the handler gets the listeners and the slab's generations, then the connections in
/// chunks.
fn export<H: Handler, B: IoBackend<H>>(engine: &mut Engine<H>, backend: &mut B) -> Phase {
    let listeners = match backend.listener_fds() {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error = %e, "cannot hand the listeners out; resuming");
            thaw_all(engine, backend);
            thaw_udp(engine);
            backend.resume_accepting();
            engine.handed_out(Err(e));
            return Phase::Idle;
        }
    };
    let udp = engine
        .core
        .udp
        .iter()
        .map(|s| s.try_clone().map(OwnedFd::from))
        .collect::<std::io::Result<Vec<_>>>();
    let udp = match udp {
        Ok(u) => u,
        Err(e) => {
            tracing::warn!(error = %e, "cannot hand the UDP sockets out; resuming");
            thaw_all(engine, backend);
            thaw_udp(engine);
            backend.resume_accepting();
            engine.handed_out(Err(e));
            return Phase::Idle;
        }
    };
    let generations = engine.core.conns.generations();
    engine.handed_out(Ok(HandOutPart::Start {
        listeners,
        udp,
        generations,
    }));
    let mut queue = candidates(&engine.core);
    queue.reverse();
    next_chunk(engine, backend, queue, Vec::new())
}

/// Writes the states of the next [`CHUNK`] quiet connections of `queue` and starts installing their
/// descriptors; with none left, the hand-out's end.
fn next_chunk<H: Handler, B: IoBackend<H>>(
    engine: &mut Engine<H>,
    backend: &mut B,
    mut queue: Vec<Conn>,
    handed: Vec<Conn>,
) -> Phase {
    if engine.core.hand_out.asked == Some(Ask::Resume) {
        // The handler resumed from within its last part: no more parts; the next pass thaws everything.
        return Phase::Handed { conns: handed };
    }
    let mut pending = Vec::new();
    while pending.len() < CHUNK {
        let Some(conn) = queue.pop() else { break };
        // A TLS session still in its handshake has no record state to carry.
        let tls = match engine.core.live(conn).map(|io| io.tls.as_deref()) {
            Some(None) => Some(TlsState::default()),
            Some(Some(session)) => session.export(),
            None => None,
        };
        let mut state = Vec::new();
        let Some(tls) = tls.filter(|_| backend.quiescent(&engine.core, conn)) else {
            continue;
        };
        if !engine.export(conn, &mut state) {
            continue;
        }
        let Some(io) = engine.core.conns.get_mut(conn.key()) else {
            continue;
        };
        let unsent = io.send.take_all(&mut engine.core.pool);
        io.flags |= flag::HANDED;
        if !unsent.is_empty() {
            engine.core.hand_out.unsent.push((conn, unsent.clone()));
        }
        backend.install(&mut engine.core, conn);
        pending.push(Pending {
            conn,
            state,
            unsent,
            tls,
        });
    }
    if pending.is_empty() {
        let took = engine.core.hand_out.began.map(|b| b.elapsed());
        tracing::debug!(
            connections = handed.len(),
            ?took,
            "hand-out: all parts given"
        );
        engine.handed_out(Ok(HandOutPart::End));
        return Phase::Handed { conns: handed };
    }
    collect(
        engine,
        backend,
        Chunk {
            queue,
            handed,
            pending,
            conns: Vec::new(),
        },
    )
}

/// A chunk of connections being handed out, and what remains.
#[derive(Debug)]
struct Chunk {
    /// Connections not yet looked at.
    queue: Vec<Conn>,
    /// Connections handed out in earlier chunks.
    handed: Vec<Conn>,
    /// This chunk's connections waiting for their descriptors.
    pending: Vec<Pending>,
    /// This chunk's connections ready.
    conns: Vec<InheritedConn>,
}

/// Takes the descriptors installed so far; once the chunk is complete, the handler gets it and the next starts.
fn collect<H: Handler, B: IoBackend<H>>(
    engine: &mut Engine<H>,
    backend: &mut B,
    mut chunk: Chunk,
) -> Phase {
    // A connection closed meanwhile (a write failed) is handed out no more.
    chunk.pending.retain(|p| engine.core.live(p.conn).is_some());
    for (conn, fd) in backend.take_installed() {
        let Some(i) = chunk.pending.iter().position(|p| p.conn == conn) else {
            continue;
        };
        let p = chunk.pending.swap_remove(i);
        match fd {
            Ok(fd) => chunk.conns.push(inherited(&engine.core, p, fd)),
            Err(e) => {
                tracing::warn!(slot = conn.slot, error = %e, "cannot hand a connection out; it stays");
                if let Some(io) = engine.core.conns.get_mut(conn.key()) {
                    io.send.push(&p.unsent, &mut engine.core.pool);
                    io.flags &= !flag::HANDED;
                }
                engine.core.hand_out.unsent.retain(|(c, _)| *c != conn);
            }
        }
    }
    if !chunk.pending.is_empty() {
        return Phase::Installing(chunk);
    }
    let Chunk {
        queue,
        mut handed,
        conns,
        ..
    } = chunk;
    handed.extend(conns.iter().map(|c| c.conn));
    if !conns.is_empty() {
        engine.handed_out(Ok(HandOutPart::Conns(conns)));
    }
    next_chunk(engine, backend, queue, handed)
}

fn inherited<M>(core: &Core<M>, p: Pending, fd: OwnedFd) -> InheritedConn {
    let io = core.conns.get(p.conn.key());
    InheritedConn {
        conn: p.conn,
        fd,
        peer: io.and_then(|io| io.peer),
        listener: io
            .map(|io| io.listener)
            .filter(|&l| l != NO_LISTENER)
            .map(usize::from),
        proxied: io.is_some_and(|io| io.has(flag::PROXIED)),
        state: p.state,
        unsent: p.unsent,
        tls: p.tls,
    }
}

/// A resumed hand-out: the bytes taken out of the send queues go back in, to be written.
fn restore_unsent<M>(core: &mut Core<M>) {
    for (conn, bytes) in std::mem::take(&mut core.hand_out.unsent) {
        let Some(io) = core
            .conns
            .get_mut(conn.key())
            .filter(|io| !io.has(flag::CLOSED))
        else {
            continue;
        };
        io.send.push(&bytes, &mut core.pool);
        if !io.has(flag::DIRTY) {
            io.flags |= flag::DIRTY;
            core.dirty.push(conn);
        }
    }
}

/// The UDP sockets are read again (a hand-out resumed; one released leaves them to the other process).
fn thaw_udp<H: Handler>(engine: &mut Engine<H>) {
    if !engine.core.udp_frozen {
        return;
    }
    engine.core.udp_frozen = false;
    // What arrived meanwhile announces itself no more: read it now.
    let mut buf = vec![0u8; 65_536];
    for i in 0..engine.core.udp.len() {
        engine.drain_udp(crate::Udp(i as u32), &mut buf);
    }
}

/// Every frozen connection reads again.
fn thaw_all<H: Handler, B: IoBackend<H>>(engine: &mut Engine<H>, backend: &mut B) {
    let frozen: Vec<Conn> = engine
        .core
        .conns
        .keys()
        .map(Conn::from_key)
        .filter(|&c| engine.core.live(c).is_some_and(|io| io.has(flag::FROZEN)))
        .collect();
    for conn in frozen {
        if let Some(io) = engine.core.conns.get_mut(conn.key()) {
            io.flags &= !flag::HANDED;
        }
        backend.thaw_conn(&mut engine.core, conn);
    }
}

impl HandOut {
    /// When the worker must look at the hand-out again without I/O: the end of the freeze.
    pub(crate) fn wake_at(&self) -> Option<Instant> {
        match self.phase {
            Phase::Freezing { until } => Some(until),
            _ => None,
        }
    }
}
