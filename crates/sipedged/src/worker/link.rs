//! A worker's TCP connection to the core as a small sans-io state machine: connect on demand, queue while
//! connecting (bounded), back off after a failure, and say which messages cannot go (they are answered 503).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use ringmux::Conn;

/// Messages that may wait for the connection (beyond: 503).
pub const QUEUE_MESSAGES: usize = 1024;
/// Bytes that may wait for the connection (beyond: 503).
pub const QUEUE_BYTES: usize = 4 << 20;
/// The first wait after a failed connection.
pub const BACKOFF_FIRST: Duration = Duration::from_secs(1);
/// The longest wait between attempts (the wait doubles after each failure).
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Never connected, or closed: connect on the next message.
    Idle,
    /// Connecting; messages wait in the queue.
    Connecting(Conn),
    /// Connected.
    Up(Conn),
    /// The last attempt failed: refuse until `retry_at`, then try again.
    Down {
        retry_at: Instant,
        backoff: Duration,
    },
}

/// Where a message for the core goes.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    /// Send it on this connection.
    Send(Conn),
    /// It waits in the queue for the connection being made.
    Queued,
    /// Open a connection; then call [`CoreLink::connecting`] (or [`CoreLink::failed`]) with the message.
    Connect,
    /// It cannot go: answer it 503.
    Unavailable,
}

/// The TCP connection to the core and the messages waiting for it.
#[derive(Debug)]
pub struct CoreLink {
    state: State,
    queue: VecDeque<Vec<u8>>,
    queue_bytes: usize,
}

impl Default for CoreLink {
    fn default() -> Self {
        Self {
            state: State::Idle,
            queue: VecDeque::new(),
            queue_bytes: 0,
        }
    }
}

impl CoreLink {
    /// Where `bytes` should go at `now`; [`Route::Queued`] has taken them.
    pub fn route(&mut self, bytes: &mut Vec<u8>, now: Instant) -> Route {
        match self.state {
            State::Up(conn) => Route::Send(conn),
            State::Connecting(_) => self.enqueue(bytes),
            State::Down { retry_at, .. } if now < retry_at => Route::Unavailable,
            State::Idle | State::Down { .. } => Route::Connect,
        }
    }

    /// A connection to the core is being made; `first` waits for it.
    pub fn connecting(&mut self, conn: Conn, first: &mut Vec<u8>) -> Route {
        self.state = State::Connecting(conn);
        self.enqueue(first)
    }

    fn enqueue(&mut self, bytes: &mut Vec<u8>) -> Route {
        if self.queue.len() >= QUEUE_MESSAGES || self.queue_bytes + bytes.len() > QUEUE_BYTES {
            return Route::Unavailable;
        }
        self.queue_bytes += bytes.len();
        self.queue.push_back(std::mem::take(bytes));
        Route::Queued
    }

    /// Whether the last attempt failed and the next may not be made before its back-off ends.
    pub fn is_backing_off(&self, now: Instant) -> bool {
        matches!(self.state, State::Down { retry_at, .. } if now < retry_at)
    }

    /// Whether `conn` is the connection to the core (connecting or up).
    pub fn is_link(&self, conn: Conn) -> bool {
        matches!(self.state, State::Up(c) | State::Connecting(c) if c == conn)
    }

    /// The connection is up: everything that waited, to send on it now.
    pub fn connected(&mut self, conn: Conn) -> VecDeque<Vec<u8>> {
        self.state = State::Up(conn);
        self.queue_bytes = 0;
        std::mem::take(&mut self.queue)
    }

    /// The connection could not be made (or broke while connecting) at `now`: back off, and hand back
    /// everything that waited, to be answered 503.
    pub fn failed(&mut self, now: Instant) -> VecDeque<Vec<u8>> {
        let backoff = match self.state {
            State::Down { backoff, .. } => (backoff * 2).min(BACKOFF_MAX),
            _ => BACKOFF_FIRST,
        };
        self.state = State::Down {
            retry_at: now + backoff,
            backoff,
        };
        self.queue_bytes = 0;
        std::mem::take(&mut self.queue)
    }

    /// `conn` closed; `true` when it was the link (the next message connects again).
    pub fn closed(&mut self, conn: Conn) -> bool {
        let ours = self.is_link(conn);
        if ours {
            self.state = State::Idle;
        }
        ours
    }

    /// The target is up again (or its address changed): a backed-off link tries at once.
    pub fn address_changed(&mut self) {
        if let State::Down { .. } = self.state {
            self.state = State::Idle;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(slot: u32) -> Conn {
        Conn {
            slot,
            generation: 1,
        }
    }

    #[test]
    fn connects_on_demand_queues_and_flushes() {
        let mut link = CoreLink::default();
        let t = Instant::now();
        let mut m = b"INVITE".to_vec();
        assert_eq!(link.route(&mut m, t), Route::Connect);
        assert_eq!(link.connecting(conn(1), &mut m), Route::Queued);
        let mut m2 = b"BYE".to_vec();
        assert_eq!(link.route(&mut m2, t), Route::Queued);
        assert!(link.is_link(conn(1)) && !link.is_link(conn(2)));
        let flushed: Vec<_> = link.connected(conn(1)).into_iter().collect();
        assert_eq!(flushed, vec![b"INVITE".to_vec(), b"BYE".to_vec()]);
        assert_eq!(link.route(&mut b"X".to_vec(), t), Route::Send(conn(1)));
        assert!(link.closed(conn(1)));
        assert!(!link.closed(conn(1)));
        assert_eq!(link.route(&mut b"X".to_vec(), t), Route::Connect);
    }

    #[test]
    fn queue_is_bounded() {
        let mut link = CoreLink::default();
        let t = Instant::now();
        assert_eq!(link.connecting(conn(1), &mut vec![0; 10]), Route::Queued);
        for _ in 1..QUEUE_MESSAGES {
            assert_eq!(link.route(&mut vec![0; 10], t), Route::Queued);
        }
        assert_eq!(link.route(&mut vec![0; 10], t), Route::Unavailable);
        let mut link = CoreLink::default();
        assert_eq!(
            link.connecting(conn(1), &mut vec![0; QUEUE_BYTES + 1]),
            Route::Unavailable
        );
    }

    #[test]
    fn failure_backs_off_doubling_to_the_cap() {
        let mut link = CoreLink::default();
        let t = Instant::now();
        link.connecting(conn(1), &mut b"A".to_vec());
        assert_eq!(link.failed(t).len(), 1, "what waited is handed back");
        assert_eq!(link.route(&mut b"X".to_vec(), t), Route::Unavailable);
        assert!(link.is_backing_off(t) && !link.is_backing_off(t + BACKOFF_FIRST));
        assert_eq!(
            link.route(&mut b"X".to_vec(), t + BACKOFF_FIRST),
            Route::Connect
        );
        let mut waits = Vec::new();
        let mut now = t;
        for _ in 0..8 {
            link.failed(now);
            let State::Down { backoff, .. } = link.state else {
                panic!("down")
            };
            waits.push(backoff.as_secs());
            now += backoff;
        }
        assert_eq!(waits, [2, 4, 8, 16, 30, 30, 30, 30]);
        link.address_changed();
        assert_eq!(link.route(&mut b"X".to_vec(), t), Route::Connect);
    }
}
