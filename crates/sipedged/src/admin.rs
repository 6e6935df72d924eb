//! The admin endpoint, off the data path: Prometheus `/metrics`, the same figures as JSON at `/status.json`, and
//! the operator page at `/` (plain HTML/JS that polls `/status.json` every second).
//!
//! It faces whoever can reach its address (a Kubernetes probe, Prometheus, an operator, or anyone else), so no
//! client can hold it up for the others: each connection is served on its own thread, bounded in number in total
//! and per peer ([`server`]); each request head is bounded in size and time, and a refusal is a clear HTTP status
//! (`431`, `408`, `400`, `405`, `503`), never a wait ([`http`]).

mod http;
mod server;
mod status;

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use crate::metrics::{WorkerMetrics, render};
use crate::targets::Registry;

/// What the endpoint reports: every worker's counters, and the core's targets (edge mode).
#[derive(Debug)]
pub struct Sources {
    /// Per worker.
    pub workers: Vec<Arc<WorkerMetrics>>,
    /// Per target of the core.
    pub targets: Option<Registry>,
    /// SIP capture's counters.
    pub capture: Option<Arc<crate::capture::Stats>>,
}

/// The operator page.
const OPERATOR_PAGE: &str = include_str!("admin/operator.html");

/// Bind the admin listener and serve it on a background thread.
pub fn spawn(
    addr: SocketAddr,
    workers: Vec<Arc<WorkerMetrics>>,
    targets: Option<Registry>,
    capture: Option<Arc<crate::capture::Stats>>,
) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let local = listener.local_addr()?;
    let sources = Arc::new(Sources {
        workers,
        targets,
        capture,
    });
    std::thread::Builder::new()
        .name("sipedge-admin".into())
        .spawn(move || server::accept_loop(listener, sources))?;
    Ok(local)
}

/// Status line, Content-Type and body for a request-target.
fn answer(
    target: &str,
    metrics: &[Arc<WorkerMetrics>],
    targets: Option<&Registry>,
    capture: Option<&crate::capture::Stats>,
) -> (&'static str, &'static str, String) {
    let path = target.split('?').next().unwrap_or_default();
    match path {
        "/metrics" => {
            let mut text = render(metrics);
            if let Some(r) = targets {
                crate::metrics::targets::render(&mut text, r);
            }
            if let Some(c) = capture {
                c.render(&mut text);
            }
            ("200 OK", "text/plain; version=0.0.4", text)
        }
        "/status.json" => (
            "200 OK",
            "application/json",
            status::json(env!("CARGO_PKG_VERSION"), metrics.len(), &render(metrics)),
        ),
        "/" | "/index.html" => (
            "200 OK",
            "text/html; charset=utf-8",
            OPERATOR_PAGE.to_string(),
        ),
        _ => ("404 Not Found", "text/plain", "not found\n".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Counter;

    #[test]
    fn operator_page_polls_status_json() {
        let (status, ctype, body) = answer("/", &[], None, None);
        assert_eq!(status, "200 OK");
        assert_eq!(ctype, "text/html; charset=utf-8");
        assert!(body.starts_with("<!doctype html>"));
        assert!(
            body.contains("fetch('/status.json'"),
            "the page must poll /status.json"
        );
    }

    #[test]
    fn status_json_and_metrics_carry_the_same_figures() {
        let a = Arc::new(WorkerMetrics::default());
        let b = Arc::new(WorkerMetrics::default());
        a.open.store(3, std::sync::atomic::Ordering::Relaxed);
        b.bindings.store(2, std::sync::atomic::Ordering::Relaxed);
        b.add(Counter::WsMessagesIn, 7);
        a.handshake_rejected(crate::metrics::HandshakeRejection::Origin);
        let workers = [a, b];
        let (_, ctype, json) = answer("/status.json?t=1", &workers, None, None);
        assert_eq!(ctype, "application/json");
        assert!(json.contains(r#""workers":2"#), "{json}");
        // Connections carry more labels than the worker (e.g. state); worker 0's figures add up to 3.
        let connections = json
            .split_once(r#""sipedge_connections":{"0":"#)
            .and_then(|(_, rest)| rest.split_once(r#","1":"#))
            .map(|(worker0, _)| worker0)
            .unwrap_or_default();
        let total: u64 = connections
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|n| n.parse::<u64>().ok())
            .sum();
        assert_eq!(total, 3, "{json}");
        assert!(
            json.contains(r#""sipedge_registrations":{"0":0,"1":2}"#),
            "{json}"
        );
        assert!(
            json.contains(r#""sipedge_ws_messages_in_total":{"0":0,"1":7}"#),
            "{json}"
        );
        assert!(json.contains(r#""origin":1"#), "{json}");
        let (_, _, metrics) = answer("/metrics", &workers, None, None);
        assert!(metrics.contains("sipedge_ws_messages_in_total{worker=\"1\"} 7"));
    }

    #[test]
    fn unknown_paths_are_404() {
        assert_eq!(answer("/nope", &[], None, None).0, "404 Not Found");
    }
}
