//! The backend-independent half of a worker: calling the handler and carrying out what it asked.

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use crate::Handler;
use crate::conn::{CloseReason, Conn, Origin, Udp};
use crate::ctx::{CloseOrder, Core, Ctx, flag};
use crate::proxy_header::Progress;
use crate::proxy_state::{ProxyConn, ProxyRejection};
use crate::tls::TlsConnectError;

/// What a backend does when a connection is torn down.
pub(crate) trait Teardown<M> {
    /// Stops I/O on `conn` and releases its descriptor. The backend frees the slot (now, or once its
    /// in-flight operations complete). The handler is told right after.
    fn teardown(&mut self, core: &mut Core<M>, conn: Conn);
}

/// `impl Teardown for $backend` by forwarding to its `io` field (both backends keep their I/O state there).
macro_rules! teardown_through_io {
    ($backend:ty) => {
        impl<M> $crate::engine::Teardown<M> for $backend {
            #[inline]
            fn teardown(&mut self, core: &mut $crate::ctx::Core<M>, conn: $crate::Conn) {
                self.io.teardown(core, conn);
            }
        }
    };
}
pub(crate) use teardown_through_io;

/// Handler, core state and the handler's per-connection states (indexed by slot).
pub(crate) struct Engine<H: Handler> {
    pub(crate) handler: H,
    pub(crate) core: Core<H::Message>,
    states: Vec<Option<H::State>>,
    fired: Vec<(Conn, u64)>,
    mail: Vec<H::Message>,
    /// Decrypted bytes of one TLS batch, before the handler sees them.
    plain: Vec<u8>,
}

impl<H: Handler> std::fmt::Debug for Engine<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("core", &self.core)
            .finish_non_exhaustive()
    }
}

impl<H: Handler> Engine<H> {
    pub(crate) fn new(handler: H, core: Core<H::Message>) -> Self {
        Self {
            handler,
            core,
            states: Vec::new(),
            fired: Vec::new(),
            mail: Vec::new(),
            plain: Vec::new(),
        }
    }

    fn ctx(core: &mut Core<H::Message>) -> Ctx<'_, H::Message> {
        Ctx { core }
    }

    /// Runs `f` with the handler, a context and `conn`'s state, if `conn` is live and opened.
    fn with_state<R>(
        &mut self,
        conn: Conn,
        f: impl FnOnce(&mut H, &mut Ctx<'_, H::Message>, &mut H::State) -> R,
    ) -> Option<R> {
        let io = self.core.live(conn)?;
        if !io.has(flag::OPENED) {
            return None;
        }
        let state = self.states.get_mut(conn.slot as usize)?.as_mut()?;
        Some(f(
            &mut self.handler,
            &mut Ctx {
                core: &mut self.core,
            },
            state,
        ))
    }

    pub(crate) fn start(&mut self) {
        self.handler.start(&mut Self::ctx(&mut self.core));
    }

    /// A connection is ready: the handler opens it.
    pub(crate) fn open(&mut self, conn: Conn, origin: Origin) {
        let Some(io) = self.core.conns.get_mut(conn.key()) else {
            return;
        };
        io.flags = (io.flags | flag::OPENED) & !flag::CONNECTING;
        let state = self
            .handler
            .open(&mut Self::ctx(&mut self.core), conn, origin);
        let slot = conn.slot as usize;
        if self.states.len() <= slot {
            self.states.resize_with(slot + 1, || None);
        }
        self.states[slot] = Some(state);
        if origin == Origin::Accepted {
            self.core.stats.accepted += 1;
        }
        // Bytes queued before the connect completed can go now.
        if self.core.live(conn).is_some_and(|io| !io.send.is_empty()) {
            self.core.mark_dirty(conn);
        }
    }

    /// A connection handed over by another process, registered with the backend: the handler takes it on with
    /// `state` (`true`), or refuses it (`false`, the caller closes it).
    pub(crate) fn adopted(&mut self, conn: Conn, state: &[u8]) -> bool {
        let Some(adopted) = self
            .handler
            .adopt(&mut Self::ctx(&mut self.core), conn, state)
        else {
            return false;
        };
        let Some(io) = self.core.conns.get_mut(conn.key()) else {
            return false;
        };
        io.flags |= flag::OPENED;
        let slot = conn.slot as usize;
        if self.states.len() <= slot {
            self.states.resize_with(slot + 1, || None);
        }
        self.states[slot] = Some(adopted);
        if !io.send.is_empty() {
            self.core.mark_dirty(conn);
        }
        true
    }

    /// The handler's state of `conn` for a hand-out, into `out`; `false` when it keeps the connection.
    pub(crate) fn export(&mut self, conn: Conn, out: &mut Vec<u8>) -> bool {
        self.with_state(conn, |h, ctx, st| h.export(ctx, conn, st, out))
            .unwrap_or(false)
    }

    /// A hand-out is ready: the handler takes the package.
    pub(crate) fn handed_out(&mut self, package: std::io::Result<crate::hand_out::HandOutPart>) {
        self.handler
            .handed_out(&mut Self::ctx(&mut self.core), package);
    }

    /// An outbound connect completed: the handler opens the connection, or, on a TLS connection, the client
    /// handshake starts (the handler opens it once the handshake is complete).
    pub(crate) fn connected(&mut self, conn: Conn) {
        let core = &mut self.core;
        let Some(io) = core.conns.get_mut(conn.key()) else {
            return;
        };
        let Some(tls) = io.tls.as_deref_mut() else {
            self.open(conn, Origin::Connected);
            return;
        };
        io.flags &= !flag::CONNECTING;
        let out = io.send.pending_mut(&mut core.pool);
        let started = tls.start(out);
        io.send.tidy(&mut core.pool);
        match started {
            Ok(()) => core.mark_dirty(conn),
            Err(e) => core.fail_handshake(conn, TlsConnectError::Handshake(e), false),
        }
    }

    /// A connection was accepted: the handler opens it, unless it comes from a trusted proxy, whose PROXY
    /// protocol header is read first.
    pub(crate) fn accepted(&mut self, conn: Conn) {
        let Some((peer, listener)) = self.core.live(conn).map(|io| (io.peer, io.listener)) else {
            return;
        };
        if self
            .core
            .proxy
            .expect(conn, peer, usize::from(listener), Instant::now())
        {
            if let Some(io) = self.core.conns.get_mut(conn.key()) {
                io.flags |= flag::PROXY_PENDING;
            }
            return;
        }
        self.open(conn, Origin::Accepted);
    }

    /// Bytes arrived on `conn` (the buffer is lent: a TLS session decrypts in it).
    pub(crate) fn data(&mut self, conn: Conn, bytes: &mut [u8]) {
        self.core.stats.bytes_in += bytes.len() as u64;
        if let Some(c) = self.core.conns.get_mut(conn.key()) {
            c.bytes[0] += bytes.len() as u64;
        }
        let mut bytes = bytes;
        if self
            .core
            .live(conn)
            .is_some_and(|io| io.has(flag::PROXY_PENDING))
        {
            let Some(consumed) = self.proxy_data(conn, bytes) else {
                return;
            };
            bytes = bytes.get_mut(consumed..).unwrap_or_default();
            if bytes.is_empty() {
                return;
            }
        }
        if self.core.live(conn).is_some_and(|io| io.tls.is_some()) {
            self.tls_data(conn, bytes);
        } else {
            self.with_state(conn, |h, ctx, st| h.data(ctx, conn, st, bytes));
        }
    }

    /// Feeds `conn`'s PROXY protocol header. Once it is complete the handler opens the connection with the
    /// client's address, and the header's length in `bytes` is returned (the rest is the next layer's);
    /// `None` while it is incomplete, and when it was refused (the connection is closing).
    fn proxy_data(&mut self, conn: Conn, bytes: &[u8]) -> Option<usize> {
        let Some(ProxyConn::Pending { parser, rejected }) = self.core.proxy.conns.get_mut(&conn)
        else {
            return None;
        };
        if rejected.is_some() {
            return None;
        }
        match parser.feed(bytes) {
            Ok(Progress::Incomplete) => None,
            Err(e) => {
                *rejected = Some(ProxyRejection::Invalid(e));
                tracing::debug!(error = %e, peer = ?self.core.live(conn).and_then(|io| io.peer), "PROXY protocol header refused");
                self.core.close_later(conn, CloseReason::PeerClosed, false);
                None
            }
            Ok(Progress::Done { header, consumed }) => {
                let io = self.core.conns.get_mut(conn.key())?;
                let socket_peer = io.peer;
                if let Some(source) = header.source() {
                    io.peer = Some(source);
                }
                io.flags = (io.flags & !flag::PROXY_PENDING) | flag::PROXIED;
                self.core
                    .proxy
                    .conns
                    .insert(conn, ProxyConn::Done { socket_peer });
                self.core.stats.proxy_headers += 1;
                self.open(conn, Origin::Accepted);
                self.core.live(conn).map(|_| consumed)
            }
        }
    }

    /// Runs received bytes through `conn`'s TLS session, then hands the plaintext to the handler.
    fn tls_data(&mut self, conn: Conn, bytes: &mut [u8]) {
        let mut plain = std::mem::take(&mut self.plain);
        plain.clear();
        let core = &mut self.core;
        let Some(io) = core.conns.get_mut(conn.key()) else {
            return;
        };
        let Some(tls) = io.tls.as_deref_mut() else {
            return;
        };
        let out = io.send.pending_mut(&mut core.pool);
        let outcome = tls.receive(bytes, &mut plain, out);
        let client = tls.is_client();
        let opened = io.has(flag::OPENED);
        io.send.tidy(&mut core.pool);
        let wrote = !io.send.is_empty();
        if wrote {
            core.mark_dirty(conn);
        }
        if let Some(resumed) = outcome.handshake_done {
            core.stats.tls_handshakes += 1;
            core.stats.tls_resumed += u64::from(resumed);
            if client && !opened {
                self.open(conn, Origin::Connected);
            }
        }
        if !plain.is_empty() {
            self.with_state(conn, |h, ctx, st| h.data(ctx, conn, st, &plain));
        }
        let close = match outcome.error {
            // An outbound handshake failed: the handler hears of it through `connect_failed`.
            Some(e) if client && !opened => {
                self.core
                    .fail_handshake(conn, TlsConnectError::Handshake(e), true);
                None
            }
            Some(e) => {
                self.core.stats.tls_failed += 1;
                tracing::debug!(error = %e, peer = ?self.core.live(conn).and_then(|io| io.peer), "TLS session failed");
                Some(CloseReason::Tls)
            }
            None => outcome.peer_closed.then_some(CloseReason::PeerClosed),
        };
        if let Some(reason) = close {
            self.core.close_later(conn, reason, true);
        }
        // A 16 KiB record decrypts to at most 16 KiB; keep the scratch buffer no larger than a few of them.
        if plain.capacity() > 256 * 1024 {
            plain = Vec::new();
        }
        self.plain = plain;
    }

    /// Reads every datagram waiting on `udp` (a non-blocking socket) into `buf` and hands each to the handler.
    pub(crate) fn drain_udp(&mut self, udp: Udp, buf: &mut [u8]) {
        // A hand-out leaves what arrives in the socket, for the process it goes to (or for after a resume).
        while !self.core.udp_frozen {
            let Some(sock) = self.core.udp.get(udp.0 as usize) else {
                return;
            };
            match sock.recv_from(buf) {
                Ok((n, from)) => {
                    let bytes = buf.get(..n).unwrap_or_default();
                    self.datagram(udp, from, bytes);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    }

    pub(crate) fn datagram(&mut self, udp: Udp, from: SocketAddr, bytes: &[u8]) {
        self.handler
            .datagram(&mut Self::ctx(&mut self.core), udp, from, bytes);
    }

    /// `conn`'s send queue is fully written.
    pub(crate) fn drained(&mut self, conn: Conn) {
        let Some(io) = self.core.conns.get_mut(conn.key()) else {
            return;
        };
        if io.has(flag::CLOSED) {
            return;
        }
        if io.has(flag::CLOSING) {
            let reason = io.reason.unwrap_or(CloseReason::Shutdown);
            self.core.close_later(conn, reason, false);
        } else if io.has(flag::NOTIFY_DRAINED) {
            io.flags &= !flag::NOTIFY_DRAINED;
            self.with_state(conn, |h, ctx, st| h.writable(ctx, conn, st));
        }
    }

    /// Fires every timer due by `now` (and closes connections whose PROXY protocol header is overdue).
    pub(crate) fn fire_timers(&mut self, now: Instant) {
        let to_close = &mut self.core.to_close;
        self.core.proxy.expire(now, |conn| {
            to_close.push_back(CloseOrder {
                conn,
                reason: CloseReason::PeerClosed,
                graceful: false,
            });
        });
        self.core.expire_closing(now);
        self.core.expire_handshakes(now);
        let tick = self.core.tick_of(now);
        let fired = &mut self.fired;
        self.core.wheel.advance(tick, |_, v| fired.push(v));
        let mut fired = std::mem::take(&mut self.fired);
        for (conn, token) in fired.drain(..) {
            self.core.stats.timers_fired += 1;
            if conn == Conn::WORKER {
                let ctx = &mut Self::ctx(&mut self.core);
                self.handler.worker_timer(ctx, token);
                self.visit_if_asked();
                continue;
            }
            self.with_state(conn, |h, ctx, st| h.timer(ctx, conn, st, token));
        }
        self.fired = fired;
    }

    /// When the next timer may be due.
    pub(crate) fn next_timer(&self) -> Option<Instant> {
        let wheel = self
            .core
            .wheel
            .next_expiry()
            .map(|t| self.core.instant_of(t));
        [
            wheel,
            self.core.proxy.next_deadline(),
            self.core.closing.front().map(|&(due, _)| due),
            self.core.handshakes.front().map(|&(due, _)| due),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Delivers the messages posted to this worker.
    pub(crate) fn drain_mail(&mut self) {
        let shared = self.core.shared.clone();
        let Some(mb) = shared.mailboxes.get(self.core.worker) else {
            return;
        };
        mb.drain_into(&mut self.mail);
        let mut mail = std::mem::take(&mut self.mail);
        for msg in mail.drain(..) {
            self.core.stats.messages += 1;
            self.handler.message(&mut Self::ctx(&mut self.core), msg);
            self.visit_if_asked();
        }
        self.mail = mail;
    }

    /// The visit the handler asked for ([`Ctx::visit_connections`]): every open connection, then `visited`.
    fn visit_if_asked(&mut self) {
        if !std::mem::take(&mut self.core.visit_requested) {
            return;
        }
        let keys: Vec<_> = self.core.conns.keys().map(Conn::from_key).collect();
        for conn in keys {
            let flow = self.with_state(conn, |h, ctx, st| h.visit(ctx, conn, st));
            if flow == Some(std::ops::ControlFlow::Break(())) {
                break;
            }
        }
        self.handler.visited(&mut Self::ctx(&mut self.core));
        // A visit asked from inside the visit waits for the next message or worker timer.
    }

    /// Graceful shutdown begins: every open connection hears about it.
    pub(crate) fn begin_shutdown(&mut self) {
        self.core.stopping = true;
        let keys: Vec<_> = self.core.conns.keys().map(Conn::from_key).collect();
        for conn in keys {
            let opened = self.core.live(conn).map(|io| io.has(flag::OPENED));
            match opened {
                Some(true) => {
                    self.with_state(conn, |h, ctx, st| h.shutdown(ctx, conn, st));
                }
                Some(false) => self.core.close_later(conn, CloseReason::Shutdown, false),
                None => {}
            }
        }
    }

    /// Aborts every live connection (shutdown deadline).
    pub(crate) fn abort_all(&mut self, reason: CloseReason) {
        let keys: Vec<_> = self.core.conns.keys().map(Conn::from_key).collect();
        for conn in keys {
            if self.core.live(conn).is_some() {
                self.core.stats.aborted_at_deadline += 1;
                self.core.close_later(conn, reason, false);
            }
        }
    }

    /// Carries out slow-consumer decisions and closes until nothing is left to do.
    pub(crate) fn settle(&mut self, io: &mut impl Teardown<H::Message>) {
        loop {
            if let Some(conn) = self.core.overflowed.pop() {
                let reason = self.with_state(conn, |h, ctx, st| h.slow_consumer(ctx, conn, st));
                if let Some(reason) = reason {
                    self.core.stats.slow_consumers += 1;
                    self.core.close_later(conn, reason, false);
                }
                continue;
            }
            let Some(order) = self.core.to_close.pop_front() else {
                break;
            };
            let conn = order.conn;
            let Some(c) = self.core.conns.get_mut(conn.key()) else {
                continue;
            };
            if c.has(flag::CLOSED) {
                continue;
            }
            // A connection handed out says nothing more: its TLS session goes on in the other process.
            if order.graceful
                && !c.has(flag::HANDED)
                && !matches!(
                    order.reason,
                    CloseReason::PeerClosed | CloseReason::Io(_) | CloseReason::Tls
                )
                && c.close_notify(&mut self.core.pool)
                && !c.has(flag::DIRTY)
            {
                c.flags |= flag::DIRTY;
                self.core.dirty.push(conn);
            }
            if order.graceful && !c.send.is_empty() {
                if !c.has(flag::CLOSING) {
                    let due = Instant::now() + self.core.close_timeout;
                    self.core.closing.push_back((due, conn));
                }
                c.flags |= flag::CLOSING;
                c.reason.get_or_insert(order.reason);
                continue;
            }
            let opened = c.has(flag::OPENED);
            let socket_peer = c.peer;
            let tls_client = c.tls.as_ref().is_some_and(|t| t.is_client());
            c.flags |= flag::CLOSED;
            c.release_send(&mut self.core.pool);
            io.teardown(&mut self.core, conn);
            self.core.stats.closed += 1;
            let proxy = self.core.proxy.conns.remove(&conn);
            let tls_error = self.core.connect_errors.remove(&conn);
            let state = self
                .states
                .get_mut(conn.slot as usize)
                .and_then(Option::take);
            match (opened, state, proxy) {
                (true, Some(state), _) => {
                    let ctx = &mut Self::ctx(&mut self.core);
                    self.handler.closed(ctx, conn, state, order.reason);
                }
                (_, _, Some(ProxyConn::Pending { rejected, .. })) => {
                    if matches!(
                        order.reason,
                        CloseReason::Shutdown | CloseReason::ShutdownDeadline
                    ) {
                        continue;
                    }
                    self.core.stats.proxy_rejected += 1;
                    let why = rejected.unwrap_or(ProxyRejection::Closed);
                    let ctx = &mut Self::ctx(&mut self.core);
                    self.handler.proxy_rejected(ctx, socket_peer, why);
                }
                _ => {
                    let error = connect_error(order.reason, tls_error, tls_client);
                    let ctx = &mut Self::ctx(&mut self.core);
                    self.handler.connect_failed(ctx, conn, error);
                }
            }
        }
    }
}

/// What `Handler::connect_failed` hears of an outbound connection that closed before it opened: the TLS failure
/// if there was one, a TLS connection's server gone mid-handshake, else the socket's errno (`ECANCELED` when
/// the worker itself dropped it, at shutdown).
fn connect_error(
    reason: CloseReason,
    tls_error: Option<TlsConnectError>,
    tls_client: bool,
) -> io::Error {
    match (tls_error, reason) {
        (Some(e), _) => e.into_io(),
        (None, CloseReason::ConnectFailed(e) | CloseReason::Io(e)) => {
            io::Error::from_raw_os_error(e)
        }
        (None, CloseReason::PeerClosed) if tls_client => TlsConnectError::PeerClosed.into_io(),
        (None, _) => io::Error::from_raw_os_error(libc::ECANCELED),
    }
}
