//! What the edge logic is configured with (filled in by the daemon from its TOML and its sockets).

use crate::registrar::RegistrarConfig;
use crate::stamp::Hop;

/// Where requests from browsers go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// No core: the embedded registrar and a proxy between registered browsers.
    Standalone,
    /// Every request from a browser goes to the SIP core, whatever its Request-URI.
    Edge,
}

/// The edge's settings for one worker.
#[derive(Debug, Clone)]
pub struct EdgeConfig {
    /// Standalone or edge.
    pub mode: Mode,
    /// This node's id (in flow tokens).
    pub node: u32,
    /// This worker's index.
    pub worker: u16,
    /// Number of workers (registrar shards in standalone mode).
    pub workers: u16,
    /// The WebSocket-side hop as browsers reach it (the listener's advertised host:port).
    pub ws_hop: Hop,
    /// The advertised host:port of the secure WebSocket (wss) listener when it differs from `ws_hop`'s (ws and
    /// wss listeners side by side); `None`: `ws_hop`'s serves both.
    pub wss_host_port: Option<String>,
    /// This worker's hop toward the core (its own UDP/TCP socket address, so that the core's answers and the
    /// requests it sends along our Path / Record-Route come back to this worker).
    pub core_hop: Hop,
    /// Every `host:port` that names this edge (all listeners, all workers' core hops): Route entries with one of
    /// these are ours and are popped (RFC 3261 §16.4).
    pub own_addresses: Vec<String>,
    /// SIP domains served in standalone mode (empty: any).
    pub domains: Vec<String>,
    /// Largest SIP message accepted from a browser (larger: 513 Message Too Large).
    pub max_message_size: usize,
    /// Salt of the stateless branch (random per start).
    pub branch_salt: u64,
    /// Standalone registrar limits.
    pub registrar: RegistrarConfig,
}
