//! The Prometheus text format of all workers' counters.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{
    Counter, HandshakeRejection, IoStats, METHODS, ProxyRejection, RoutingFailure, WorkerMetrics,
    histogram,
};

/// The plain per-worker counters: name, help, counter.
const SIMPLE: [(&str, &str, Counter); 21] = [
    (
        "sipedge_connections_accepted_total",
        "TCP connections accepted",
        Counter::Accepted,
    ),
    (
        "sipedge_websocket_upgrades_total",
        "WebSocket handshakes completed",
        Counter::Upgraded,
    ),
    (
        "sipedge_connections_closed_total",
        "Connections closed",
        Counter::Closed,
    ),
    (
        "sipedge_ws_messages_in_total",
        "WebSocket messages received",
        Counter::WsMessagesIn,
    ),
    (
        "sipedge_ws_bytes_in_total",
        "WebSocket payload bytes received",
        Counter::WsBytesIn,
    ),
    (
        "sipedge_ws_messages_out_total",
        "WebSocket messages sent",
        Counter::WsMessagesOut,
    ),
    (
        "sipedge_ws_bytes_out_total",
        "WebSocket payload bytes sent",
        Counter::WsBytesOut,
    ),
    (
        "sipedge_ws_deflate_wire_bytes_in_total",
        "permessage-deflate: payload bytes of compressed messages received, compressed",
        Counter::DeflateWireBytesIn,
    ),
    (
        "sipedge_ws_deflate_plain_bytes_in_total",
        "permessage-deflate: payload bytes of compressed messages received, inflated",
        Counter::DeflatePlainBytesIn,
    ),
    (
        "sipedge_ws_deflate_wire_bytes_out_total",
        "permessage-deflate: payload bytes of compressed messages sent, compressed",
        Counter::DeflateWireBytesOut,
    ),
    (
        "sipedge_ws_deflate_plain_bytes_out_total",
        "permessage-deflate: payload bytes of compressed messages sent, before compression",
        Counter::DeflatePlainBytesOut,
    ),
    (
        "sipedge_core_retransmissions_total",
        "Requests sent again to a UDP core that had not answered (RFC 3261 Timers A and E)",
        Counter::CoreRetransmissions,
    ),
    (
        "sipedge_core_untracked_requests_total",
        "Requests sent once to a UDP core, the table of client transactions being full",
        Counter::CoreUntracked,
    ),
    (
        "sipedge_core_retransmissions_absorbed_total",
        "Final responses a UDP core sent again to a completed transaction, not passed on (RFC 3261 Timer K)",
        Counter::CoreRetransmissionsAbsorbed,
    ),
    (
        "sipedge_core_messages_in_total",
        "SIP messages received from the core",
        Counter::CoreMessagesIn,
    ),
    (
        "sipedge_core_messages_out_total",
        "SIP messages sent to the core",
        Counter::CoreMessagesOut,
    ),
    (
        "sipedge_ws_protocol_errors_total",
        "WebSocket protocol errors (closed 1002/1007/1009)",
        Counter::WsProtocolErrors,
    ),
    (
        "sipedge_keepalive_pong_missing_total",
        "Keepalive pings without a pong",
        Counter::PongMissing,
    ),
    (
        "sipedge_slow_consumers_total",
        "Connections closed for a full send queue",
        Counter::SlowConsumers,
    ),
    (
        "sipedge_proxy_headers_total",
        "Connections from trusted proxies with a PROXY protocol v2 header read",
        Counter::ProxyHeaders,
    ),
    (
        "sipedge_forwarded_for_ignored_total",
        "Upgrade requests whose X-Forwarded-For was not believed (untrusted peer, or PROXY protocol)",
        Counter::ForwardedForIgnored,
    ),
];

/// ringmux's per-worker counters: name, help, the counter.
type IoCounter = (&'static str, &'static str, fn(&IoStats) -> &AtomicU64);
const IO: [IoCounter; 3] = [
    (
        "sipedge_close_aborted_total",
        "Graceful closes aborted because the peer did not read its queued bytes within [limits] close_timeout \
         (a zero-window reader)",
        |s| &s.close_aborted,
    ),
    (
        "sipedge_connections_shed_total",
        "Connections refused at accept because the connection table was full ([limits] max_connections or \
         the kernel's descriptor limit)",
        |s| &s.shed,
    ),
    (
        "sipedge_connections_aborted_at_deadline_total",
        "Connections still open when the shutdown grace ended, aborted",
        |s| &s.aborted_at_deadline,
    ),
];

/// Render all workers' counters as Prometheus text.
pub fn render(workers: &[Arc<WorkerMetrics>]) -> String {
    let mut s = String::with_capacity(8192);
    gauges(&mut s, workers);
    for (name, help, c) in SIMPLE {
        header(&mut s, name, help, "counter");
        for (w, m) in workers.iter().enumerate() {
            let _ = writeln!(s, "{name}{{worker=\"{w}\"}} {}", m.get(c));
        }
    }
    for (name, help, c) in IO {
        header(&mut s, name, help, "counter");
        for (w, m) in workers.iter().enumerate() {
            let n = c(&m.io).load(Ordering::Relaxed);
            let _ = writeln!(s, "{name}{{worker=\"{w}\"}} {n}");
        }
    }
    let methods = METHODS
        .iter()
        .enumerate()
        .map(|(i, m)| (*m, sum(workers, |w| &w.requests[i])));
    labelled(
        &mut s,
        "sipedge_sip_requests_total",
        "SIP requests by method",
        "method",
        methods,
    );
    let classes = ["1xx", "2xx", "3xx", "4xx", "5xx", "6xx"];
    let classes = classes
        .iter()
        .enumerate()
        .map(|(i, c)| (*c, sum(workers, |w| &w.responses[i])));
    labelled(
        &mut s,
        "sipedge_sip_responses_total",
        "SIP responses by class",
        "class",
        classes,
    );
    let rejections = HandshakeRejection::ALL.iter().map(|r| {
        (
            r.label(),
            sum(workers, |w| &w.handshake_rejections[r.index()]),
        )
    });
    labelled(
        &mut s,
        "sipedge_handshake_rejections_total",
        "WebSocket handshakes refused, by reason",
        "reason",
        rejections,
    );
    let failures = RoutingFailure::ALL
        .iter()
        .map(|r| (r.label(), sum(workers, |w| &w.routing_failures[r.index()])));
    labelled(
        &mut s,
        "sipedge_routing_failures_total",
        "Messages not forwarded, by reason",
        "reason",
        failures,
    );
    let proxy = ProxyRejection::ALL
        .iter()
        .map(|r| (r.label(), sum(workers, |w| &w.proxy_rejections[r.index()])));
    labelled(
        &mut s,
        "sipedge_proxy_header_rejections_total",
        "Connections from trusted proxies closed without a valid PROXY protocol v2 header, by reason",
        "reason",
        proxy,
    );
    latency(&mut s, workers);
    let name = "sipedge_flow_token_rejections_total";
    header(&mut s, name, "Flow tokens that did not verify", "counter");
    let bad = sum(workers, |w| {
        &w.routing_failures[RoutingFailure::BadFlowToken.index()]
    });
    let _ = writeln!(s, "{name} {bad}");
    s
}

/// The latency histograms (summed over workers) and each worker's busy time.
fn latency(s: &mut String, workers: &[Arc<WorkerMetrics>]) {
    let name = "sipedge_forward_seconds";
    header(
        s,
        name,
        "From a SIP message reaching its worker (the end of the worker's wait for I/O) to its forward being \
         handed to the kernel (UDP) or queued on the connection, by direction",
        "histogram",
    );
    let to_core = histogram::sum(workers.iter().map(|w| &w.forward_to_core));
    histogram::render(s, name, "direction=\"to_core\"", &to_core);
    let to_client = histogram::sum(workers.iter().map(|w| &w.forward_to_client));
    histogram::render(s, name, "direction=\"to_client\"", &to_client);
    let name = "sipedge_handshake_seconds";
    header(
        s,
        name,
        "WebSocket handshakes, from the connection's start (after TLS and a PROXY header) to the 101",
        "histogram",
    );
    histogram::render(
        s,
        name,
        "",
        &histogram::sum(workers.iter().map(|w| &w.handshake)),
    );
    let name = "sipedge_worker_busy_seconds_total";
    header(
        s,
        name,
        "Time each worker's loop spent handling events, outside its wait for I/O (its rate is the worker's \
         utilisation), as of the worker's last event",
        "counter",
    );
    for (w, m) in workers.iter().enumerate() {
        let us = m.busy_us.load(Ordering::Relaxed);
        let _ = writeln!(s, "{name}{{worker=\"{w}\"}} {}", us as f64 / 1e6);
    }
}

/// Connections by state and registrations, per worker.
fn gauges(s: &mut String, workers: &[Arc<WorkerMetrics>]) {
    header(
        s,
        "sipedge_connections",
        "Connections open, by state",
        "gauge",
    );
    for (w, m) in workers.iter().enumerate() {
        let open = m.open.load(Ordering::Relaxed);
        let ws = m.websockets.load(Ordering::Relaxed).min(open);
        let _ = writeln!(
            s,
            "sipedge_connections{{worker=\"{w}\",state=\"websocket\"}} {ws}"
        );
        let _ = writeln!(
            s,
            "sipedge_connections{{worker=\"{w}\",state=\"handshake\"}} {}",
            open - ws
        );
    }
    header(
        s,
        "sipedge_registrations",
        "Bindings in the standalone registrar",
        "gauge",
    );
    for (w, m) in workers.iter().enumerate() {
        let _ = writeln!(
            s,
            "sipedge_registrations{{worker=\"{w}\"}} {}",
            m.bindings.load(Ordering::Relaxed)
        );
    }
}

fn header(s: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// A counter summed over workers, one line per label value.
fn labelled<'a>(
    s: &mut String,
    name: &str,
    help: &str,
    label: &str,
    values: impl Iterator<Item = (&'a str, u64)>,
) {
    header(s, name, help, "counter");
    for (value, n) in values {
        let _ = writeln!(s, "{name}{{{label}=\"{value}\"}} {n}");
    }
}

/// One counter summed over all workers.
fn sum(workers: &[Arc<WorkerMetrics>], counter: impl Fn(&WorkerMetrics) -> &AtomicU64) -> u64 {
    workers
        .iter()
        .map(|w| counter(w).load(Ordering::Relaxed))
        .sum()
}
