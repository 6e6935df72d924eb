//! PROXY protocol state of the connections that use it, kept beside the slab (a connection that never sends a
//! header costs nothing here), and why a header was refused.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

use crate::config::ProxyProtocol;
use crate::conn::Conn;
use crate::proxy_header::{ProxyHeaderError, ProxyHeaderParser};

/// Why a connection from a trusted proxy closed before the handler saw it; handed to
/// [`Handler::proxy_rejected`](crate::Handler::proxy_rejected).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProxyRejection {
    /// Its first bytes are not an acceptable PROXY protocol v2 header.
    #[error("{0}")]
    Invalid(#[from] ProxyHeaderError),
    /// The header did not complete in time.
    #[error("PROXY protocol header not complete in time")]
    Timeout,
    /// The peer closed (or the socket failed) before the header was complete.
    #[error("connection closed before the PROXY protocol header was complete")]
    Closed,
}

impl ProxyRejection {
    /// A short fixed label for counters: the header error's label, `timeout` or `closed`.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Invalid(e) => e.label(),
            Self::Timeout => "timeout",
            Self::Closed => "closed",
        }
    }
}

/// One connection's PROXY protocol state.
#[derive(Debug)]
pub(crate) enum ProxyConn {
    /// Reading the header; the handler has not heard of the connection.
    Pending {
        parser: Box<ProxyHeaderParser>,
        /// Set when the header was refused or timed out (the close is on its way).
        rejected: Option<ProxyRejection>,
    },
    /// Read: the socket's own peer (the proxy), now that `ConnIo::peer` holds the client.
    Done { socket_peer: Option<SocketAddr> },
}

/// A worker's PROXY protocol settings (per listener) and connections.
#[derive(Debug, Default)]
pub(crate) struct ProxyTable {
    /// Each listener's settings, by listener index.
    pub(crate) cfgs: Vec<Option<ProxyProtocol>>,
    pub(crate) conns: HashMap<Conn, ProxyConn>,
    /// When each pending header is due, earliest first.
    pub(crate) deadlines: VecDeque<(Instant, Conn)>,
}

impl ProxyTable {
    pub(crate) fn new(cfgs: Vec<Option<ProxyProtocol>>) -> Self {
        Self {
            cfgs,
            ..Self::default()
        }
    }

    /// Starts waiting for `conn`'s header if listener `listener` expects headers and `peer` is one of its
    /// trusted proxies; `true` if it must send one.
    pub(crate) fn expect(
        &mut self,
        conn: Conn,
        peer: Option<SocketAddr>,
        listener: usize,
        now: Instant,
    ) -> bool {
        let Some(cfg) = self.cfgs.get(listener).and_then(Option::as_ref) else {
            return false;
        };
        if !peer.is_some_and(|p| cfg.trusts(p.ip())) {
            return false;
        }
        let due = now + cfg.timeout;
        // One timeout per listener: out of order only when listeners' timeouts differ.
        let at = self.deadlines.partition_point(|&(d, _)| d <= due);
        self.deadlines.insert(at, (due, conn));
        self.conns.insert(
            conn,
            ProxyConn::Pending {
                parser: Box::default(),
                rejected: None,
            },
        );
        true
    }

    /// The earliest pending deadline.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.front().map(|&(at, _)| at)
    }

    /// Marks headers due by `now` as timed out; calls `close` for each.
    pub(crate) fn expire(&mut self, now: Instant, mut close: impl FnMut(Conn)) {
        while let Some(&(at, conn)) = self.deadlines.front() {
            if at > now {
                break;
            }
            self.deadlines.pop_front();
            if let Some(ProxyConn::Pending { rejected, .. }) = self.conns.get_mut(&conn)
                && rejected.is_none()
            {
                *rejected = Some(ProxyRejection::Timeout);
                close(conn);
            }
        }
    }
}
