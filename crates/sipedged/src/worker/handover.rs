//! A worker's part in a hand-over to a new process ([`crate::handover`]): each open WebSocket's state written
//! and read back (its session, and how the edge compresses what it sends it), the registrar shard's bindings (in
//! edge mode, the client transactions toward the core)
//! with the hand-out, and a connection let go of without the cleanup of a close (its registrations stay: the new
//! process holds the flow).
//!
//! A connection's state, format version 1 (integers big-endian): u8 version, u32 length + the session's state
//! ([`crate::session::Session::export_state`]), u8 permessage-deflate window bits toward the browser (0: none),
//! u16 bytes kept of what was last sent, u32 length + those bytes packed.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Buf;
use ringmux::{Conn, Ctx, HandOutPart};

use super::{Connection, Msg, Worker, rearm};
use crate::session::Session;

/// The version [`Worker::export_connection`] writes.
const CONNECTION_STATE_VERSION: u8 = 1;

/// What a worker hands the hand-over thread: a part of its hand-out (or why it failed), and with the first its
/// own state.
#[derive(Debug)]
pub struct Handed {
    /// The worker's index.
    pub worker: usize,
    /// The listeners and generations, a chunk of connections, or the end.
    pub part: std::io::Result<HandOutPart>,
    /// With the first part: the worker's own state ([`super::Router::hand_over_state`]: the registrar shard's
    /// bindings, or in edge mode the client transactions toward the core); empty with the other parts.
    pub worker_state: Vec<u8>,
}

/// Where a worker sends its hand-out.
pub type HandedTx = std::sync::mpsc::SyncSender<Handed>;

impl Worker {
    /// A new process's worker `index`, with the state the old process's worker handed over besides its
    /// connections ([`super::Router::hand_over_state`]).
    pub fn inheriting(shared: Arc<super::Shared>, index: usize, state: &[u8]) -> Self {
        let mut w = Self::new(shared, index);
        if !state.is_empty() {
            let now = w.policy.timestamp(std::time::Instant::now());
            if let Err(e) = w.router.adopt_hand_over_state(now, state) {
                tracing::warn!(worker = index, error = %e, "worker state handed over is unreadable; dropped");
            }
        }
        w
    }

    /// The state of `conn` for another process: `false` when it stays (a handshake, a SIP stream with the core).
    pub(super) fn export_connection(
        &mut self,
        ctx: &Ctx<'_, Msg>,
        conn: Conn,
        state: &Connection,
        out: &mut Vec<u8>,
    ) -> bool {
        let mut session = Vec::new();
        if state
            .session
            .export_state(&self.policy, ctx.now(), &mut session)
            .is_err()
            || !state.session.is_websocket()
        {
            return false;
        }
        out.push(CONNECTION_STATE_VERSION);
        put32(out, &session);
        let (bits, keep, window) = self.router.deflate_out_of(conn);
        out.push(bits);
        out.extend_from_slice(&keep.to_be_bytes());
        put32(out, window);
        true
    }

    /// Takes on `conn` from the state another process's worker wrote; `None` (closed) when it is unreadable.
    pub(super) fn adopt_connection(
        &mut self,
        ctx: &mut Ctx<'_, Msg>,
        conn: Conn,
        bytes: &[u8],
    ) -> Option<Connection> {
        let (session, bits, keep, window) = match parse(bytes) {
            Some(p) => p,
            None => {
                tracing::warn!(
                    slot = conn.slot,
                    "connection state handed over is malformed; closed"
                );
                return None;
            }
        };
        let session = match Session::import_state(&self.policy, ctx.now(), session) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(slot = conn.slot, error = %e, "connection state handed over refused; closed");
                return None;
            }
        };
        let m = &self.router.metrics;
        m.open.fetch_add(1, Ordering::Relaxed);
        m.websockets.fetch_add(1, Ordering::Relaxed);
        self.router.adopt_deflate_out(conn, bits, keep, window);
        let mut state = Connection {
            session,
            timer: None,
        };
        rearm(ctx, conn, &mut state);
        Some(state)
    }

    /// A part of the hand-out is ready: to the hand-over thread (with the first, the worker's own
    /// state). Without a thread to take it, the worker resumes.
    pub(super) fn hand_part(&mut self, ctx: &mut Ctx<'_, Msg>, part: std::io::Result<HandOutPart>) {
        let worker_state = match &part {
            Ok(HandOutPart::Start { .. }) => self
                .router
                .hand_over_state(self.policy.timestamp(ctx.now())),
            _ => Vec::new(),
        };
        let last = !matches!(part, Ok(HandOutPart::Start { .. } | HandOutPart::Conns(_)));
        let handed = Handed {
            worker: self.router.index(),
            part,
            worker_state,
        };
        let sent = self
            .handing
            .as_ref()
            .is_some_and(|tx| tx.send(handed).is_ok());
        if !sent {
            self.handing = None;
            ctx.resume();
        } else if last {
            self.handing = None;
        }
    }

    /// `conn` was handed over: its counts go, its registrations and flow stay (the new process holds them).
    pub(super) fn let_go(&mut self, conn: Conn, mut state: Connection) {
        state.session.closed(&self.policy);
        let m = &self.router.metrics;
        m.open.fetch_sub(1, Ordering::Relaxed);
        m.websockets.fetch_sub(1, Ordering::Relaxed);
        self.router.connection_closed(conn);
    }
}

fn put32(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// The parts of a connection's state: the session's bytes, and the deflate window bits, keep and packed window.
fn parse(bytes: &[u8]) -> Option<(&[u8], u8, u16, &[u8])> {
    let mut r = bytes;
    if r.try_get_u8().ok()? != CONNECTION_STATE_VERSION {
        return None;
    }
    let session = take32(&mut r)?;
    let bits = r.try_get_u8().ok()?;
    let keep = r.try_get_u16().ok()?;
    let window = take32(&mut r)?;
    (r.is_empty() && (bits == 0 || (8..=15).contains(&bits)))
        .then_some((session, bits, keep, window))
}

fn take32<'a>(r: &mut &'a [u8]) -> Option<&'a [u8]> {
    let len = r.try_get_u32().ok()? as usize;
    let (got, rest) = r.split_at_checked(len)?;
    *r = rest;
    Some(got)
}
