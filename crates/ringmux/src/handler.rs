//! The trait the protocol layer implements. The same handler runs on both backends.

use std::io;
use std::net::SocketAddr;

use crate::conn::{CloseReason, Conn, Origin, Udp};
use crate::ctx::Ctx;
use crate::proxy_state::ProxyRejection;

/// Protocol logic driven by one worker. A server makes one handler per worker (through the factory given to
/// [`Server::start`](crate::Server::start)); it lives on that worker's thread and needs not be `Send`.
///
/// Callbacks get a [`Ctx`] to act: queue bytes, close, arm timers, post to other workers, open outbound
/// TCP connections and UDP sockets. Actions take effect when the callback returns (writes are batched per
/// loop iteration).
pub trait Handler: 'static {
    /// Per-connection state, created by [`open`](Self::open). Keep it small: it is what an idle connection
    /// costs beyond ringmux's own slot.
    type State;
    /// What workers send each other.
    type Message: Send + 'static;

    /// The worker started (bind UDP sockets, open outbound connections here).
    fn start(&mut self, ctx: &mut Ctx<'_, Self::Message>) {
        let _ = ctx;
    }

    /// A connection opened (accepted, or an outbound connect completed; for [`Ctx::connect_tls`] once its TLS
    /// handshake completed too). A connection from a trusted proxy
    /// ([`Listener::proxy_protocol`](crate::Listener::proxy_protocol)) opens once its PROXY protocol header is read,
    /// so that [`Ctx::peer_addr`] already names the client.
    fn open(&mut self, ctx: &mut Ctx<'_, Self::Message>, conn: Conn, origin: Origin)
    -> Self::State;

    /// A connection another process handed over ([`Server::start_inheriting`](crate::Server::start_inheriting)),
    /// with the state that process's handler wrote for it: return its state to take it on (it reads from now on),
    /// `None` to close it. Called once the worker started, before any I/O. The default takes none.
    fn adopt(
        &mut self,
        ctx: &mut Ctx<'_, Self::Message>,
        conn: Conn,
        state: &[u8],
    ) -> Option<Self::State> {
        let _ = (ctx, conn, state);
        None
    }

    /// A hand-out ([`Ctx::hand_out`](crate::Ctx::hand_out)) asks for `conn`'s state, for another process's
    /// [`adopt`](Self::adopt): write it to `out` and return `true`, or `false` to keep the connection here (it is
    /// drained here). The default keeps every connection.
    fn export(
        &mut self,
        ctx: &mut Ctx<'_, Self::Message>,
        conn: Conn,
        state: &mut Self::State,
        out: &mut Vec<u8>,
    ) -> bool {
        let _ = (ctx, conn, state, out);
        false
    }

    /// A part of a hand-out is ready, for another process's
    /// [`Server::start_inheriting`](crate::Server::start_inheriting): the listeners and slab generations, then
    /// connections in chunks, then the end. What was handed out stays frozen here until
    /// [`Ctx::release_handed_out`](crate::Ctx::release_handed_out) or [`Ctx::resume`](crate::Ctx::resume). An
    /// error (the listeners could not be handed out) comes instead of the first part, after the worker resumed by
    /// itself. The default resumes.
    fn handed_out(
        &mut self,
        ctx: &mut Ctx<'_, Self::Message>,
        part: io::Result<crate::hand_out::HandOutPart>,
    ) {
        drop(part);
        ctx.resume();
    }

    /// Bytes arrived. The slice lives in a shared receive buffer that goes back to the pool when this returns:
    /// copy what must outlive the call.
    fn data(
        &mut self,
        ctx: &mut Ctx<'_, Self::Message>,
        conn: Conn,
        state: &mut Self::State,
        bytes: &[u8],
    );

    /// The send queue drained, after [`Ctx::notify_drained`] asked for it.
    fn writable(&mut self, ctx: &mut Ctx<'_, Self::Message>, conn: Conn, state: &mut Self::State) {
        let _ = (ctx, conn, state);
    }

    /// A timer armed with [`Ctx::arm_timer`] fired.
    fn timer(
        &mut self,
        ctx: &mut Ctx<'_, Self::Message>,
        conn: Conn,
        state: &mut Self::State,
        token: u64,
    ) {
        let _ = (ctx, conn, state, token);
    }

    /// The connection is gone; `state` is handed back for the last time.
    fn closed(
        &mut self,
        ctx: &mut Ctx<'_, Self::Message>,
        conn: Conn,
        state: Self::State,
        reason: CloseReason,
    ) {
        let _ = (ctx, conn, state, reason);
    }

    /// Another worker (or the server handle) posted a message to this worker.
    fn message(&mut self, ctx: &mut Ctx<'_, Self::Message>, msg: Self::Message) {
        let _ = (ctx, msg);
    }

    /// A datagram arrived on a UDP socket bound with [`Ctx::bind_udp`].
    fn datagram(
        &mut self,
        ctx: &mut Ctx<'_, Self::Message>,
        udp: Udp,
        from: SocketAddr,
        bytes: &[u8],
    ) {
        let _ = (ctx, udp, from, bytes);
    }

    /// An outbound connect from [`Ctx::connect`] or [`Ctx::connect_tls`] failed; the handle is dead. Socket
    /// errors come as OS errors; a TLS handshake that failed, timed out or was cut by the server comes as an
    /// error wrapping a [`TlsConnectError`](crate::TlsConnectError) (`error.get_ref()` downcasts to it).
    fn connect_failed(&mut self, ctx: &mut Ctx<'_, Self::Message>, conn: Conn, error: io::Error) {
        let _ = (ctx, conn, error);
    }

    /// A connection from a trusted proxy (see [`Listener::proxy_protocol`](crate::Listener::proxy_protocol)) closed
    /// before its PROXY protocol header was read: the handler never saw it open. `peer` is the socket's
    /// remote address (the proxy). Not called for connections cut by shutdown.
    fn proxy_rejected(
        &mut self,
        ctx: &mut Ctx<'_, Self::Message>,
        peer: Option<SocketAddr>,
        why: ProxyRejection,
    ) {
        let _ = (ctx, peer, why);
    }

    /// One open connection of a visit asked with [`Ctx::visit_connections`]; `Break` ends the visit.
    fn visit(
        &mut self,
        ctx: &mut Ctx<'_, Self::Message>,
        conn: Conn,
        state: &mut Self::State,
    ) -> std::ops::ControlFlow<()> {
        let _ = (ctx, conn, state);
        std::ops::ControlFlow::Break(())
    }

    /// A visit asked with [`Ctx::visit_connections`] ended.
    fn visited(&mut self, ctx: &mut Ctx<'_, Self::Message>) {
        let _ = ctx;
    }

    /// A timer armed with [`Ctx::arm_worker_timer`] fired.
    fn worker_timer(&mut self, ctx: &mut Ctx<'_, Self::Message>, token: u64) {
        let _ = (ctx, token);
    }

    /// The connection's send queue hit its bound. Return the reason it closes with (the queued bytes are
    /// dropped, the connection aborted); others are unaffected.
    fn slow_consumer(
        &mut self,
        ctx: &mut Ctx<'_, Self::Message>,
        conn: Conn,
        state: &mut Self::State,
    ) -> CloseReason {
        let _ = (ctx, conn, state);
        CloseReason::SlowConsumer
    }

    /// Graceful shutdown began: say goodbye (a WebSocket server sends close 1001) and close. The default
    /// closes after the queued bytes are written.
    fn shutdown(&mut self, ctx: &mut Ctx<'_, Self::Message>, conn: Conn, state: &mut Self::State) {
        let _ = state;
        ctx.close(conn, CloseReason::Shutdown);
    }
}
