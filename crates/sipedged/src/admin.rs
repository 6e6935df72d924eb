//! The admin endpoint, off the data path: Prometheus `/metrics`, the same figures as JSON at `/status.json`, the
//! operator page at `/` (plain HTML/JS that polls `/status.json` every second), and the admin API under
//! `/admin/` (JSON): list and find connections, close one, drain the node, reload the configuration, and show
//! the standalone registrar's bindings ([`api`]).
//!
//! It faces whoever can reach its address (a Kubernetes probe, Prometheus, an operator, or anyone else), so no
//! client can hold it up for the others ([`server`]), and the API is only for the operator ([`routes`]): with
//! `[admin] token` set, every API request must carry it; without one the API answers only on a loopback
//! listener, to requests naming a loopback host (a web page elsewhere cannot reach it through the browser).

mod api;
mod routes;
mod server;
mod status;

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use edge::flow_token::FlowTokenKey;

use crate::metrics::WorkerMetrics;
use crate::reload::ReloadAsk;
use crate::targets::Registry;
use crate::worker::Msg;

/// Binds `addr`, trying again for up to `wait` while another process holds it (the node this one took over
/// from, until it exits).
fn bind_when_free(addr: SocketAddr, wait: std::time::Duration) -> std::io::Result<TcpListener> {
    let until = std::time::Instant::now() + wait;
    loop {
        match TcpListener::bind(addr) {
            Err(e)
                if e.kind() == std::io::ErrorKind::AddrInUse
                    && std::time::Instant::now() < until =>
            {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            other => return other,
        }
    }
}

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

/// How the admin API reaches the running node.
#[derive(Debug)]
pub struct Operator {
    /// Posts to the workers.
    pub poster: ringmux::Poster<Msg>,
    /// Opens the flow tokens the API is given.
    pub key: FlowTokenKey,
    /// This node's id in its flow tokens.
    pub node: u32,
    /// Standalone (the registrar's bindings are here) or in front of a core.
    pub standalone: bool,
    /// Asks the main thread to reload the configuration.
    pub reload: std::sync::mpsc::Sender<ReloadAsk>,
}

/// Everything the endpoint serves from.
#[derive(Debug)]
pub struct App {
    /// The figures.
    pub sources: Sources,
    /// The node, for the API.
    pub operator: Operator,
    /// `[admin] token`: the API needs it as `Authorization: Bearer`.
    pub token: Option<String>,
    /// Whether the listener is on a loopback address (without a token, the API answers only then).
    pub loopback: bool,
    /// Set once a drain was ordered.
    pub draining: AtomicBool,
}

/// The operator page.
const OPERATOR_PAGE: &str = include_str!("admin/operator.html");

/// Bind the admin listener and serve it on a background thread.
pub fn spawn(
    addr: SocketAddr,
    sources: Sources,
    operator: Operator,
    token: Option<String>,
    wait: std::time::Duration,
) -> std::io::Result<SocketAddr> {
    let listener = bind_when_free(addr, wait)?;
    let local = listener.local_addr()?;
    let app = Arc::new(App {
        sources,
        operator,
        token,
        loopback: local.ip().is_loopback(),
        draining: AtomicBool::new(false),
    });
    if app.token.is_none() && !app.loopback {
        tracing::warn!(%local, "the admin API is off on a non-loopback address without [admin] token (metrics and the status page are served)");
    }
    std::thread::Builder::new()
        .name("sipedge-admin".into())
        .spawn(move || server::run(listener, app))?;
    Ok(local)
}
