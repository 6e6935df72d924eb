//! What went over the wire: bytes on the socket against message payload bytes in each direction, and how
//! many connections offered and agreed permessage-deflate (RFC 7692). Each connection counts in plain
//! integers and adds them to its worker's [`WireTotals`] once, when it is dropped.

use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// Bytes one way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flow {
    /// On the socket after the opening handshake: frame headers, mask keys, control frames and
    /// (compressed) payloads.
    pub wire: u64,
    /// Data message payloads as the application sees them (before compression, after inflation).
    pub payload: u64,
}

impl Flow {
    fn add(&mut self, other: Flow) {
        self.wire += other.wire;
        self.payload += other.payload;
    }

    /// Wire bytes per payload byte (0 when no payload went this way).
    pub fn ratio(&self) -> f64 {
        if self.payload == 0 {
            0.0
        } else {
            self.wire as f64 / self.payload as f64
        }
    }
}

/// Bytes both ways.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bytes {
    /// Client to server.
    pub sent: Flow,
    /// Server to client.
    pub received: Flow,
}

impl Bytes {
    /// Adds `other`'s counts.
    pub fn add(&mut self, other: Bytes) {
        self.sent.add(other.sent);
        self.received.add(other.received);
    }
}

/// permessage-deflate over the connections that opened a WebSocket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeflateCount {
    /// Connections whose Upgrade request offered it.
    pub offered: u64,
    /// Connections whose server agreed.
    pub agreed: u64,
}

impl DeflateCount {
    /// Adds `other`'s counts.
    pub fn add(&mut self, other: DeflateCount) {
        self.offered += other.offered;
        self.agreed += other.agreed;
    }
}

/// One worker process's totals, shared by its connections.
#[derive(Debug, Default)]
pub struct WireTotals(Mutex<(DeflateCount, Bytes)>);

impl WireTotals {
    fn lock(&self) -> std::sync::MutexGuard<'_, (DeflateCount, Bytes)> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A WebSocket opened; `offered` and `agreed` say what became of permessage-deflate.
    pub fn opened(&self, offered: bool, agreed: bool) {
        let d = &mut self.lock().0;
        d.offered += u64::from(offered);
        d.agreed += u64::from(agreed);
    }

    /// A connection's byte counts, once it is done.
    pub fn add(&self, bytes: Bytes) {
        self.lock().1.add(bytes);
    }

    /// The totals so far.
    pub fn snapshot(&self) -> (DeflateCount, Bytes) {
        *self.lock()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_sum_connections_and_ratios_divide_by_payload() {
        let t = WireTotals::default();
        t.opened(true, true);
        t.opened(true, false);
        t.opened(false, false);
        let one = Bytes {
            sent: Flow {
                wire: 50,
                payload: 100,
            },
            received: Flow {
                wire: 30,
                payload: 0,
            },
        };
        t.add(one);
        t.add(one);
        let (d, b) = t.snapshot();
        assert_eq!((d.offered, d.agreed), (2, 1));
        assert_eq!(
            (b.sent.wire, b.sent.payload, b.received.wire),
            (100, 200, 60)
        );
        assert_eq!(b.sent.ratio(), 0.5);
        assert_eq!(b.received.ratio(), 0.0);
    }
}
