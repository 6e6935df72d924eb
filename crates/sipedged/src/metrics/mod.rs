//! Counters, one set per worker (each worker writes only its own, relaxed atomics: nothing shared on the hot
//! path), rendered in the Prometheus text format by the admin endpoint.

use std::sync::atomic::{AtomicU64, Ordering};

pub mod histogram;
mod reason;
pub mod targets;

pub use reason::{HandshakeRejection, ProxyRejection, RoutingFailure};

/// A counter's meaning; the index into a worker's counter array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    /// Connections accepted.
    Accepted,
    /// WebSocket handshakes completed.
    Upgraded,
    /// Connections closed (any state).
    Closed,
    /// WebSocket messages received.
    WsMessagesIn,
    /// WebSocket message payload bytes received.
    WsBytesIn,
    /// WebSocket messages sent.
    WsMessagesOut,
    /// WebSocket message payload bytes sent.
    WsBytesOut,
    /// Datagrams / messages received from the core.
    CoreMessagesIn,
    /// Messages sent to the core.
    CoreMessagesOut,
    /// WebSocket protocol errors (we closed with 1002/1007/1009).
    WsProtocolErrors,
    /// Keepalive pings that got no pong.
    PongMissing,
    /// Connections closed because their send queue was full.
    SlowConsumers,
    /// Messages for a flow that was gone.
    FlowGone,
    /// Connections from trusted proxies whose PROXY protocol header was read.
    ProxyHeaders,
    /// Upgrade requests whose X-Forwarded-For was not believed (the peer is not a trusted proxy, or the
    /// client's address came from a PROXY protocol header).
    ForwardedForIgnored,
    /// permessage-deflate: payload bytes of the compressed messages received, as they came.
    DeflateWireBytesIn,
    /// permessage-deflate: the same messages' bytes once inflated.
    DeflatePlainBytesIn,
    /// permessage-deflate: payload bytes of the compressed messages sent, as they went.
    DeflateWireBytesOut,
    /// permessage-deflate: the same messages' bytes before compression.
    DeflatePlainBytesOut,
    /// Requests sent again to a UDP core that had not answered yet.
    CoreRetransmissions,
    /// Requests sent to a UDP core without a client transaction (the table was full).
    CoreUntracked,
    /// Final responses a UDP core sent again to a completed transaction, dropped (the browser had them).
    CoreRetransmissionsAbsorbed,
}

const COUNTERS: usize = 22;

/// SIP request methods counted by name; others go to `other`.
pub const METHODS: [&str; 15] = [
    "INVITE",
    "ACK",
    "BYE",
    "CANCEL",
    "REGISTER",
    "OPTIONS",
    "INFO",
    "UPDATE",
    "PRACK",
    "SUBSCRIBE",
    "NOTIFY",
    "REFER",
    "MESSAGE",
    "PUBLISH",
    "other",
];

/// One worker's counters.
#[derive(Debug)]
pub struct WorkerMetrics {
    counters: [AtomicU64; COUNTERS],
    requests: [AtomicU64; METHODS.len()],
    responses: [AtomicU64; 6],
    handshake_rejections: [AtomicU64; HandshakeRejection::ALL.len()],
    routing_failures: [AtomicU64; RoutingFailure::ALL.len()],
    proxy_rejections: [AtomicU64; ProxyRejection::ALL.len()],
    /// Connections currently open on the worker (WebSocket or not).
    pub open: AtomicU64,
    /// Of those, the ones with a completed WebSocket handshake.
    pub websockets: AtomicU64,
    /// Bindings in the worker's registrar shard.
    pub bindings: AtomicU64,
    /// ringmux's counters of the worker's connections, as of its last event ([`WorkerMetrics::io_stats`]).
    io: IoStats,
    /// From a browser's message reaching the worker to its forward toward the core.
    pub forward_to_core: histogram::Histogram,
    /// From a message for a browser reaching the worker to its forward on the browser's WebSocket.
    pub forward_to_client: histogram::Histogram,
    /// From a connection's start (after TLS and a PROXY header) to its 101.
    pub handshake: histogram::Histogram,
    /// The worker loop's busy time, microseconds, as of its last event.
    busy_us: AtomicU64,
}

/// The part of [`ringmux::Stats`] the daemon publishes (copied by the worker, read by the admin endpoint).
#[derive(Debug, Default)]
pub struct IoStats {
    /// Graceful closes aborted because the peer had not read its queue within `[limits] close_timeout`.
    pub close_aborted: AtomicU64,
    /// Connections refused at accept: the connection table was full (or `[limits] max_connections`).
    pub shed: AtomicU64,
    /// Connections still open when the shutdown grace ended, aborted.
    pub aborted_at_deadline: AtomicU64,
}

impl Default for WorkerMetrics {
    fn default() -> Self {
        Self {
            counters: std::array::from_fn(|_| AtomicU64::new(0)),
            requests: std::array::from_fn(|_| AtomicU64::new(0)),
            responses: std::array::from_fn(|_| AtomicU64::new(0)),
            handshake_rejections: std::array::from_fn(|_| AtomicU64::new(0)),
            routing_failures: std::array::from_fn(|_| AtomicU64::new(0)),
            proxy_rejections: std::array::from_fn(|_| AtomicU64::new(0)),
            open: AtomicU64::new(0),
            websockets: AtomicU64::new(0),
            bindings: AtomicU64::new(0),
            io: IoStats::default(),
            forward_to_core: Default::default(),
            forward_to_client: Default::default(),
            handshake: Default::default(),
            busy_us: AtomicU64::new(0),
        }
    }
}

impl WorkerMetrics {
    /// Add `n` to a counter.
    pub fn add(&self, c: Counter, n: u64) {
        self.counters[c as usize].fetch_add(n, Ordering::Relaxed);
    }

    /// Count a SIP request by method.
    pub fn request(&self, method: &[u8]) {
        let i = METHODS
            .iter()
            .position(|m| m.as_bytes() == method)
            .unwrap_or(METHODS.len() - 1);
        self.requests[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Count a SIP response by class (1xx..6xx).
    pub fn response(&self, code: u16) {
        let class = usize::from(code / 100).clamp(1, 6) - 1;
        self.responses[class].fetch_add(1, Ordering::Relaxed);
    }

    /// Count a handshake rejection.
    pub fn handshake_rejected(&self, reason: HandshakeRejection) {
        self.handshake_rejections[reason.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Count a routing failure.
    pub fn routing_failed(&self, reason: RoutingFailure) {
        self.routing_failures[reason.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Count a PROXY protocol rejection.
    pub fn proxy_rejected(&self, reason: ProxyRejection) {
        self.proxy_rejections[reason.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Publish the worker's ringmux counters (three relaxed stores; the worker calls it on its connections'
    /// events, so the figures are as of its last event).
    pub fn io_stats(&self, s: &ringmux::Stats) {
        self.io
            .close_aborted
            .store(s.close_aborted, Ordering::Relaxed);
        self.io.shed.store(s.shed, Ordering::Relaxed);
        self.io
            .aborted_at_deadline
            .store(s.aborted_at_deadline, Ordering::Relaxed);
    }

    /// Publish the worker loop's busy time (one relaxed store; the worker calls it on its events).
    pub fn busy(&self, busy: std::time::Duration) {
        self.busy_us
            .store(busy.as_micros() as u64, Ordering::Relaxed);
    }

    fn get(&self, c: Counter) -> u64 {
        self.counters[c as usize].load(Ordering::Relaxed)
    }
}

mod render;

pub use render::render;

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn every_proxy_rejection_has_a_label() {
        use ringmux::proxy_header::ProxyHeaderError as E;
        for why in [
            ringmux::ProxyRejection::Invalid(E::Version1),
            ringmux::ProxyRejection::Invalid(E::Signature { at: 0, found: 0 }),
            ringmux::ProxyRejection::Invalid(E::Version(1)),
            ringmux::ProxyRejection::Invalid(E::Command(2)),
            ringmux::ProxyRejection::Invalid(E::Unsupported {
                family: 3,
                protocol: 1,
            }),
            ringmux::ProxyRejection::Invalid(E::TooLong {
                total: 600,
                max: 536,
            }),
            ringmux::ProxyRejection::Invalid(E::Short { len: 1, need: 12 }),
            ringmux::ProxyRejection::Timeout,
            ringmux::ProxyRejection::Closed,
        ] {
            assert!(
                self::ProxyRejection::of(&why).is_some(),
                "{why:?} labelled {:?}, not a ProxyRejection",
                why.label()
            );
        }
    }

    #[test]
    fn renders_per_worker_and_labelled_counters() {
        let a = Arc::new(WorkerMetrics::default());
        let b = Arc::new(WorkerMetrics::default());
        a.add(Counter::Accepted, 3);
        b.add(Counter::Accepted, 4);
        a.request(b"INVITE");
        b.request(b"FOO");
        a.response(200);
        b.response(487);
        a.handshake_rejected(HandshakeRejection::Origin);
        b.routing_failed(RoutingFailure::BadFlowToken);
        a.proxy_rejected(ProxyRejection::Timeout);
        b.proxy_rejected(ProxyRejection::Timeout);
        a.add(Counter::ProxyHeaders, 2);
        b.io_stats(&ringmux::Stats {
            close_aborted: 5,
            shed: 6,
            aborted_at_deadline: 7,
            ..ringmux::Stats::default()
        });
        a.forward_to_core
            .observe(std::time::Duration::from_micros(30));
        b.forward_to_core
            .observe(std::time::Duration::from_micros(700));
        b.handshake.observe(std::time::Duration::from_millis(3));
        b.busy(std::time::Duration::from_millis(1500));
        let t = render(&[a, b]);
        for line in [
            "sipedge_forward_seconds_bucket{direction=\"to_core\",le=\"0.00005\"} 1",
            "sipedge_forward_seconds_bucket{direction=\"to_core\",le=\"0.001\"} 2",
            "sipedge_forward_seconds_count{direction=\"to_core\"} 2",
            "sipedge_forward_seconds_count{direction=\"to_client\"} 0",
            "sipedge_handshake_seconds_bucket{le=\"0.005\"} 1",
            "# TYPE sipedge_handshake_seconds histogram",
            "sipedge_worker_busy_seconds_total{worker=\"0\"} 0",
            "sipedge_worker_busy_seconds_total{worker=\"1\"} 1.5",
            "sipedge_connections_accepted_total{worker=\"0\"} 3",
            "sipedge_connections_accepted_total{worker=\"1\"} 4",
            "sipedge_sip_requests_total{method=\"INVITE\"} 1",
            "sipedge_sip_requests_total{method=\"other\"} 1",
            "sipedge_sip_responses_total{class=\"2xx\"} 1",
            "sipedge_sip_responses_total{class=\"4xx\"} 1",
            "sipedge_handshake_rejections_total{reason=\"origin\"} 1",
            "sipedge_routing_failures_total{reason=\"bad_flow_token\"} 1",
            "sipedge_flow_token_rejections_total 1",
            "sipedge_proxy_header_rejections_total{reason=\"timeout\"} 2",
            "sipedge_proxy_header_rejections_total{reason=\"signature\"} 0",
            "sipedge_proxy_headers_total{worker=\"0\"} 2",
            "sipedge_close_aborted_total{worker=\"0\"} 0",
            "sipedge_close_aborted_total{worker=\"1\"} 5",
            "sipedge_connections_shed_total{worker=\"1\"} 6",
            "sipedge_connections_aborted_at_deadline_total{worker=\"1\"} 7",
            "# TYPE sipedge_close_aborted_total counter",
        ] {
            assert!(t.lines().any(|l| l == line), "missing {line:?} in\n{t}");
        }
    }
}
