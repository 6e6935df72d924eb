//! Per-worker counters, returned by [`Server::join`](crate::Server::join).

/// What one worker did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Connections accepted and handed to the handler.
    pub accepted: u64,
    /// Connections refused because the table was full (ENFILE / EMFILE / the configured cap).
    pub shed: u64,
    /// Times a multishot receive stopped because the buffer ring was empty (then re-armed).
    pub enobufs: u64,
    /// Connections closed by the slow-consumer policy.
    pub slow_consumers: u64,
    /// Connections closed (for any reason).
    pub closed: u64,
    /// Bytes received on connections.
    pub bytes_in: u64,
    /// Bytes written on connections.
    pub bytes_out: u64,
    /// Timers fired.
    pub timers_fired: u64,
    /// Cross-worker messages delivered.
    pub messages: u64,
    /// Connections still open when the shutdown deadline passed.
    pub aborted_at_deadline: u64,
    /// Graceful closes aborted because the peer had not read the queued bytes within
    /// [`Config::close_timeout`](crate::Config::close_timeout).
    pub close_aborted: u64,
    /// TLS handshakes completed (full and resumed), on accepted and outbound connections.
    pub tls_handshakes: u64,
    /// TLS handshakes that resumed an earlier session (ticket or session id).
    pub tls_resumed: u64,
    /// TLS sessions that failed (handshake or record errors; for outbound connections also a handshake past
    /// [`Config::tls_handshake_timeout`](crate::Config::tls_handshake_timeout)).
    pub tls_failed: u64,
    /// PROXY protocol headers read (connections from trusted proxies handed to the handler).
    pub proxy_headers: u64,
    /// Connections from trusted proxies closed without a valid header (bad bytes, timeout, closed early).
    pub proxy_rejected: u64,
    /// Time the worker's loop spent outside its wait for I/O (handling events, timers and sends) since it
    /// started: divided by the time elapsed, the worker's utilisation.
    pub busy: std::time::Duration,
}
