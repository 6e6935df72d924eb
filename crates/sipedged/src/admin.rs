//! The admin endpoint: Prometheus `/metrics` (and a plain status line at `/`), on its own thread, off the
//! data path.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use crate::metrics::{WorkerMetrics, render};

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
    let path = line.split_whitespace().nth(1).unwrap_or("/");
    let (status, ctype, body) = match path {
        "/metrics" => ("200 OK", "text/plain; version=0.0.4", render(metrics)),
        "/" => (
            "200 OK",
            "text/plain; charset=utf-8",
            format!(
                "sipedge {} — metrics at /metrics\n",
                env!("CARGO_PKG_VERSION")
            ),
        ),
        _ => ("404 Not Found", "text/plain", "not found\n".to_string()),
    };
    let mut s = stream;
    write!(
        s,
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    s.flush()
}
