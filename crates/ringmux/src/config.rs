//! Server configuration and the choice of I/O backend.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// Which I/O backend the workers run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// io_uring: multishot accept into direct descriptors, multishot recv from a provided buffer ring.
    Uring,
    /// epoll through `mio`.
    Epoll,
}

/// What the configuration asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IoChoice {
    /// `RINGMUX_IO=uring|epoll` if set, else io_uring when the probe succeeds, else epoll.
    #[default]
    Auto,
    /// io_uring or fail.
    Uring,
    /// epoll.
    Epoll,
}

impl std::str::FromStr for IoChoice {
    type Err = crate::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Self::Auto),
            "uring" | "io_uring" => Ok(Self::Uring),
            "epoll" | "mio" => Ok(Self::Epoll),
            other => Err(crate::Error::UnknownBackend(other.to_owned())),
        }
    }
}

/// Server settings. [`Config::default`] gives working values; fields are public to tune.
#[derive(Debug, Clone)]
pub struct Config {
    /// Addresses every worker listens on (SO_REUSEPORT, one socket per worker and listener), each with its own
    /// TLS and PROXY protocol settings (say `ws://` and `wss://` side by side). [`Ctx::listener`](crate::Ctx::listener)
    /// names a connection's listener by its index here, and [`Server::local_addrs`](crate::Server::local_addrs)
    /// lists the bound addresses in the same order. Empty (the default): no listener (workers only make outbound
    /// connections and UDP sockets).
    pub listeners: Vec<Listener>,
    /// Number of worker threads (default: available cores).
    pub workers: usize,
    /// Backend selection.
    pub io: IoChoice,
    /// Most connections one worker holds. With io_uring this also sizes the direct-descriptor table, capped
    /// by RLIMIT_NOFILE (the kernel's cap per ring). Beyond it new connections are shed.
    pub max_connections_per_worker: u32,
    /// Bound on queued, unwritten bytes per connection; reaching it runs the slow-consumer policy.
    pub send_queue_limit: usize,
    /// Entries in each worker's provided-buffer ring (io_uring; power of two, at most 32768).
    pub buf_ring_entries: u16,
    /// Size of each receive buffer (both backends).
    pub buf_size: u32,
    /// Timer wheel granularity.
    pub tick: Duration,
    /// Timer wheel buckets.
    pub wheel_buckets: usize,
    /// Listen backlog.
    pub backlog: i32,
    /// Submission queue entries per ring (the kernel rounds up to a power of two). A full queue is submitted
    /// to make room, so a small one costs system calls, never operations.
    pub ring_entries: u32,
    /// io_uring: completions a worker waits for before it runs a loop pass, for at most [`Config::batch_wait`].
    /// While busy, one pass then reads and answers many connections and submits their sends together, which
    /// costs less CPU per message than a pass per completion. Only a worker whose last pass found 8 completions
    /// or more (busy) waits for a batch: a quieter one wakes at its first completion, since a batch it would not
    /// fill only adds the wait's timer wake-up to each message. `0` or `1`: a pass per completion.
    pub batch_events: u32,
    /// io_uring: how long a worker waits for [`Config::batch_events`] completions (the kernel's `min_wait`,
    /// Linux 6.12+; older kernels wake on every completion). It bounds the delay batching adds: once it has
    /// passed, the first completion wakes the worker, so an idle worker answers at once. Zero: no batching; at most
    /// just under a second.
    pub batch_wait: Duration,
    /// How long a graceful close (queued bytes written first) may wait for the peer to read them. Past it the
    /// connection is aborted and counted in [`Stats::close_aborted`](crate::Stats::close_aborted): a peer that
    /// advertises a zero receive window would otherwise hold the connection and its whole send queue forever.
    pub close_timeout: Duration,
    /// `TCP_USER_TIMEOUT` of accepted connections (set on the listening sockets, which accepted sockets
    /// inherit): how long written data may stay unacknowledged, or unsent behind a zero window, before the
    /// kernel drops the connection. Zero: the kernel's default (retransmissions for about 15 minutes).
    pub tcp_user_timeout: Duration,
    /// How long an outbound TLS connection ([`Ctx::connect_tls`](crate::Ctx::connect_tls)) may take from the
    /// connect call to the end of its handshake; past it the connection is dropped and reported through
    /// [`Handler::connect_failed`](crate::Handler::connect_failed) with
    /// [`TlsConnectError::Timeout`](crate::TlsConnectError::Timeout).
    pub tls_handshake_timeout: Duration,
}

/// One listening address with its own settings.
#[derive(Debug, Clone)]
pub struct Listener {
    /// Address to listen on (SO_REUSEPORT, one socket per worker; port 0: the first bind picks it, the other
    /// workers share it).
    pub addr: SocketAddr,
    /// Terminate TLS on its connections with these certificates (the handler still sees plaintext).
    pub tls: Option<crate::TlsAcceptor>,
    /// Expect a PROXY protocol v2 header ([`proxy_header`](crate::proxy_header)) from these peers; `None`:
    /// never.
    pub proxy_protocol: Option<ProxyProtocol>,
}

impl Listener {
    /// A plain TCP listener on `addr`: no TLS, no PROXY protocol.
    pub fn plain(addr: SocketAddr) -> Self {
        Self {
            addr,
            tls: None,
            proxy_protocol: None,
        }
    }

    /// The same listener terminating TLS with `acceptor`.
    #[must_use]
    pub fn with_tls(self, acceptor: crate::TlsAcceptor) -> Self {
        Self {
            tls: Some(acceptor),
            ..self
        }
    }

    /// The same listener expecting PROXY protocol v2 headers as `proxy` says.
    #[must_use]
    pub fn with_proxy_protocol(self, proxy: ProxyProtocol) -> Self {
        Self {
            proxy_protocol: Some(proxy),
            ..self
        }
    }
}

/// PROXY protocol v2 on the listener: connections from `trusted` addresses must start with a header (before
/// TLS, on a TLS listener), whose source address becomes the connection's [`Ctx::peer_addr`](crate::Ctx::peer_addr);
/// connections from other addresses are direct clients and send none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyProtocol {
    /// The proxies (load balancers) allowed to name the client. IPv4-mapped IPv6 peers match their IPv4 form.
    pub trusted: Vec<IpAddr>,
    /// A header not complete this long after the accept closes the connection.
    pub timeout: Duration,
}

impl ProxyProtocol {
    /// Whether `peer` must send a header.
    pub fn trusts(&self, peer: IpAddr) -> bool {
        let peer = peer.to_canonical();
        self.trusted.iter().any(|t| t.to_canonical() == peer)
    }
}

impl Default for ProxyProtocol {
    fn default() -> Self {
        Self {
            trusted: Vec::new(),
            timeout: Duration::from_secs(5),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listeners: Vec::new(),
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            io: IoChoice::Auto,
            max_connections_per_worker: 20_000,
            send_queue_limit: 1 << 20,
            buf_ring_entries: 1024,
            buf_size: 16 * 1024,
            tick: Duration::from_millis(10),
            wheel_buckets: 4096,
            backlog: 4096,
            ring_entries: 4096,
            batch_events: 64,
            batch_wait: Duration::from_micros(100),
            close_timeout: Duration::from_secs(5),
            tcp_user_timeout: Duration::from_secs(60),
            tls_handshake_timeout: Duration::from_secs(10),
        }
    }
}
