//! Taking over another process's listeners and connections at start ([`Server::start_inheriting`]): the new
//! side of a hand-over.
//!
//! Each worker gets the listening sockets it serves, the generation of every slot of the old worker's slab, and
//! the connections that worker held, each at its old slot and generation (so that a handle the protocol layer
//! gave out before, a flow token in a SIP core's Path, names the same connection here, and a handle of a
//! connection closed before never names a new one). The worker registers each descriptor with its backend
//! (io_uring: in its direct-descriptor table, after which the ordinary descriptor is closed), and the handler
//! takes each connection on with the bytes the old process's handler wrote ([`Handler::adopt`]).
//!
//! [`Server::start_inheriting`]: crate::Server::start_inheriting
//! [`Handler::adopt`]: crate::Handler::adopt

use std::net::SocketAddr;
use std::os::fd::OwnedFd;

use crate::conn::{CloseReason, Conn};
use crate::ctx::{ConnIo, Core, NO_LISTENER, flag};
use crate::engine::Engine;
use crate::slab::Slab;
use crate::tls::session::TlsConn;
use crate::worker::IoBackend;
use crate::{Error, Handler, TlsState};

/// What one worker takes over.
#[derive(Debug, Default)]
pub struct WorkerInheritance {
    /// Its listening sockets, one per [`Config::listeners`](crate::Config::listeners) entry, in that order.
    pub listeners: Vec<OwnedFd>,
    /// Its UDP sockets: the handler's binds at start take them over by address
    /// ([`Ctx::bind_udp`](crate::Ctx::bind_udp)).
    pub udp: Vec<OwnedFd>,
    /// The generation of every slot of the old worker's slab ([`Slab::generations`]).
    pub generations: Vec<u32>,
    /// The connections it held.
    pub conns: Vec<InheritedConn>,
    /// More of them, in batches, until the sender is dropped: the worker takes each batch on (registering its
    /// descriptors, which then close here) before it serves, so that a process never holds more ordinary
    /// descriptors than a batch or two while hundreds of thousands move.
    pub more: Option<std::sync::mpsc::Receiver<Vec<InheritedConn>>>,
}

/// What a worker takes on at start: [`WorkerInheritance`] without its listeners.
#[derive(Debug)]
pub(crate) struct Adoption {
    pub(crate) conns: Vec<InheritedConn>,
    pub(crate) udp: Vec<std::net::UdpSocket>,
    pub(crate) more: Option<std::sync::mpsc::Receiver<Vec<InheritedConn>>>,
    pub(crate) generations: Vec<u32>,
}

/// One connection taken over.
#[derive(Debug)]
pub struct InheritedConn {
    /// Its handle in the old worker: slot and generation, kept here.
    pub conn: Conn,
    /// The connected socket.
    pub fd: OwnedFd,
    /// The client's address (the one a PROXY protocol header named, when it came with one).
    pub peer: Option<SocketAddr>,
    /// The listener that accepted it, by index (`None`: an outbound connection).
    pub listener: Option<usize>,
    /// Whether a PROXY protocol header named `peer`.
    pub proxied: bool,
    /// The old handler's state of it, for [`Handler::adopt`](crate::Handler::adopt).
    pub state: Vec<u8>,
    /// Bytes the old process had queued and not written: written first.
    pub unsent: Vec<u8>,
    /// A TLS connection's record state (keys, sequence numbers, unread bytes); empty without TLS.
    pub tls: TlsState,
}

/// Checks an inheritance against the server about to start: one per worker, one listener per configured
/// listener, and every worker's connections fitting its generations.
pub(crate) fn check(
    inherited: &[WorkerInheritance],
    workers: usize,
    listeners: usize,
) -> Result<(), Error> {
    let refuse = |why: String| Err(Error::Inheritance(why));
    if inherited.len() != workers {
        return refuse(format!(
            "{} workers handed over, {workers} configured",
            inherited.len()
        ));
    }
    for (w, i) in inherited.iter().enumerate() {
        if i.listeners.len() != listeners {
            return refuse(format!(
                "worker {w}: {} listeners handed over, {listeners} configured",
                i.listeners.len()
            ));
        }
        let keys = i.conns.iter().map(|c| (c.conn.key(), ()));
        if let Err(e) = Slab::restore(&i.generations, keys) {
            return refuse(format!("worker {w}: {e}"));
        }
        if let Some(c) = i
            .conns
            .iter()
            .find(|c| c.listener.is_some_and(|l| l >= listeners))
        {
            return refuse(format!(
                "worker {w}: slot {} names a listener beyond the {listeners} configured",
                c.conn.slot
            ));
        }
    }
    Ok(())
}

/// Takes an adoption's connections into `engine` and `backend`: the slab as the old worker left it, each
/// descriptor registered, each connection offered to the handler, batch by batch. A connection that does not fit
/// the slab, one the backend cannot register, one whose TLS record state is missing, unreadable or not its
/// listener's, and one the handler refuses are closed.
pub(crate) fn adopt<H: Handler, B: IoBackend<H>>(
    engine: &mut Engine<H>,
    backend: &mut B,
    adoption: Adoption,
) {
    let began = std::time::Instant::now();
    engine.core.conns = Slab::vacant(&adoption.generations);
    take_on(engine, backend, adoption.conns);
    for batch in adoption.more.into_iter().flatten() {
        take_on(engine, backend, batch);
    }
    engine.core.conns.relink();
    tracing::debug!(connections = engine.core.conns.len(), took = ?began.elapsed(), "inheritance taken on");
    engine.settle(backend);
}

/// Takes on one batch of connections.
fn take_on<H: Handler, B: IoBackend<H>>(
    engine: &mut Engine<H>,
    backend: &mut B,
    batch: Vec<InheritedConn>,
) {
    for c in batch {
        let conn = c.conn;
        // RAW with no socket until the backend registers one: a close before that tears nothing down.
        let proxied = if c.proxied { flag::PROXIED } else { 0 };
        let mut io = ConnIo::new(-1, flag::RAW | proxied, c.peer);
        io.listener = c
            .listener
            .and_then(|l| u8::try_from(l).ok())
            .unwrap_or(NO_LISTENER);
        if !c.unsent.is_empty() {
            io.send.push(&c.unsent, &mut engine.core.pool);
        }
        if let Err(e) = engine.core.conns.place(conn.key(), io) {
            tracing::warn!(error = %e, "connection handed over does not fit the slab; closed");
            continue;
        }
        match session(&engine.core, &c) {
            Ok(tls) => {
                if let Some(io) = engine.core.conns.get_mut(conn.key()) {
                    io.tls = tls;
                }
            }
            Err(why) => {
                tracing::warn!(slot = conn.slot, %why, "connection handed over is closed");
                engine.core.close_later(conn, CloseReason::Shutdown, false);
                continue;
            }
        }
        if let Err(e) = backend.adopt_fd(&mut engine.core, conn, c.fd) {
            tracing::warn!(slot = conn.slot, error = %e, "connection handed over cannot be registered; closed");
            engine
                .core
                .close_later(conn, CloseReason::Io(e.raw_os_error().unwrap_or(0)), false);
            continue;
        }
        if !engine.adopted(conn, &c.state) {
            engine.core.close_later(conn, CloseReason::Shutdown, false);
        }
    }
}

/// The TLS session a connection handed over goes on with (`None`: it has none), or why it cannot be taken on.
fn session<M>(core: &Core<M>, c: &InheritedConn) -> Result<Option<Box<TlsConn>>, String> {
    let tls_listener = c
        .listener
        .and_then(|l| core.tls.get(l))
        .is_some_and(Option::is_some);
    match (tls_listener, c.tls.is_empty()) {
        (false, true) => Ok(None),
        (true, false) => TlsConn::import(&c.tls)
            .map(|t| Some(Box::new(t)))
            .map_err(|e| e.to_string()),
        (true, true) => Err("its listener runs TLS and no record state came with it".into()),
        (false, false) => Err("a TLS record state came for a listener without TLS".into()),
    }
}
