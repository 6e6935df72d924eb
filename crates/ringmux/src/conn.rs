//! Handles and reasons the handler sees: connections, UDP sockets, why a connection opened and closed.

use crate::slab::Key;

/// A worker-local handle on one connection: its slot and the slot's generation. A handle kept after the
/// connection closed never reaches the next connection in the same slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Conn {
    /// Slot index in the worker's slab.
    pub slot: u32,
    /// Generation of the slot when this connection took it.
    pub generation: u32,
}

impl Conn {
    /// The handle the timer wheel stores for a worker timer ([`Ctx::arm_worker_timer`](crate::Ctx::arm_worker_timer)):
    /// no slot ever has this index and generation.
    pub(crate) const WORKER: Self = Self {
        slot: u32::MAX,
        generation: u32::MAX,
    };

    pub(crate) fn key(self) -> Key {
        Key {
            index: self.slot,
            generation: self.generation,
        }
    }

    pub(crate) fn from_key(key: Key) -> Self {
        Self {
            slot: key.index,
            generation: key.generation,
        }
    }
}

/// A UDP socket bound by a worker (index into the worker's UDP sockets).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Udp(pub(crate) u32);

/// How a connection came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Accepted on the worker's listener.
    Accepted,
    /// Opened by [`Ctx::connect`](crate::Ctx::connect) and now connected (by [`Ctx::connect_tls`](crate::Ctx::connect_tls):
    /// connected and the TLS handshake complete).
    Connected,
}

/// Why a connection closed; handed to [`Handler::closed`](crate::Handler::closed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The peer closed its side (read returned end of stream).
    PeerClosed,
    /// A socket error (the errno).
    Io(i32),
    /// The handler closed it with its own code (for example a WebSocket close code).
    Local(u16),
    /// The send queue hit its bound and the handler kept the default policy.
    SlowConsumer,
    /// Graceful shutdown closed it.
    Shutdown,
    /// Graceful shutdown's deadline passed before the connection finished.
    ShutdownDeadline,
    /// An outbound connect failed (the errno).
    ConnectFailed(i32),
    /// The TLS session failed: a bad handshake or record (an alert went to the peer when rustls had one).
    Tls,
    /// Handed to another process ([`Ctx::release_handed_out`](crate::Ctx::release_handed_out)): the connection
    /// goes on there; this process only let go of it.
    HandedOver,
}

/// Why [`Ctx::send`](crate::Ctx::send) refused bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The handle names a connection that is gone (closed, or its slot reused).
    #[error("connection is gone")]
    Gone,
    /// The connection is closing: no more bytes may be queued.
    #[error("connection is closing")]
    Closing,
    /// Queuing would exceed the per-connection send bound; the slow-consumer policy runs next.
    #[error("send queue bound of {limit} bytes reached")]
    QueueFull {
        /// The configured bound.
        limit: usize,
    },
}
