//! The core's targets: the addresses `[core] uri` names or resolves to (RFC 3263), each with its SRV priority and
//! weight and its health as SIP OPTIONS probes find it.
//!
//! A background thread ([`manager`]) resolves the URI again as its records' TTLs run out and probes every target;
//! whenever the set or a target's state changes it publishes a new [`CoreView`], which main posts to every worker.
//! A worker reads only its own copy: new requests go to the best live target ([`select`]), requests inside a dialog
//! and responses to the core's requests go where their route set or Via says, and a request still unanswered when
//! its target goes down is sent on to the next one.

pub mod health;
pub mod manager;
pub mod pinned;
pub mod probe;
pub mod prober;
pub mod select;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// How the edge reaches its core (one transport for every target).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// UDP, from each worker's socket.
    Udp,
    /// TCP, one connection per worker and target.
    Tcp,
    /// TLS over TCP, one connection per worker and target.
    Tls,
}

impl Transport {
    /// The lowercase token used in metrics labels and logs.
    pub fn token(self) -> &'static str {
        match self {
            Self::Udp => "udp",
            Self::Tcp => "tcp",
            Self::Tls => "tls",
        }
    }
}

/// One target's counters, kept across views (read by the metrics endpoint, written by workers and the manager).
#[derive(Debug, Default)]
pub struct TargetStats {
    /// Whether the target is up (as the last view said).
    pub up: AtomicBool,
    /// Requests sent to it (first sends, not retransmissions).
    pub requests: AtomicU64,
    /// Requests that had gone to it unanswered and were sent on to another target when it failed.
    pub failovers: AtomicU64,
    /// The last good probe's round trip, in microseconds.
    pub probe_micros: AtomicU64,
    /// Probes that failed (timeout, transport error or 503).
    pub probes_failed: AtomicU64,
    /// TLS handshakes with it that failed (certificate, name, protocol).
    pub tls_failures: AtomicU64,
}

impl TargetStats {
    /// Add one to `counter`.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// One target as a worker sees it.
#[derive(Debug, Clone)]
pub struct CoreTarget {
    /// Where it is.
    pub addr: SocketAddr,
    /// Preference: lower is preferred (the URI's place in `[core] uri`, then the SRV priority).
    pub priority: u32,
    /// RFC 2782 weight among targets of equal priority.
    pub weight: u16,
    /// Whether probes find it alive.
    pub up: bool,
    /// The URI's host name it was resolved from (RFC 5922: the name a TLS certificate is checked against).
    pub name: Option<String>,
    /// Its counters.
    pub stats: Arc<TargetStats>,
}

impl CoreTarget {
    /// Its label in metrics and logs: `udp:192.0.2.1:5060`.
    pub fn label(&self, transport: Transport) -> String {
        format!("{}:{}", transport.token(), self.addr)
    }
}

/// The targets at one moment, as published to the workers.
#[derive(Debug, Clone)]
pub struct CoreView {
    /// The transport toward all of them.
    pub transport: Transport,
    /// The targets, lowest priority value first.
    pub targets: Vec<CoreTarget>,
}

impl CoreView {
    /// The target at `addr`, if it is one.
    pub fn target(&self, addr: SocketAddr) -> Option<&CoreTarget> {
        self.targets.iter().find(|t| t.addr == addr)
    }

    /// Whether `ip` is one of the targets' addresses.
    pub fn is_target_ip(&self, ip: std::net::IpAddr) -> bool {
        self.targets
            .iter()
            .any(|t| t.addr.ip().to_canonical() == ip.to_canonical())
    }
}

/// What a worker saw go wrong with a target, for its health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Feedback {
    /// The target.
    pub target: SocketAddr,
    /// A transaction it never answered ([`health::Outcome::Timeout`]) or a connection it refused
    /// ([`health::Outcome::TransportError`]).
    pub outcome: health::Outcome,
}

/// The registry the metrics endpoint reads: every target the manager knows, with its label.
pub type Registry = Arc<std::sync::Mutex<Vec<(String, Arc<TargetStats>)>>>;
