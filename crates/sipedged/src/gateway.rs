//! The worker: ringmux's [`Handler`] that terminates WebSockets (wsproto), runs the edge logic (edge) and talks
//! UDP to the core. One per worker thread; workers share nothing but the read-only [`Shared`] and talk by
//! message ([`Msg`]).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use edge::flow_token::{FlowId, FlowTokenKey};
use edge::time::Timestamp;
use edge::{Action, ClientFlow, Edge, EdgeConfig};
use ringmux::{CloseReason, Conn, Ctx, Handler, Origin, ProxyRejection, TimerId, Udp};
use wsproto::{Connection, Event, Role, ServerConfig, ServerHandshake};

use crate::metrics::{Counter, WorkerMetrics};

const TIMER_HANDSHAKE: u64 = 1;
const TIMER_KEEPALIVE: u64 = 2;

/// What every worker reads and nobody writes after start.
#[derive(Debug)]
pub struct Shared {
    /// The edge configuration template (worker fields are filled per worker).
    pub edge: EdgeConfig,
    /// Flow-token key.
    pub key: FlowTokenKey,
    /// The WebSocket path accepted, per listener (`[[listen]]` order).
    pub paths: Vec<String>,
    /// Whether `auth` applies on each listener.
    pub listener_auth: Vec<bool>,
    /// Allowed Origins (empty: any).
    pub allowed_origins: Vec<String>,
    /// WebSocket limits and keepalive.
    pub ws: wsproto::Config,
    /// Largest handshake request.
    pub handshake_timeout: Duration,
    /// The core's address (edge mode).
    pub core: Option<SocketAddr>,
    /// Local address of worker 0's socket toward the core; worker `w` uses port + `w` (UDP).
    pub core_local: Option<SocketAddr>,
    /// The core is reached over TCP (one connection per worker; the core's own requests arrive on the
    /// WebSocket port, recognised by their SIP start line).
    pub core_tcp: bool,
    /// Largest SIP message on a stream from the core.
    pub max_message_size: usize,
    /// Handshake authentication (RFC 7118 §7).
    pub auth: crate::auth::Authenticator,
    /// What a token's expiry during a session does.
    pub on_expiry: crate::config::OnExpiry,
    /// Per-source-IP connection caps and handshake rates.
    pub ip_limits: crate::limits::IpLimits,
    /// Proxies whose X-Forwarded-For is believed.
    pub trusted_proxies: Vec<IpAddr>,
    /// SIP requests per second per connection (0: unlimited), burst, and what happens beyond.
    pub request_rate: (u32, u32, crate::config::OverRate),
    /// A WebSocket with no bytes from the browser for this long (not even a pong) is closed.
    pub idle_timeout: Duration,
    /// Per-worker counters.
    pub metrics: Vec<Arc<WorkerMetrics>>,
    /// Plain HTTP content on the WebSocket port.
    pub web: crate::web::WebConfig,
    /// The clock's zero for [`Timestamp`]s.
    pub epoch: Instant,
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
    /// The core's address, resolved again (SIGHUP).
    CoreAddress(SocketAddr),
}

/// Per-connection state.
#[derive(Debug)]
pub enum State {
    /// Waiting for the HTTP upgrade request.
    Handshake {
        /// The incremental parser.
        hs: Box<ServerHandshake>,
        /// The handshake deadline.
        timer: TimerId,
        /// The request bytes so far when they came in more than one read (empty otherwise).
        head: Vec<u8>,
    },
    /// A WebSocket carrying SIP.
    Open {
        /// The codec.
        ws: Box<Connection>,
        /// The keepalive timer, if armed.
        timer: Option<TimerId>,
        /// Who the handshake authenticated (RFC 7118 §7), when the listener requires it.
        identity: Option<Box<edge::Identity>>,
        /// The browser's address (X-Forwarded-For from a trusted proxy, else the TCP peer).
        peer: Option<IpAddr>,
        /// Its SIP request rate.
        bucket: crate::limits::RequestBucket,
        /// When the browser last sent anything (edge clock, ms).
        last_rx_ms: u64,
    },
    /// SIP over TCP with the core (our connection to it, or its connection to us).
    SipStream {
        /// Cuts the stream into messages (RFC 3261 §18.3).
        framer: Box<edge::framer::StreamFramer>,
    },
    /// Closing: input is ignored.
    Closing {
        /// Whether it had been a WebSocket (its flow existed).
        websocket: bool,
    },
}

impl State {
    /// Whether the connection completed the WebSocket handshake (its flow exists or existed).
    pub fn is_websocket(&self) -> bool {
        matches!(
            self,
            State::Open { .. } | State::Closing { websocket: true }
        )
    }
}

/// This worker's TCP connection to the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Upstream {
    /// Never connected, or closed cleanly: connect on the next message.
    Idle,
    /// Connecting; messages wait in the queue.
    Connecting(Conn),
    /// Connected.
    Up(Conn),
    /// The last attempt failed: answer 503 until `retry_at`, then try again.
    Down {
        retry_at: Instant,
        backoff: Duration,
    },
}

/// Messages that may wait for the TCP connection to the core (beyond: 503).
const UPSTREAM_QUEUE_MESSAGES: usize = 1024;
const UPSTREAM_QUEUE_BYTES: usize = 4 << 20;
const UPSTREAM_BACKOFF_MAX: Duration = Duration::from_secs(30);

/// One worker.
#[derive(Debug)]
pub struct Worker {
    shared: Arc<Shared>,
    index: usize,
    edge: Edge,
    metrics: Arc<WorkerMetrics>,
    udp: Option<Udp>,
    scratch: Vec<u8>,
    frame: Vec<u8>,
    actions: Vec<Action>,
    last_expire: Timestamp,
    upstream: Upstream,
    queue: std::collections::VecDeque<Vec<u8>>,
    queue_bytes: usize,
    /// Connections counted against a per-IP limit, to release at close (only while limits are on).
    admitted: HashMap<Conn, IpAddr>,
    /// The core's address (edge mode); replaced when main resolves it again.
    core: Option<SocketAddr>,
}

impl Worker {
    /// The worker with index `index`, its edge configured from `shared`.
    pub fn new(shared: Arc<Shared>, index: usize) -> Self {
        let mut cfg = shared.edge.clone();
        cfg.worker = index as u16;
        if let Some(local) = shared.core_local {
            cfg.core_hop.host_port =
                core_hop_host_port(&cfg.core_hop.host_port, local.port(), index);
        }
        let edge = Edge::new(cfg, shared.key.clone());
        let metrics = shared.metrics[index].clone();
        let core = shared.core;
        Self {
            shared,
            index,
            edge,
            metrics,
            udp: None,
            scratch: Vec::with_capacity(16 * 1024),
            frame: Vec::with_capacity(16 * 1024),
            actions: Vec::with_capacity(8),
            last_expire: Timestamp(0),
            upstream: Upstream::Idle,
            queue: std::collections::VecDeque::new(),
            queue_bytes: 0,
            admitted: HashMap::new(),
            core,
        }
    }

    fn now(&self, ctx: &Ctx<'_, Msg>) -> Timestamp {
        Timestamp(
            ctx.now()
                .saturating_duration_since(self.shared.epoch)
                .as_millis() as u64,
        )
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

    fn handshake(&mut self, ctx: &mut Ctx<'_, Msg>, conn: Conn, state: &mut State, bytes: &[u8]) {
        let State::Handshake { hs, timer, head } = state else {
            return;
        };
        let timer = *timer;
        if self.shared.core_tcp && looks_like_sip(bytes) {
            // The core's own TCP connection to us (it routes along our Path / Record-Route).
            ctx.cancel_timer(timer);
            let framer = Box::new(edge::framer::StreamFramer::new(
                self.shared.max_message_size,
            ));
            *state = State::SipStream { framer };
            self.sip_stream(ctx, conn, state, bytes);
            return;
        }
        // Plain HTTP (the web phone) may arrive in pieces: keep what came so far (a few hundred bytes, only
        // until the request is complete).
        let seen: &[u8] = if head.is_empty() {
            bytes
        } else {
            head.extend_from_slice(bytes);
            head
        };
        if let Some(response) = crate::web::respond(seen, &self.shared.web) {
            ctx.cancel_timer(timer);
            *state = State::Closing { websocket: false };
            let _ = ctx.send(conn, &response);
            ctx.close(conn, CloseReason::Local(0));
            return;
        }
        let reject =
            |ctx: &mut Ctx<'_, Msg>, m: &WorkerMetrics, reason: &str, response: Vec<u8>| {
                m.handshake_rejected(reason);
                let _ = ctx.send(conn, &response);
                ctx.close(conn, CloseReason::Local(0));
            };
        match hs.feed(bytes) {
            Ok(None) => {
                if head.is_empty() {
                    head.extend_from_slice(bytes);
                }
            }
            Ok(Some(req)) => {
                ctx.cancel_timer(timer);
                let path = req.path.split('?').next().unwrap_or_default();
                let want = ctx
                    .listener(conn)
                    .and_then(|l| self.shared.paths.get(l))
                    .map_or("/", String::as_str);
                if path != want {
                    *state = State::Closing { websocket: false };
                    reject(
                        ctx,
                        &self.metrics,
                        "wrong_path",
                        http_response(404, "Not Found", "no WebSocket endpoint at this path\n"),
                    );
                    return;
                }
                if !self.shared.allowed_origins.is_empty()
                    && !req
                        .origin
                        .as_ref()
                        .is_some_and(|o| self.shared.allowed_origins.iter().any(|a| a == o))
                {
                    *state = State::Closing { websocket: false };
                    reject(
                        ctx,
                        &self.metrics,
                        "origin",
                        http_response(403, "Forbidden", "Origin not allowed\n"),
                    );
                    return;
                }
                // The client's address: X-Forwarded-For from a trusted proxy (its last entry), else the TCP peer. On a
                // connection that came with a PROXY protocol header, the peer is the client it named (or the
                // proxy itself, for LOCAL) and X-Forwarded-For is not believed in addition.
                let tcp_peer = ctx.peer_addr(conn).map(|a| a.ip());
                let via_proxy = !ctx.is_proxied(conn)
                    && tcp_peer.is_some_and(|p| self.shared.trusted_proxies.contains(&p));
                let peer = if via_proxy {
                    req.x_forwarded_for
                        .as_deref()
                        .and_then(|x| x.rsplit(',').next())
                        .and_then(|x| x.trim().parse::<IpAddr>().ok())
                        .or(tcp_peer)
                } else {
                    if req.x_forwarded_for.is_some() {
                        self.metrics.add(Counter::ForwardedForIgnored, 1);
                    }
                    tcp_peer
                };
                if via_proxy && let Some(ip) = peer {
                    if let Err(r) = self.shared.ip_limits.admit(ip, ctx.now()) {
                        *state = State::Closing { websocket: false };
                        reject(
                            ctx,
                            &self.metrics,
                            r.label(),
                            http_response(
                                503,
                                "Service Unavailable",
                                "too many connections from your address\n",
                            ),
                        );
                        return;
                    }
                    self.admitted.insert(conn, ip);
                }
                let authenticate = ctx
                    .listener(conn)
                    .and_then(|l| self.shared.listener_auth.get(l).copied())
                    .unwrap_or(true);
                let verdict = if authenticate {
                    self.shared.auth.authenticate(&req)
                } else {
                    Ok(None)
                };
                let identity = match verdict {
                    Ok(a) => a.map(|a| {
                        let now = self.now(ctx);
                        let left = a.exp.map(|exp| exp.saturating_sub(crate::auth::unix_now()));
                        Box::new(edge::Identity {
                            user: a.user,
                            domains: a.domains,
                            expires_at: left
                                .map(|s| Timestamp(now.0.saturating_add(s.saturating_mul(1000)))),
                        })
                    }),
                    Err(e) => {
                        *state = State::Closing { websocket: false };
                        let reason = if e.status() == 401 {
                            "Unauthorized"
                        } else {
                            "Forbidden"
                        };
                        let mut response = http_response(e.status(), reason, &format!("{e}\n"));
                        if e.status() == 401 {
                            // RFC 6750 §3: tell the client which scheme to use.
                            let at = response
                                .windows(2)
                                .position(|w| w == b"\r\n")
                                .map_or(0, |p| p + 2);
                            response.splice(
                                at..at,
                                b"WWW-Authenticate: Bearer realm=\"sipedge\"\r\n"
                                    .iter()
                                    .copied(),
                            );
                        }
                        reject(ctx, &self.metrics, e.label(), response);
                        return;
                    }
                };
                if req.subprotocol.as_deref() != Some("sip") {
                    *state = State::Closing { websocket: false };
                    reject(
                        ctx,
                        &self.metrics,
                        "no_sip_subprotocol",
                        http_response(
                            400,
                            "Bad Request",
                            "Sec-WebSocket-Protocol must offer \"sip\" (RFC 7118)\n",
                        ),
                    );
                    return;
                }
                self.frame.clear();
                req.write_accept(&mut self.frame);
                let _ = ctx.send(conn, &self.frame);
                let mut ws = Box::new(Connection::new(Role::Server, self.shared.ws));
                ws.start_keepalive(ctx.now());
                let timer = ws.poll_timeout().map(|at| {
                    ctx.arm_timer(
                        conn,
                        at.saturating_duration_since(ctx.now()),
                        TIMER_KEEPALIVE,
                    )
                });
                self.metrics.add(Counter::Upgraded, 1);
                self.metrics
                    .websockets
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let last_rx_ms = self.now(ctx).0;
                *state = State::Open {
                    ws,
                    timer,
                    identity,
                    peer,
                    bucket: crate::limits::RequestBucket::default(),
                    last_rx_ms,
                };
                if !req.leftover.is_empty() {
                    let leftover = req.leftover.clone();
                    self.websocket(ctx, conn, state, &leftover);
                }
            }
            Err(e) => {
                ctx.cancel_timer(timer);
                *state = State::Closing { websocket: false };
                let mut out = Vec::new();
                e.write_response(&mut out);
                let reason = if e.status() == 431 {
                    "too_large"
                } else {
                    "bad_request"
                };
                reject(ctx, &self.metrics, reason, out);
            }
        }
    }

    fn websocket(&mut self, ctx: &mut Ctx<'_, Msg>, conn: Conn, state: &mut State, bytes: &[u8]) {
        let now = self.now(ctx);
        let State::Open {
            ws,
            identity,
            peer,
            bucket,
            last_rx_ms,
            ..
        } = state
        else {
            return;
        };
        *last_rx_ms = now.0;
        let mut policy_close: Option<&'static str> = None;
        if identity.as_ref().is_some_and(|i| i.expired(now))
            && self.shared.on_expiry == crate::config::OnExpiry::Close
        {
            self.metrics.routing_failed("credential_expired");
            policy_close = Some("credential expired");
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        scratch.extend_from_slice(bytes);
        let flow = ClientFlow {
            id: FlowId {
                secure: ctx.is_tls(conn),
                ..self.flow_of(conn)
            },
            peer: *peer,
            identity: identity.as_deref(),
        };
        let (rate, burst, over) = self.shared.request_rate;
        let mut off = 0;
        let mut close = false;
        self.frame.clear();
        while off < scratch.len() && policy_close.is_none() {
            let got = ws.receive(&mut scratch[off..]);
            off += got.consumed;
            match got.event {
                None => {
                    if got.consumed == 0 {
                        break;
                    }
                }
                Some(Event::Message { payload, .. }) => {
                    self.metrics.add(Counter::WsMessagesIn, 1);
                    self.metrics.add(Counter::WsBytesIn, payload.len() as u64);
                    self.count_sip(payload);
                    let is_request = !payload.starts_with(b"SIP/2.0 ")
                        && !payload.iter().all(|&b| b == b'\r' || b == b'\n');
                    if rate > 0 && is_request && !bucket.take(now.0, rate, burst) {
                        self.metrics.routing_failed("rate_limited");
                        match over {
                            crate::config::OverRate::Close => {
                                policy_close = Some("request rate exceeded")
                            }
                            crate::config::OverRate::Reject => {
                                if let Ok(m) = sipscan::Message::parse(payload)
                                    && m.method() != Some(sipscan::Method::Ack)
                                {
                                    let r = edge::response::build(
                                        &m,
                                        503,
                                        "Service Unavailable",
                                        &["Retry-After: 1"],
                                    );
                                    wsproto::writer::write_frame(
                                        &mut self.frame,
                                        true,
                                        wsproto::OpCode::Text,
                                        &r,
                                        None,
                                    );
                                }
                            }
                        }
                        continue;
                    }
                    self.edge
                        .from_client(&flow, payload, now, &mut self.actions);
                }
                Some(Event::Ping(_)) | Some(Event::Pong(_)) => {}
                Some(Event::Close { .. }) => close = true,
                Some(Event::ProtocolError { code, error }) => {
                    tracing::debug!(worker = self.index, slot = conn.slot, code, %error, "WebSocket protocol error");
                    self.metrics.add(Counter::WsProtocolErrors, 1);
                    close = true;
                }
            }
            if close {
                break;
            }
        }
        if let Some(reason) = policy_close {
            // RFC 6455 §7.4.1: 1008, policy violation.
            let _ = ws.close(1008, reason, &mut self.frame, None);
        }
        while let Ok(true) = ws.poll_transmit(&mut self.frame, None) {}
        if !self.frame.is_empty() {
            let _ = ctx.send(conn, &self.frame);
        }
        if close || policy_close.is_some() || ws.is_closed() {
            *state = State::Closing { websocket: true };
            ctx.close(
                conn,
                CloseReason::Local(if policy_close.is_some() { 1008 } else { 1000 }),
            );
        }
        self.scratch = scratch;
        self.run_actions(ctx);
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
                if flow.worker as usize != self.index && (flow.worker as usize) < ctx.workers() {
                    if ctx
                        .post(
                            flow.worker as usize,
                            Msg::ToFlow {
                                flow,
                                bytes,
                                if_gone,
                            },
                        )
                        .is_err()
                    {
                        self.metrics.routing_failed("flow_gone");
                    }
                } else {
                    self.deliver(ctx, flow, &bytes, if_gone);
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
                    self.metrics.routing_failed("flow_gone");
                }
            }
            Action::Drop(reason) => {
                tracing::debug!(
                    worker = self.index,
                    reason = reason.label(),
                    "message dropped"
                );
                self.metrics.routing_failed(reason.label());
            }
        }
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
        wsproto::writer::write_frame(&mut self.frame, true, opcode, bytes, None);
        let sent = flow.node == self.shared.edge.node && ctx.send(conn, &self.frame).is_ok();
        if sent {
            self.metrics.add(Counter::WsMessagesOut, 1);
            self.metrics.add(Counter::WsBytesOut, bytes.len() as u64);
        } else {
            self.metrics.add(Counter::FlowGone, 1);
            self.metrics.routing_failed("flow_gone");
            if let Some(a) = if_gone {
                self.run(ctx, *a);
            }
        }
    }

    fn send_to_core(&mut self, ctx: &mut Ctx<'_, Msg>, bytes: Vec<u8>) {
        if self.shared.core_tcp {
            self.send_to_core_tcp(ctx, bytes);
            return;
        }
        match (self.udp, self.core) {
            (Some(udp), Some(core)) => match ctx.send_to(udp, core, &bytes) {
                Ok(_) => self.metrics.add(Counter::CoreMessagesOut, 1),
                Err(e) => {
                    tracing::warn!(worker = self.index, %core, error = %e, "send to core failed");
                    self.metrics.routing_failed("core_send_failed");
                }
            },
            _ => self.metrics.routing_failed("core_send_failed"),
        }
    }

    fn send_to_core_tcp(&mut self, ctx: &mut Ctx<'_, Msg>, bytes: Vec<u8>) {
        let Some(core) = self.core else { return };
        match self.upstream {
            Upstream::Up(conn) => match ctx.send(conn, &bytes) {
                Ok(()) => self.metrics.add(Counter::CoreMessagesOut, 1),
                Err(e) => {
                    tracing::warn!(worker = self.index, %core, error = %e, "send to core failed");
                    self.core_unavailable(ctx, &bytes);
                }
            },
            Upstream::Connecting(_) => self.enqueue(ctx, bytes),
            Upstream::Down { retry_at, .. } if ctx.now() < retry_at => {
                self.core_unavailable(ctx, &bytes)
            }
            Upstream::Idle | Upstream::Down { .. } => match ctx.connect(core) {
                Ok(conn) => {
                    tracing::info!(worker = self.index, %core, "connecting to the core over TCP");
                    self.upstream = Upstream::Connecting(conn);
                    self.enqueue(ctx, bytes);
                }
                Err(e) => {
                    tracing::warn!(worker = self.index, %core, error = %e, "cannot connect to the core");
                    self.upstream_failed(ctx);
                    self.core_unavailable(ctx, &bytes);
                }
            },
        }
    }

    fn enqueue(&mut self, ctx: &mut Ctx<'_, Msg>, bytes: Vec<u8>) {
        if self.queue.len() >= UPSTREAM_QUEUE_MESSAGES
            || self.queue_bytes + bytes.len() > UPSTREAM_QUEUE_BYTES
        {
            self.core_unavailable(ctx, &bytes);
            return;
        }
        self.queue_bytes += bytes.len();
        self.queue.push_back(bytes);
    }

    /// The connection to the core failed: back off, and answer 503 to everything that waited.
    fn upstream_failed(&mut self, ctx: &mut Ctx<'_, Msg>) {
        let backoff = match self.upstream {
            Upstream::Down { backoff, .. } => (backoff * 2).min(UPSTREAM_BACKOFF_MAX),
            _ => Duration::from_secs(1),
        };
        self.upstream = Upstream::Down {
            retry_at: ctx.now() + backoff,
            backoff,
        };
        self.queue_bytes = 0;
        for bytes in std::mem::take(&mut self.queue) {
            self.core_unavailable(ctx, &bytes);
        }
    }

    /// A message for the core cannot go: a request is answered `503 Service Unavailable` (RFC 3261 §16.7:
    /// as if from the core, so it takes the way back through our Via), anything else is dropped.
    fn core_unavailable(&mut self, ctx: &mut Ctx<'_, Msg>, bytes: &[u8]) {
        self.metrics.routing_failed("core_send_failed");
        let Ok(msg) = sipscan::Message::parse(bytes) else {
            return;
        };
        if !matches!(msg.kind(), sipscan::Kind::Request { .. })
            || msg.method() == Some(sipscan::Method::Ack)
        {
            return;
        }
        let answer = edge::response::build(&msg, 503, "Service Unavailable", &["Retry-After: 5"]);
        self.edge.from_core(&answer, &mut self.actions);
        self.run_actions(ctx);
    }

    /// SIP bytes from the core over TCP (our connection or its own).
    fn sip_stream(&mut self, ctx: &mut Ctx<'_, Msg>, conn: Conn, state: &mut State, bytes: &[u8]) {
        let State::SipStream { framer } = state else {
            return;
        };
        framer.push(bytes);
        loop {
            match framer.next_message() {
                Ok(Some(msg)) => {
                    self.metrics.add(Counter::CoreMessagesIn, 1);
                    self.count_sip(&msg);
                    self.edge.from_core(&msg, &mut self.actions);
                    self.run_actions(ctx);
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(worker = self.index, error = %e, "closing a SIP stream from the core");
                    self.metrics.routing_failed("malformed");
                    *state = State::Closing { websocket: false };
                    ctx.close(conn, CloseReason::Local(0));
                    break;
                }
            }
        }
    }

    /// Drop lapsed registrations (at most once a second) and publish the binding count (O(1)).
    fn expire(&mut self, now: Timestamp) {
        if now.0 >= self.last_expire.0 + 1000 {
            self.last_expire = now;
            self.edge.expire(now);
        }
        self.metrics.bindings.store(
            self.edge.registrar().binding_count() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
    }
}

/// Whether the first bytes of a connection are a SIP start line (`... SIP/2.0` or `SIP/2.0 ...`), not HTTP.
fn looks_like_sip(bytes: &[u8]) -> bool {
    let start = bytes
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(bytes.len());
    let line = &bytes[start..];
    let line = &line[..line.iter().position(|&b| b == b'\n').unwrap_or(line.len())];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    line.starts_with(b"SIP/2.0 ") || line.ends_with(b" SIP/2.0")
}

/// The core-side hop of worker `index`: the configured host with port `base + index`.
fn core_hop_host_port(template: &str, base: u16, index: usize) -> String {
    let host = template.rsplit_once(':').map_or(template, |(h, _)| h);
    format!("{host}:{}", base as usize + index)
}

/// A short HTTP/1.1 answer that closes the connection.
pub fn http_response(code: u16, reason: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

impl Handler for Worker {
    type State = State;
    type Message = Msg;

    fn start(&mut self, ctx: &mut Ctx<'_, Msg>) {
        if let Some(local) = self.shared.core_local {
            let addr = SocketAddr::new(local.ip(), local.port() + self.index as u16);
            match ctx.bind_udp(addr) {
                Ok(udp) => self.udp = Some(udp),
                Err(e) => {
                    tracing::error!(worker = self.index, %addr, error = %e, "cannot bind the UDP socket toward the core")
                }
            }
        }
    }

    fn open(&mut self, ctx: &mut Ctx<'_, Msg>, conn: Conn, origin: Origin) -> State {
        if origin == Origin::Connected {
            tracing::info!(worker = self.index, "connected to the core over TCP");
            self.upstream = Upstream::Up(conn);
            self.queue_bytes = 0;
            for bytes in std::mem::take(&mut self.queue) {
                match ctx.send(conn, &bytes) {
                    Ok(()) => self.metrics.add(Counter::CoreMessagesOut, 1),
                    Err(_) => self.core_unavailable(ctx, &bytes),
                }
            }
            let framer = Box::new(edge::framer::StreamFramer::new(
                self.shared.max_message_size,
            ));
            return State::SipStream { framer };
        }
        self.metrics.add(Counter::Accepted, 1);
        if ctx.is_proxied(conn) {
            self.metrics.add(Counter::ProxyHeaders, 1);
        }
        self.metrics
            .open
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Some(ip) = ctx.peer_addr(conn).map(|a| a.ip())
            && !self.shared.trusted_proxies.contains(&ip)
        {
            match self.shared.ip_limits.admit(ip, ctx.now()) {
                Ok(()) => {
                    if self.shared.ip_limits.is_active() {
                        self.admitted.insert(conn, ip);
                    }
                }
                Err(r) => {
                    self.metrics.handshake_rejected(r.label());
                    let _ = ctx.send(
                        conn,
                        &http_response(
                            503,
                            "Service Unavailable",
                            "too many connections from your address\n",
                        ),
                    );
                    ctx.close(conn, CloseReason::Local(0));
                    return State::Closing { websocket: false };
                }
            }
        }
        let timer = ctx.arm_timer(conn, self.shared.handshake_timeout, TIMER_HANDSHAKE);
        let hs = ServerHandshake::new(ServerConfig {
            subprotocols: vec!["sip".into()],
            ..ServerConfig::default()
        });
        State::Handshake {
            hs: Box::new(hs),
            timer,
            head: Vec::new(),
        }
    }

    fn data(&mut self, ctx: &mut Ctx<'_, Msg>, conn: Conn, state: &mut State, bytes: &[u8]) {
        match state {
            State::Handshake { .. } => self.handshake(ctx, conn, state, bytes),
            State::Open { .. } => {
                let now = self.now(ctx);
                self.websocket(ctx, conn, state, bytes);
                self.expire(now);
            }
            State::SipStream { .. } => self.sip_stream(ctx, conn, state, bytes),
            State::Closing { .. } => {}
        }
    }

    fn timer(&mut self, ctx: &mut Ctx<'_, Msg>, conn: Conn, state: &mut State, token: u64) {
        match (token, &mut *state) {
            (TIMER_HANDSHAKE, State::Handshake { .. }) => {
                self.metrics.handshake_rejected("timeout");
                *state = State::Closing { websocket: false };
                let _ = ctx.send(
                    conn,
                    &http_response(
                        408,
                        "Request Timeout",
                        "WebSocket handshake took too long\n",
                    ),
                );
                ctx.close(conn, CloseReason::Local(0));
            }
            (
                TIMER_KEEPALIVE,
                State::Open {
                    ws,
                    timer,
                    last_rx_ms,
                    ..
                },
            ) => {
                let idle = Duration::from_millis(self.now(ctx).0.saturating_sub(*last_rx_ms));
                if idle >= self.shared.idle_timeout {
                    self.frame.clear();
                    let _ = ws.close(1001, "idle", &mut self.frame, None);
                    let _ = ctx.send(conn, &self.frame);
                    *state = State::Closing { websocket: true };
                    ctx.close(conn, CloseReason::Local(1001));
                    return;
                }
                self.frame.clear();
                match ws.on_timeout(ctx.now(), &mut self.frame, None) {
                    Ok(wsproto::Timeout::PongMissing) => {
                        self.metrics.add(Counter::PongMissing, 1);
                        *state = State::Closing { websocket: true };
                        ctx.abort(conn, CloseReason::Local(1001));
                        return;
                    }
                    Ok(_) => {
                        if !self.frame.is_empty() {
                            let _ = ctx.send(conn, &self.frame);
                        }
                    }
                    Err(_) => {}
                }
                *timer = ws.poll_timeout().map(|at| {
                    ctx.arm_timer(
                        conn,
                        at.saturating_duration_since(ctx.now()),
                        TIMER_KEEPALIVE,
                    )
                });
            }
            _ => {}
        }
    }

    fn closed(&mut self, ctx: &mut Ctx<'_, Msg>, conn: Conn, state: State, reason: CloseReason) {
        if matches!(self.upstream, Upstream::Up(c) | Upstream::Connecting(c) if c == conn) {
            tracing::warn!(
                worker = self.index,
                ?reason,
                "TCP connection to the core closed"
            );
            self.upstream = Upstream::Idle;
            return;
        }
        if let Some(ip) = self.admitted.remove(&conn) {
            self.shared.ip_limits.release(ip);
        }
        self.metrics.add(Counter::Closed, 1);
        self.metrics
            .open
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        if reason == CloseReason::SlowConsumer {
            self.metrics.add(Counter::SlowConsumers, 1);
        }
        let was_open = state.is_websocket();
        if was_open {
            self.metrics
                .websockets
                .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        }
        if was_open && self.shared.core.is_none() {
            let flow = self.flow_of(conn);
            self.edge.flow_closed(&flow);
            for w in 0..ctx.workers() {
                if w != self.index {
                    let _ = ctx.post(w, Msg::FlowClosed(flow));
                }
            }
            let now = self.now(ctx);
            self.expire(now);
        }
    }

    fn message(&mut self, ctx: &mut Ctx<'_, Msg>, msg: Msg) {
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
            Msg::CoreAddress(addr) => {
                if self.core != Some(addr) {
                    tracing::info!(worker = self.index, %addr, "core address changed");
                    self.core = Some(addr);
                    // A TCP connection to the old address is left to close by itself; new ones go to `addr`.
                    if let Upstream::Down { .. } = self.upstream {
                        self.upstream = Upstream::Idle;
                    }
                }
            }
            Msg::FlowClosed(flow) => {
                self.edge.flow_closed(&flow);
                let now = self.now(ctx);
                self.expire(now);
            }
        }
    }

    fn datagram(&mut self, ctx: &mut Ctx<'_, Msg>, _udp: Udp, from: SocketAddr, bytes: &[u8]) {
        self.metrics.add(Counter::CoreMessagesIn, 1);
        if self.shared.core.is_none() {
            tracing::debug!(%from, "datagram in standalone mode ignored");
            return;
        }
        self.count_sip(bytes);
        self.edge.from_core(bytes, &mut self.actions);
        self.run_actions(ctx);
    }

    fn proxy_rejected(
        &mut self,
        _ctx: &mut Ctx<'_, Msg>,
        peer: Option<SocketAddr>,
        why: ProxyRejection,
    ) {
        tracing::debug!(worker = self.index, ?peer, %why, "PROXY protocol header refused");
        self.metrics.proxy_rejected(why.label());
    }

    fn connect_failed(&mut self, ctx: &mut Ctx<'_, Msg>, conn: Conn, error: std::io::Error) {
        if self.upstream == Upstream::Connecting(conn) {
            tracing::warn!(worker = self.index, %error, "cannot connect to the core over TCP");
            self.upstream_failed(ctx);
        }
    }

    fn slow_consumer(
        &mut self,
        _ctx: &mut Ctx<'_, Msg>,
        _conn: Conn,
        state: &mut State,
    ) -> CloseReason {
        *state = State::Closing {
            websocket: state.is_websocket(),
        };
        CloseReason::SlowConsumer
    }

    fn shutdown(&mut self, ctx: &mut Ctx<'_, Msg>, conn: Conn, state: &mut State) {
        if let State::Open { ws, .. } = state {
            self.frame.clear();
            if ws
                .close(1001, "server shutting down", &mut self.frame, None)
                .is_ok()
            {
                let _ = ctx.send(conn, &self.frame);
            }
        }
        *state = State::Closing {
            websocket: state.is_websocket(),
        };
        ctx.close(conn, CloseReason::Local(1001));
    }
}
