//! The admin endpoint, on its own thread, off the data path: Prometheus `/metrics`, the same figures as JSON at
//! `/status.json`, and the operator page at `/` (plain HTML/JS that polls `/status.json` every second).

mod status;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use crate::metrics::{WorkerMetrics, render};

/// The operator page.
const OPERATOR_PAGE: &str = include_str!("admin/operator.html");

/// Bind the admin listener and serve it on a background thread.
pub fn spawn(addr: SocketAddr, metrics: Vec<Arc<WorkerMetrics>>) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let local = listener.local_addr()?;
    std::thread::Builder::new()
        .name("sipedge-admin".into())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                if let Err(e) = serve(stream, &metrics) {
                    tracing::debug!(error = %e, "admin request failed");
                }
            }
        })?;
    Ok(local)
}

fn serve(stream: TcpStream, metrics: &[Arc<WorkerMetrics>]) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    // Drain the request head (bounded).
    let mut header = String::new();
    for _ in 0..100 {
        header.clear();
        if reader.read_line(&mut header)? == 0 || header == "\r\n" || header == "\n" {
            break;
        }
    }
    let mut words = line.split_whitespace();
    let method = words.next().unwrap_or_default();
    let target = words.next().unwrap_or("/");
    let (status, ctype, body) = answer(target, metrics);
    let mut s = stream;
    write!(
        s,
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nCache-Control: no-store\r\n\
         X-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    if method != "HEAD" {
        s.write_all(body.as_bytes())?;
    }
    s.flush()
}

/// Status line, Content-Type and body for a request-target.
fn answer(target: &str, metrics: &[Arc<WorkerMetrics>]) -> (&'static str, &'static str, String) {
    let path = target.split('?').next().unwrap_or_default();
    match path {
        "/metrics" => ("200 OK", "text/plain; version=0.0.4", render(metrics)),
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
        let (status, ctype, body) = answer("/", &[]);
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
        let (_, ctype, json) = answer("/status.json?t=1", &workers);
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
        let (_, _, metrics) = answer("/metrics", &workers);
        assert!(metrics.contains("sipedge_ws_messages_in_total{worker=\"1\"} 7"));
    }

    #[test]
    fn unknown_paths_are_404() {
        assert_eq!(answer("/nope", &[]).0, "404 Not Found");
    }
}
