//! The worker: ringmux's [`Handler`], a thin adapter that feeds each connection's [`Session`] and carries out
//! its commands (through the [`Router`]: the edge, the core, other workers, metrics). One per worker thread;
//! workers share nothing but the read-only [`Shared`] and talk by message ([`Msg`]).

pub mod handover;
mod link;
pub mod operate;
mod retransmit;
mod router;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use edge::flow_token::{FlowId, FlowTokenKey};
use edge::{Action, ClientFlow, EdgeConfig};
use ringmux::{CloseReason, Conn, Ctx, Handler, Origin, ProxyRejection, TimerId, Udp};
use wsproto::deflate::SharedCodecs;

use crate::metrics::{Counter, WorkerMetrics};
use crate::session::{Command, Output, Peer, Policy, Session};
use crate::targets::{CoreView, Feedback};

pub use retransmit::TRANSACTIONS_STATE_VERSION;
pub use router::Router;

/// What permessage-deflate contexts are packed against between messages: common SIP and SDP text (it never
/// leaves the process; it only makes a packed context smaller).
pub(crate) const PACK_DICTIONARY: &[u8] = include_bytes!("pack_dictionary.txt");

/// The one timer token: a session's next deadline.
const TIMER_SESSION: u64 = 1;

/// How the workers reach the core (edge mode).
#[derive(Debug, Clone)]
pub struct CoreSide {
    /// The targets as first resolved (later views come by [`Msg::CoreView`]).
    pub view: Arc<CoreView>,
    /// Worker 0's local address toward a UDP core (worker `w` binds its port + `w`).
    pub local: SocketAddr,
    /// RFC 3261's T1 toward a UDP core.
    pub t1: std::time::Duration,
    /// The receive buffer each worker asks for on its UDP socket toward the core, bytes.
    pub udp_receive_buffer: usize,
    /// TLS toward the core: the connector all workers share, and `[core.tls] server_name`.
    pub tls: Option<(ringmux::TlsConnector, Option<String>)>,
    /// Where workers report what they saw go wrong with a target (a transaction never answered, a connection
    /// refused): the manager counts it with the probes.
    pub feedback: Option<std::sync::mpsc::SyncSender<Feedback>>,
}

/// What every worker reads and nobody writes after start.
#[derive(Debug)]
pub struct Shared {
    /// Each client connection's policy, as started (a reload sends the next one by [`Msg::Reconfigure`]).
    pub policy: Arc<Policy>,
    /// The edge configuration template (worker fields are filled per worker).
    pub edge: EdgeConfig,
    /// Flow-token key.
    pub key: FlowTokenKey,
    /// The core's targets and how they are reached (edge mode); `None`: standalone.
    pub core: Option<CoreSide>,
    /// Per-worker counters.
    pub metrics: Vec<Arc<WorkerMetrics>>,
    /// SIP capture to a HEP collector; `None`: off.
    pub capture: Option<CaptureSide>,
    /// The share of WebSocket connections whose close is logged (`[log] connections`).
    pub log_connections: f64,
}

/// What a worker needs to capture SIP: the tap to the capture thread, and the listeners' addresses (the
/// client side's local end).
#[derive(Debug, Clone)]
pub struct CaptureSide {
    /// The bounded queue to the capture thread, and which messages it keeps.
    pub tap: crate::capture::Tap,
    /// Every listener's address, by listener index.
    pub listeners: Vec<SocketAddr>,
}

/// A message between workers.
#[derive(Debug)]
pub enum Msg {
    /// Deliver a SIP message on a flow this worker owns.
    ToFlow {
        /// The flow.
        flow: FlowId,
        /// The message.
        bytes: Vec<u8>,
        /// What to do if the flow is gone.
        if_gone: Option<Box<Action>>,
    },
    /// Standalone: a message for this worker's registrar shard (identity already checked by the sender).
    ToShard {
        /// Where it came from.
        from: ClientFlow<'static>,
        /// The SIP message.
        bytes: Vec<u8>,
    },
    /// A flow closed: drop its registrations in this shard.
    FlowClosed(FlowId),
    /// The core's targets changed (resolved again, or a target went down or up).
    CoreView(Arc<CoreView>),
    /// From the admin API.
    Admin(operate::Ask),
    /// A configuration reload: the policy and edge settings from now on.
    Reconfigure(Arc<crate::reload::Live>),
    /// Hand the listeners and WebSockets out to a new process; the package goes to this sender.
    HandOut(handover::HandedTx),
    /// The new process holds what was handed out: let go of it.
    Release,
    /// The hand-over failed: serve on.
    Resume,
}

/// A connection's state in the worker's slab: its session and the timer armed for it.
#[derive(Debug)]
pub struct Connection {
    session: Session,
    timer: Option<(TimerId, Instant)>,
}

/// One worker.
#[derive(Debug)]
pub struct Worker {
    shared: Arc<Shared>,
    /// The sessions' policy (the start's, until a reload sends another).
    policy: Arc<Policy>,
    router: Router,
    /// Scratch for the bytes a session writes.
    tx: Vec<u8>,
    /// Scratch for received bytes (WebSocket payloads are unmasked in place).
    rx: Vec<u8>,
    /// permessage-deflate: the decompressors shared by this worker's connections (none keeps a window), and what
    /// packs the connections' contexts.
    inflate: SharedCodecs,
    /// What the admin API asked and the worker is in the middle of.
    operate: operate::Operate,
    /// Where a hand-out in progress goes.
    handing: Option<handover::HandedTx>,
}

impl Worker {
    /// The worker with index `index`.
    pub fn new(shared: Arc<Shared>, index: usize) -> Self {
        Self {
            router: Router::new(shared.clone(), index),
            policy: shared.policy.clone(),
            shared,
            tx: Vec::with_capacity(16 * 1024),
            rx: Vec::with_capacity(16 * 1024),
            inflate: SharedCodecs::new(0).with_pack_dictionary(PACK_DICTIONARY),
            operate: operate::Operate::default(),
            handing: None,
        }
    }

    /// Run `step` on the session of `conn`, carry out its commands, and arm the timer it then needs.
    fn drive(
        &mut self,
        ctx: &mut Ctx<'_, Msg>,
        conn: Conn,
        state: &mut Connection,
        step: impl FnOnce(&mut Session, &Policy, &mut Output<'_>),
    ) {
        let Self {
            policy,
            router,
            tx,
            inflate,
            ..
        } = self;
        {
            let mut sink = |c: Command<'_>| router.command(ctx, conn, c);
            let mut out = Output::new(tx, &mut sink).with_codecs(inflate);
            step(&mut state.session, policy, &mut out);
        }
        rearm(ctx, conn, state);
    }
}

/// Arm the connection's timer for its session's next deadline (if that changed).
fn rearm(ctx: &mut Ctx<'_, Msg>, conn: Conn, state: &mut Connection) {
    let want = state.session.poll_timeout();
    if want == state.timer.map(|(_, at)| at) {
        return;
    }
    if let Some((id, _)) = state.timer.take() {
        ctx.cancel_timer(id);
    }
    if let Some(at) = want {
        let id = ctx.arm_timer(conn, at.saturating_duration_since(ctx.now()), TIMER_SESSION);
        state.timer = Some((id, at));
    }
}

impl Handler for Worker {
    type State = Connection;
    type Message = Msg;

    fn start(&mut self, ctx: &mut Ctx<'_, Msg>) {
        self.router.start(ctx);
    }

    fn open(&mut self, ctx: &mut Ctx<'_, Msg>, conn: Conn, origin: Origin) -> Connection {
        self.router.metrics.io_stats(ctx.stats());
        if origin == Origin::Connected {
            self.router.core_connected(ctx, conn);
            let mut state = Connection {
                session: Session::core_stream(&self.policy, ctx.now()),
                timer: None,
            };
            rearm(ctx, conn, &mut state);
            return state;
        }
        self.router.metrics.open.fetch_add(1, Ordering::Relaxed);
        let addr = ctx.peer_addr(conn);
        let peer = Peer {
            addr,
            listener: ctx.listener(conn).unwrap_or(0),
            proxied: ctx.is_proxied(conn),
            from_core: !ctx.is_proxied(conn) && addr.is_some_and(|a| self.router.is_core(a.ip())),
        };
        let now = ctx.now();
        let Self {
            policy, router, tx, ..
        } = self;
        let session = {
            let mut sink = |c: Command<'_>| router.command(ctx, conn, c);
            let mut out = Output::new(tx, &mut sink);
            Session::accept(policy, peer, now, &mut out)
        };
        let mut state = Connection {
            session,
            timer: None,
        };
        rearm(ctx, conn, &mut state);
        state
    }

    fn data(&mut self, ctx: &mut Ctx<'_, Msg>, conn: Conn, state: &mut Connection, bytes: &[u8]) {
        let now = ctx.now();
        let mut rx = std::mem::take(&mut self.rx);
        rx.clear();
        rx.extend_from_slice(bytes);
        self.drive(ctx, conn, state, |s, p, out| {
            s.handle_bytes(p, now, &mut rx, out)
        });
        self.rx = rx;
        self.router.expire(self.policy.timestamp(now));
        self.router.metrics.busy(ctx.stats().busy);
    }

    fn timer(&mut self, ctx: &mut Ctx<'_, Msg>, conn: Conn, state: &mut Connection, token: u64) {
        if token != TIMER_SESSION {
            return;
        }
        state.timer = None;
        self.router.metrics.io_stats(ctx.stats());
        let now = ctx.now();
        self.drive(ctx, conn, state, |s, p, out| s.handle_timeout(p, now, out));
    }

    fn closed(
        &mut self,
        ctx: &mut Ctx<'_, Msg>,
        conn: Conn,
        mut state: Connection,
        reason: CloseReason,
    ) {
        // A close ringmux aborted (close_timeout, shutdown deadline) is counted by the time it is reported.
        self.router.metrics.io_stats(ctx.stats());
        if reason == CloseReason::HandedOver {
            self.let_go(conn, state);
            return;
        }
        if self.router.core_closed(ctx, conn, reason) {
            return;
        }
        state.session.closed(&self.policy);
        let m = &self.router.metrics;
        m.add(Counter::Closed, 1);
        m.open.fetch_sub(1, Ordering::Relaxed);
        if reason == CloseReason::SlowConsumer {
            m.add(Counter::SlowConsumers, 1);
        }
        if state.session.is_websocket() {
            m.websockets.fetch_sub(1, Ordering::Relaxed);
            self.router.log_closed(ctx, conn, reason);
            self.router.connection_closed(conn);
            self.router.flow_closed(ctx, conn);
        }
    }

    fn message(&mut self, ctx: &mut Ctx<'_, Msg>, msg: Msg) {
        match msg {
            Msg::Admin(ask) => self.ask(ctx, ask),
            Msg::Reconfigure(live) => {
                self.policy = live.policy.clone();
                self.router.reconfigure(&live);
            }
            Msg::HandOut(tx) => {
                self.handing = Some(tx);
                ctx.hand_out();
            }
            Msg::Release => {
                ctx.release_handed_out();
                // The new process retransmits and gives up the client transactions now.
                self.router.transactions_handed_over();
            }
            Msg::Resume => ctx.resume(),
            msg => self.router.message(ctx, msg),
        }
    }

    fn visit(
        &mut self,
        ctx: &mut Ctx<'_, Msg>,
        conn: Conn,
        state: &mut Connection,
    ) -> std::ops::ControlFlow<()> {
        self.visit_one(ctx, conn, state)
    }

    fn visited(&mut self, _ctx: &mut Ctx<'_, Msg>) {
        self.visit_done();
    }

    fn worker_timer(&mut self, ctx: &mut Ctx<'_, Msg>, token: u64) {
        match token {
            router::TICK_TOKEN => self.router.tick(ctx),
            operate::DRAIN_TOKEN => self.drain_step(ctx),
            _ => {}
        }
    }

    fn datagram(&mut self, ctx: &mut Ctx<'_, Msg>, _udp: Udp, from: SocketAddr, bytes: &[u8]) {
        self.router.datagram(ctx, from, bytes);
        self.router.metrics.busy(ctx.stats().busy);
    }

    fn proxy_rejected(
        &mut self,
        ctx: &mut Ctx<'_, Msg>,
        peer: Option<SocketAddr>,
        why: ProxyRejection,
    ) {
        self.router.metrics.io_stats(ctx.stats());
        tracing::debug!(worker = self.router.index(), ?peer, %why, "PROXY protocol header refused");
        if let Some(r) = crate::metrics::ProxyRejection::of(&why) {
            self.router.metrics.proxy_rejected(r);
        }
    }

    fn connect_failed(&mut self, ctx: &mut Ctx<'_, Msg>, conn: Conn, error: std::io::Error) {
        self.router.core_connect_failed(ctx, conn, &error);
    }

    fn slow_consumer(
        &mut self,
        _ctx: &mut Ctx<'_, Msg>,
        _conn: Conn,
        state: &mut Connection,
    ) -> CloseReason {
        state.session.abandon();
        CloseReason::SlowConsumer
    }

    fn export(
        &mut self,
        ctx: &mut Ctx<'_, Msg>,
        conn: Conn,
        state: &mut Connection,
        out: &mut Vec<u8>,
    ) -> bool {
        self.export_connection(ctx, conn, state, out)
    }

    fn adopt(&mut self, ctx: &mut Ctx<'_, Msg>, conn: Conn, state: &[u8]) -> Option<Connection> {
        self.adopt_connection(ctx, conn, state)
    }

    fn handed_out(&mut self, ctx: &mut Ctx<'_, Msg>, part: std::io::Result<ringmux::HandOutPart>) {
        self.hand_part(ctx, part);
    }

    fn shutdown(&mut self, ctx: &mut Ctx<'_, Msg>, conn: Conn, state: &mut Connection) {
        self.drive(ctx, conn, state, |s, _, out| s.shutdown(out));
    }
}

#[cfg(test)]
mod tests {
    /// A connection's slot state stays small: 100,000 idle browsers per node (88 bytes since the WebSocket's
    /// opening time is kept for the admin API's listing).
    #[test]
    fn connection_state_is_small() {
        let size = std::mem::size_of::<super::Connection>();
        assert!(size <= 88, "{size} bytes per connection in the slab");
    }

    /// The browsers' recorded messages, each packed on its own as a connection's context is kept: the dictionary
    /// of common SIP text makes each one smaller, and each comes back whole.
    #[test]
    fn the_pack_dictionary_makes_contexts_smaller() {
        use wsproto::deflate::{Context, SharedCodecs};
        let trace = include_str!("../../../edge/tests/data/traces/jssip-kamailio-session.txt");
        let messages: Vec<&str> = trace
            .split("\n--- ")
            .skip(1)
            .filter_map(|m| m.split_once('\n').map(|(_, body)| body))
            .collect();
        let (mut with, mut without) = (
            SharedCodecs::new(6).with_pack_dictionary(super::PACK_DICTIONARY),
            SharedCodecs::new(6),
        );
        let (mut sum_with, mut sum_without, mut plain) = (0, 0, 0);
        for msg in messages.iter().filter(|m| m.len() <= 2048) {
            for (codecs, sum) in [(&mut with, &mut sum_with), (&mut without, &mut sum_without)] {
                let mut context = Context::default();
                codecs.put_context(&mut context, msg.as_bytes().to_vec());
                *sum += context.heap_bytes();
                assert_eq!(codecs.take_context(&mut context, 2048), msg.as_bytes());
            }
            plain += msg.len();
        }
        assert!(
            sum_with * 10 < sum_without * 8,
            "{sum_with} with, {sum_without} without, of {plain}"
        );
    }
}
