//! Carries out what sessions and the edge ask for: SIP to the edge and on to flows, the core and other workers;
//! bytes and closes on connections; metrics.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use edge::flow_token::FlowId;
use edge::time::Timestamp;
use edge::{Action, ClientFlow, Edge};
use ringmux::{CloseReason, Conn, Ctx, Udp};
use wsproto::deflate::{Context, SharedCodecs};

mod capture;
mod close_log;
mod core_side;
mod listing;
mod transactions;

use capture::Way;

pub use transactions::TICK_TOKEN;

use super::link::CoreLink;
use super::retransmit::Transactions;
use super::{Msg, Shared};
use crate::metrics::{Counter, RoutingFailure, WorkerMetrics};
use crate::session::{Close, Command};
use crate::targets::{CoreView, Transport};

/// How the messages delivered on one connection are compressed (permessage-deflate).
#[derive(Debug, Default)]
struct OutDeflate {
    /// The window the browser was told; 0: not compressed.
    window_bits: u8,
    /// Bytes of `window` kept (0: every message on its own).
    keep: u16,
    /// The last `keep` bytes sent, packed between messages.
    window: Context,
}

/// How often lapsed registrations are dropped, at most.
const EXPIRE_EVERY_MS: u64 = 1000;

/// One worker's routing state: its edge (and registrar shard), its sockets toward the core, its counters.
#[derive(Debug)]
pub struct Router {
    shared: Arc<Shared>,
    index: usize,
    edge: Edge,
    /// This worker's counters.
    pub metrics: Arc<WorkerMetrics>,
    udp: Option<Udp>,
    /// Scratch for framing messages delivered to flows.
    frame: Vec<u8>,
    /// permessage-deflate: the compressors shared by this worker's connections (none keeps a window).
    deflate: SharedCodecs,
    /// Per connection slot, how its messages are compressed (and the bytes last sent, with context takeover).
    /// Set when its WebSocket opens, so a reused slot never inherits it; emptied when it closes.
    deflate_out: Vec<OutDeflate>,
    /// Scratch for a compressed message.
    deflated: Vec<u8>,
    /// Client transactions toward the core (edge mode).
    transactions: Option<Transactions>,
    /// Whether the worker timer that polls them is armed (only while some wait: an idle worker is not woken).
    tick_armed: bool,
    /// The size of the last message a session announced (for the bytes a compressed one inflated to).
    last_inbound: usize,
    actions: Vec<Action>,
    last_expire: Timestamp,
    /// Per target, the stream (TCP or TLS) toward it, made on demand.
    links: Vec<(SocketAddr, CoreLink)>,
    /// The core's targets (edge mode), as the last view said.
    view: Option<Arc<CoreView>>,
    /// Counts new requests, to spread them over targets by weight.
    pick: u64,
    /// SIP capture (`[capture]`); `None`: off.
    capture: Option<super::CaptureSide>,
    /// The worker's UDP socket toward the core, its local address (for capture).
    udp_local: Option<SocketAddr>,
    /// By slot: the record of each connection taken for the log of closed connections (empty while it is off).
    close_logs: Vec<Option<Box<close_log::ConnectionLog>>>,
    /// `[log] connections` accumulated per upgrade: a connection is logged each time it reaches 1.
    log_credit: f64,
    /// Edge mode: the AoRs each connection registered (for the admin API's listing).
    registered: listing::Registered,
}

impl Router {
    /// Worker `index`'s router, its edge configured from `shared`.
    pub fn new(shared: Arc<Shared>, index: usize) -> Self {
        let mut cfg = shared.edge.clone();
        cfg.worker = index as u16;
        let udp_core = shared
            .core
            .as_ref()
            .filter(|c| c.view.transport == Transport::Udp);
        if let Some(c) = udp_core {
            cfg.core_hop.host_port =
                core_hop_host_port(&cfg.core_hop.host_port, c.local.port(), index);
        }
        let level = shared.policy.deflate.map_or(6, |d| d.level);
        // Over UDP requests are sent again; over TCP / TLS they wait for Timer F or their connection's loss.
        let transactions = shared.core.as_ref().map(|c| match c.view.transport {
            Transport::Udp => Transactions::new(c.t1),
            Transport::Tcp | Transport::Tls => Transactions::reliable(c.t1),
        });
        Self {
            edge: Edge::new(cfg, shared.key.clone()),
            metrics: shared.metrics[index].clone(),
            view: shared.core.as_ref().map(|c| c.view.clone()),
            capture: shared.capture.clone(),
            shared,
            index,
            udp: None,
            frame: Vec::with_capacity(16 * 1024),
            deflate: SharedCodecs::new(level).with_pack_dictionary(super::PACK_DICTIONARY),
            deflate_out: Vec::new(),
            deflated: Vec::new(),
            transactions,
            tick_armed: false,
            last_inbound: 0,
            actions: Vec::with_capacity(8),
            last_expire: Timestamp(0),
            links: Vec::new(),
            pick: 0,
            udp_local: None,
            close_logs: Vec::new(),
            log_credit: 0.0,
            registered: listing::Registered::default(),
        }
    }

    /// The worker's index.
    pub fn index(&self) -> usize {
        self.index
    }

    /// Bind the worker's UDP socket toward the core (UDP transport); client transactions handed over from
    /// another process go on being retransmitted.
    pub fn start(&mut self, ctx: &mut Ctx<'_, Msg>) {
        if self.transactions.as_ref().is_some_and(|t| t.len() > 0) && !self.tick_armed {
            ctx.arm_worker_timer(transactions::TICK, TICK_TOKEN);
            self.tick_armed = true;
        }
        let udp_core = self
            .shared
            .core
            .as_ref()
            .filter(|c| c.view.transport == Transport::Udp);
        if let Some(c) = udp_core {
            let addr = SocketAddr::new(c.local.ip(), c.local.port() + self.index as u16);
            match ctx.bind_udp(addr) {
                Ok(udp) => {
                    self.udp = Some(udp);
                    self.udp_local = ctx.udp_local_addr(udp).ok();
                    receive_buffer(ctx, udp, c.udp_receive_buffer, self.index);
                }
                Err(e) => {
                    tracing::error!(worker = self.index, %addr, error = %e, "cannot bind the UDP socket toward the core")
                }
            }
        }
    }

    fn now(&self, ctx: &Ctx<'_, Msg>) -> Timestamp {
        self.shared.policy.timestamp(ctx.now())
    }

    fn flow_of(&self, conn: Conn) -> FlowId {
        FlowId {
            node: self.shared.edge.node,
            worker: self.index as u16,
            slot: conn.slot,
            generation: conn.generation,
            outbound: false,
            secure: false,
        }
    }

    /// Carry out one command of the session of `conn`.
    pub fn command(&mut self, ctx: &mut Ctx<'_, Msg>, conn: Conn, command: Command<'_>) {
        match command {
            Command::Transmit(bytes) => {
                let _ = ctx.send(conn, bytes);
            }
            Command::Opened { deflate, handshake } => {
                self.metrics.add(Counter::Upgraded, 1);
                self.metrics.handshake.observe(handshake);
                self.metrics.websockets.fetch_add(1, Ordering::Relaxed);
                let slot = conn.slot as usize;
                if self.deflate_out.len() <= slot {
                    self.deflate_out.resize_with(slot + 1, OutDeflate::default);
                }
                self.deflate_out[slot] = deflate.map_or_else(OutDeflate::default, |d| OutDeflate {
                    window_bits: d.window_bits,
                    keep: d.keep,
                    window: Context::default(),
                });
                self.log_opened(ctx, conn);
            }
            Command::Inbound(payload) => {
                self.metrics.add(Counter::WsMessagesIn, 1);
                self.metrics.add(Counter::WsBytesIn, payload.len() as u64);
                self.last_inbound = payload.len();
                self.count_sip(payload);
                self.log_inbound(conn, payload.len());
            }
            Command::Inflated(wire) => {
                self.metrics.add(Counter::DeflateWireBytesIn, wire as u64);
                self.metrics
                    .add(Counter::DeflatePlainBytesIn, self.last_inbound as u64);
            }
            Command::ToEdge {
                message,
                client,
                identity,
            } => {
                let flow = ClientFlow {
                    id: FlowId {
                        secure: ctx.is_tls(conn),
                        ..self.flow_of(conn)
                    },
                    peer: client,
                    identity,
                };
                self.capture_client(ctx, conn, message, Way::In);
                self.note_register(conn, message);
                if let Some(i) = identity {
                    self.log_identity(conn, &i.user);
                }
                let now = self.now(ctx);
                self.edge
                    .from_client(&flow, message, now, &mut self.actions);
                self.run_actions(ctx);
            }
            Command::FromCore(message) => {
                self.capture_core_stream(ctx, conn, None, message, Way::In);
                if self.track_answer(ctx, message) == transactions::Answer::Absorb {
                    self.metrics.add(Counter::CoreRetransmissionsAbsorbed, 1);
                    return;
                }
                self.core_message(ctx, message)
            }
            Command::Count(counter, n) => self.metrics.add(counter, n),
            Command::Rejected(why) => self.metrics.handshake_rejected(why),
            Command::Failed(why) => self.metrics.routing_failed(why),
            Command::Closing { code, reason } => self.log_closing(conn, code, reason),
            Command::Close(Close::Graceful(code)) => {
                ctx.close(conn, CloseReason::Local(code.unwrap_or(0)))
            }
            Command::Close(Close::Abort(code)) => ctx.abort(conn, CloseReason::Local(code)),
        }
    }

    fn count_sip(&self, bytes: &[u8]) {
        if let Some(rest) = bytes.strip_prefix(b"SIP/2.0 ") {
            let code = rest
                .get(..3)
                .and_then(|c| std::str::from_utf8(c).ok()?.parse::<u16>().ok());
            if let Some(code) = code {
                self.metrics.response(code);
            }
        } else if let Some(sp) = bytes.iter().position(|&b| b == b' ') {
            self.metrics.request(&bytes[..sp]);
        }
    }

    /// A SIP message from the core (a datagram, or a message of a stream).
    fn core_message(&mut self, ctx: &mut Ctx<'_, Msg>, message: &[u8]) {
        self.metrics.add(Counter::CoreMessagesIn, 1);
        self.count_sip(message);
        self.edge.from_core(message, &mut self.actions);
        self.run_actions(ctx);
    }

    /// Whether `ip` is one of the core's targets (edge mode).
    pub fn is_core(&self, ip: IpAddr) -> bool {
        self.view.as_ref().is_some_and(|v| v.is_target_ip(ip))
    }

    /// A datagram on the worker's UDP socket toward the core: only the core's are taken.
    pub fn datagram(&mut self, ctx: &mut Ctx<'_, Msg>, from: SocketAddr, bytes: &[u8]) {
        if self.shared.core.is_none() {
            self.metrics.add(Counter::CoreMessagesIn, 1);
            tracing::debug!(%from, "datagram in standalone mode ignored");
            return;
        }
        if !self.is_core(from.ip()) {
            tracing::debug!(%from, "datagram from an address that is not the core's dropped");
            self.metrics.routing_failed(RoutingFailure::NotFromCore);
            return;
        }
        self.capture_core_udp(from, bytes, Way::In);
        if self.track_answer(ctx, bytes) == transactions::Answer::Absorb {
            self.metrics.add(Counter::CoreRetransmissionsAbsorbed, 1);
            return;
        }
        self.core_message(ctx, bytes);
    }

    /// A message from another worker.
    pub fn message(&mut self, ctx: &mut Ctx<'_, Msg>, msg: Msg) {
        match msg {
            Msg::ToFlow {
                flow,
                bytes,
                if_gone,
            } => self.deliver(ctx, flow, &bytes, if_gone),
            Msg::ToShard { from, bytes } => {
                let now = self.now(ctx);
                self.edge.from_client(&from, &bytes, now, &mut self.actions);
                self.run_actions(ctx);
                self.expire(now);
            }
            Msg::CoreView(view) => self.view_changed(ctx, view),
            // The worker answers these itself.
            Msg::Admin(_) | Msg::Reconfigure(_) | Msg::HandOut(_) | Msg::Release | Msg::Resume => {}
            Msg::FlowClosed(flow) => {
                self.edge.flow_closed(&flow);
                let now = self.now(ctx);
                self.expire(now);
            }
        }
    }

    /// A WebSocket of this worker closed: standalone mode drops its registrations in every shard.
    pub fn flow_closed(&mut self, ctx: &mut Ctx<'_, Msg>, conn: Conn) {
        if self.shared.core.is_some() {
            return;
        }
        let flow = self.flow_of(conn);
        self.edge.flow_closed(&flow);
        for w in (0..ctx.workers()).filter(|&w| w != self.index) {
            let _ = ctx.post(w, Msg::FlowClosed(flow));
        }
        let now = self.now(ctx);
        self.expire(now);
    }

    fn run_actions(&mut self, ctx: &mut Ctx<'_, Msg>) {
        let mut actions = std::mem::take(&mut self.actions);
        for a in actions.drain(..) {
            self.run(ctx, a);
        }
        self.actions = actions;
    }

    fn run(&mut self, ctx: &mut Ctx<'_, Msg>, action: Action) {
        match action {
            Action::ToFlow {
                flow,
                bytes,
                if_gone,
            } => {
                let owner = flow.worker as usize;
                if owner == self.index || owner >= ctx.workers() {
                    self.deliver(ctx, flow, &bytes, if_gone);
                } else if ctx
                    .post(
                        owner,
                        Msg::ToFlow {
                            flow,
                            bytes,
                            if_gone,
                        },
                    )
                    .is_err()
                {
                    self.metrics.routing_failed(RoutingFailure::FlowGone);
                }
            }
            Action::ToCore { bytes } => self.send_to_core(ctx, bytes),
            Action::ToShard {
                worker,
                from,
                peer,
                bytes,
            } => {
                let from = ClientFlow::anonymous(from, peer);
                if ctx
                    .post(worker as usize, Msg::ToShard { from, bytes })
                    .is_err()
                {
                    self.metrics.routing_failed(RoutingFailure::FlowGone);
                }
            }
            Action::Drop(reason) => {
                tracing::debug!(
                    worker = self.index,
                    reason = reason.label(),
                    "message dropped"
                );
                self.metrics.routing_failed(reason.into());
            }
        }
    }

    /// A configuration reload: the registrar's bounds and the largest message from now on.
    pub fn reconfigure(&mut self, live: &crate::reload::Live) {
        self.edge.reconfigure(live.registrar, live.max_message_size);
    }

    /// How the edge compresses what it sends on `conn`: window bits (0: not compressed), bytes kept, and those
    /// bytes packed (for a hand-over).
    pub fn deflate_out_of(&self, conn: Conn) -> (u8, u16, &[u8]) {
        self.deflate_out
            .get(conn.slot as usize)
            .map_or((0, 0, &[][..]), |o| {
                (o.window_bits, o.keep, o.window.packed().unwrap_or_default())
            })
    }

    /// A connection handed over from another process: compress what is sent on it as it was there.
    pub fn adopt_deflate_out(&mut self, conn: Conn, window_bits: u8, keep: u16, packed: &[u8]) {
        let slot = conn.slot as usize;
        if self.deflate_out.len() <= slot {
            self.deflate_out.resize_with(slot + 1, OutDeflate::default);
        }
        self.deflate_out[slot] = OutDeflate {
            window_bits,
            keep,
            window: Context::from_packed(packed),
        };
    }

    /// What this worker hands over besides its connections, at `now`: standalone, the registrar shard's
    /// bindings (empty when they do not fit); in edge mode over UDP, the client transactions toward the core.
    pub fn hand_over_state(&self, now: Timestamp) -> Vec<u8> {
        let mut out = Vec::new();
        match &self.transactions {
            Some(t) if self.shared.core.is_some() => t.export_state(&mut out),
            Some(_) => {}
            None if self.shared.core.is_some() => {}
            None => {
                if self.edge.registrar().export_state(now, &mut out).is_err() {
                    out.clear();
                }
            }
        }
        out
    }

    /// The hand-over is done: the client transactions are the new process's.
    pub fn transactions_handed_over(&mut self) {
        if let Some(t) = self
            .transactions
            .as_mut()
            .filter(|_| self.shared.core.is_some())
        {
            t.clear();
        }
    }

    /// Take what another process's worker handed over besides its connections ([`Router::hand_over_state`]).
    pub fn adopt_hand_over_state(&mut self, now: Timestamp, bytes: &[u8]) -> Result<(), String> {
        if self.shared.core.is_some() {
            let Some(t) = self.transactions.as_mut() else {
                return Ok(());
            };
            return t
                .import_state(bytes)
                .map_err(|e| format!("client transactions: {e}"));
        }
        let cfg = self.shared.edge.registrar;
        let shards = u16::try_from(self.shared.metrics.len()).unwrap_or(u16::MAX);
        let shard = edge::registrar::Registrar::import_state(cfg, shards, now, bytes)
            .map_err(|e| e.to_string())?;
        self.edge.set_registrar(shard);
        Ok(())
    }

    /// A connection closed: what was kept to compress its messages goes.
    pub fn connection_closed(&mut self, conn: Conn) {
        if let Some(o) = self.deflate_out.get_mut(conn.slot as usize) {
            *o = OutDeflate::default();
        }
        self.forget_registered(conn);
    }

    /// Frame `bytes` and queue them on the local connection `flow`, or carry out `if_gone`.
    fn deliver(
        &mut self,
        ctx: &mut Ctx<'_, Msg>,
        flow: FlowId,
        bytes: &[u8],
        if_gone: Option<Box<Action>>,
    ) {
        let conn = Conn {
            slot: flow.slot,
            generation: flow.generation,
        };
        let opcode = if simdutf8::basic::from_utf8(bytes).is_ok() {
            wsproto::OpCode::Text
        } else {
            wsproto::OpCode::Binary
        };
        self.frame.clear();
        let out = self.deflate_out.get_mut(conn.slot as usize);
        let bits = out.as_ref().map_or(0, |o| o.window_bits);
        if let Some(o) = out.filter(|o| o.window_bits != 0) {
            self.deflated.clear();
            let keep = usize::from(o.keep);
            let mut window = self.deflate.take_context(&mut o.window, keep);
            let compressor = self.deflate.compressor(o.window_bits);
            compressor.compress_after(&mut window, keep, bytes, &mut self.deflated);
            self.deflate.put_context(&mut o.window, window);
            wsproto::writer::write_compressed_frame(&mut self.frame, opcode, &self.deflated, None);
        } else {
            wsproto::writer::write_frame(&mut self.frame, true, opcode, bytes, None);
        }
        let sent = flow.node == self.shared.edge.node && ctx.send(conn, &self.frame).is_ok();
        if sent {
            self.capture_client(ctx, conn, bytes, Way::Out);
            self.log_outbound(conn, bytes.len());
            self.metrics.forward_to_client.observe(since_woke(ctx));
            self.metrics.add(Counter::WsMessagesOut, 1);
            self.metrics.add(Counter::WsBytesOut, bytes.len() as u64);
            if bits != 0 {
                self.metrics
                    .add(Counter::DeflateWireBytesOut, self.deflated.len() as u64);
                self.metrics
                    .add(Counter::DeflatePlainBytesOut, bytes.len() as u64);
            }
        } else {
            self.metrics.add(Counter::FlowGone, 1);
            self.metrics.routing_failed(RoutingFailure::FlowGone);
            if let Some(a) = if_gone {
                self.run(ctx, *a);
            }
        }
    }

    /// Drop lapsed registrations (at most once a second) and publish the binding count (O(1)).
    pub fn expire(&mut self, now: Timestamp) {
        if now.0 >= self.last_expire.0 + EXPIRE_EVERY_MS {
            self.last_expire = now;
            self.edge.expire(now);
        }
        self.metrics.bindings.store(
            self.edge.registrar().binding_count() as u64,
            Ordering::Relaxed,
        );
    }
}

/// The core-side hop of worker `index`: the configured host with port `base + index`.
fn core_hop_host_port(template: &str, base: u16, index: usize) -> String {
    let host = template.rsplit_once(':').map_or(template, |(h, _)| h);
    format!("{host}:{}", base as usize + index)
}

/// How long the worker has been at what it is doing now: since its loop last returned from its wait for I/O.
pub(super) fn since_woke(ctx: &Ctx<'_, Msg>) -> std::time::Duration {
    ctx.now().saturating_duration_since(ctx.woke_at())
}

/// Asks for `[core] udp_receive_buffer` on the worker's UDP socket toward the core; says so when the kernel grants
/// less (it caps the request at `net.core.rmem_max`; Linux reports twice what it keeps for datagrams).
fn receive_buffer(ctx: &Ctx<'_, Msg>, udp: ringmux::Udp, wanted: usize, worker: usize) {
    match ctx.set_udp_receive_buffer(udp, wanted) {
        Ok(granted) if granted / 2 < wanted => tracing::warn!(
            worker,
            wanted,
            granted = granted / 2,
            "the UDP receive buffer toward the core is smaller than [core] udp_receive_buffer: raise the \
             sysctl net.core.rmem_max"
        ),
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(worker, error = %e, "cannot set the UDP receive buffer toward the core")
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn each_workers_core_hop_keeps_an_ipv6_host_whole() {
        assert_eq!(
            super::core_hop_host_port("[::1]:5070", 5070, 1),
            "[::1]:5071"
        );
        assert_eq!(
            super::core_hop_host_port("192.0.2.1:5070", 5070, 2),
            "192.0.2.1:5072"
        );
    }
}
