//! Errors of starting and running the multiplexer.

use std::io;

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `RINGMUX_IO` or the configuration named no known backend.
    #[error("unknown I/O backend {0:?} (expected uring, epoll or auto)")]
    UnknownBackend(String),
    /// io_uring was required but the kernel refused it (ENOSYS, EPERM under seccomp, ...).
    #[error("io_uring unavailable: {0}")]
    UringUnavailable(#[source] io::Error),
    /// Creating, binding or listening on a socket failed.
    #[error("socket setup for {what} failed: {source}")]
    Socket {
        /// Which socket.
        what: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Ring setup (creation, file table, buffer ring) failed.
    #[error("io_uring setup ({what}) failed: {source}")]
    RingSetup {
        /// Which step.
        what: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The epoll backend could not be set up.
    #[error("epoll setup failed: {0}")]
    Poll(#[source] io::Error),
    /// A worker index was out of range.
    #[error("no worker {0}")]
    NoSuchWorker(usize),
    /// A worker thread could not be spawned or panicked.
    #[error("worker thread: {0}")]
    Thread(String),
    /// More listeners than a connection can name (see [`MAX_LISTENERS`](crate::MAX_LISTENERS)).
    #[error("{0} listeners configured; at most {max} are supported", max = crate::MAX_LISTENERS)]
    TooManyListeners(usize),
    /// rustls could not start a client session (RFC 8446 client settings refused: no usable protocol version or
    /// cipher suite in the `ClientConfig`).
    #[error("cannot start a TLS client session: {0}")]
    Tls(#[source] rustls::Error),
    /// The worker's slab is out of slots.
    #[error("connection table full")]
    TableFull,
    /// What another process handed over does not fit this server ([`Server::start_inheriting`](crate::Server::start_inheriting)).
    #[error("cannot take over the connections handed over: {0}")]
    Inheritance(String),
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
