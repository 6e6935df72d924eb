//! What a session decides with: the listener's and the node's policy, read-only and shared by every session of
//! every worker.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use edge::time::Timestamp;

use crate::auth::Authenticator;
use crate::config::{OnExpiry, OverRate};
use crate::limits::{IpLimits, NodeHandshakeRate};
use crate::web::WebConfig;

/// One listener's handshake policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerPolicy {
    /// The URL path the upgrade is accepted on.
    pub path: String,
    /// Whether `[auth]` applies to handshakes on this listener.
    pub authenticate: bool,
}

/// A per-connection SIP request rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestRate {
    /// Requests per second.
    pub per_second: u32,
    /// Burst allowed above the rate.
    pub burst: u32,
    /// What a request over the rate gets.
    pub over: OverRate,
}

/// Everything a session's decisions depend on.
#[derive(Debug)]
pub struct Policy {
    /// Per listener, in `[[listen]]` order (a connection names its listener by index).
    pub listeners: Vec<ListenerPolicy>,
    /// Allowed `Origin` values (empty: any).
    pub allowed_origins: Vec<String>,
    /// WebSocket limits and keepalive.
    pub ws: wsproto::Config,
    /// How long a connection may take to complete its upgrade request.
    pub handshake_timeout: Duration,
    /// A WebSocket with no bytes from the browser for this long (not even a pong) is closed.
    pub idle_timeout: Duration,
    /// The core reaches this node over TCP on the WebSocket port: a connection whose first line is a SIP start
    /// line is a SIP stream from the core.
    pub core_streams: bool,
    /// Largest SIP message on a stream from the core.
    pub max_message_size: usize,
    /// Handshake authentication (RFC 7118 §7).
    pub auth: Authenticator,
    /// What a credential's expiry during a session does.
    pub on_expiry: OnExpiry,
    /// Per-source-IP connection caps and handshake rates (shared with the policies a reload makes next, so
    /// that the counts carry over).
    pub ip_limits: std::sync::Arc<IpLimits>,
    /// WebSocket upgrades per second on the whole node (shared likewise).
    pub node_handshakes: std::sync::Arc<NodeHandshakeRate>,
    /// Which client addresses are written as Via `received`.
    pub received: crate::config::Received,
    /// Proxies whose X-Forwarded-For is believed.
    pub trusted_proxies: Vec<IpAddr>,
    /// SIP requests per second per connection; `None`: unlimited.
    pub request_rate: Option<RequestRate>,
    /// Plain HTTP content on the WebSocket port.
    pub web: WebConfig,
    /// permessage-deflate's policy; `None`: offers are declined.
    pub deflate: Option<wsproto::deflate::DeflateConfig>,
    /// Bytes of what the edge sent a browser kept to compress the next message against (`[deflate]
    /// server_window_bytes`; used when the browser did not ask for `server_no_context_takeover`).
    pub deflate_window: u16,
    /// The zero of the edge's clock ([`Timestamp`]).
    pub epoch: Instant,
}

impl Policy {
    /// `now` on the edge's clock (milliseconds since [`Self::epoch`]).
    pub fn timestamp(&self, now: Instant) -> Timestamp {
        Timestamp(now.saturating_duration_since(self.epoch).as_millis() as u64)
    }

    /// The policy of listener `index` (the first one for an index out of range).
    pub fn listener(&self, index: usize) -> Option<&ListenerPolicy> {
        self.listeners.get(index).or(self.listeners.first())
    }
}
