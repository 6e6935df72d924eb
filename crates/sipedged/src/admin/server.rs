//! The admin listener: one accept thread hands each connection to its own short-lived thread, so a slow client
//! never holds up `/metrics` for the others. The threads are bounded in total ([`MAX_CONNECTIONS`]) and per peer
//! address ([`MAX_PER_PEER`], so one client cannot take every slot from a Kubernetes probe); a connection over
//! either bound gets `503` at once and is closed. Each connection's own time and memory are bounded by
//! [`Limits`].

use std::collections::HashMap;
use std::io::Write;
use std::net::{IpAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::Sources;
use super::http::{self, Limits, Outcome};

/// Connections served at once, in total.
pub const MAX_CONNECTIONS: usize = 32;
/// Connections served at once from one peer address.
pub const MAX_PER_PEER: usize = 8;
/// Stack of a connection thread (it renders the metrics text, nothing deep).
const STACK: usize = 256 * 1024;

/// Connections in service, in total and per peer address.
#[derive(Debug, Default)]
pub struct Slots {
    by_peer: Mutex<HashMap<IpAddr, usize>>,
}

/// One taken slot; dropping it gives the slot back.
#[derive(Debug)]
pub struct Slot {
    slots: Arc<Slots>,
    peer: IpAddr,
}

impl Slots {
    /// Take a slot for `peer`, or `None` when the total or the peer's bound is reached.
    pub fn take(self: &Arc<Self>, peer: IpAddr, total: usize, per_peer: usize) -> Option<Slot> {
        let mut map = self.by_peer.lock().unwrap_or_else(PoisonError::into_inner);
        let in_use: usize = map.values().sum();
        let mine = map.entry(peer).or_insert(0);
        if in_use >= total || *mine >= per_peer {
            if *mine == 0 {
                map.remove(&peer);
            }
            return None;
        }
        *mine += 1;
        Some(Slot {
            slots: self.clone(),
            peer,
        })
    }

    /// Connections in service now.
    #[cfg(test)]
    pub fn in_use(&self) -> usize {
        let map = self.by_peer.lock().unwrap_or_else(PoisonError::into_inner);
        map.values().sum()
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut map = self
            .slots
            .by_peer
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = map.get_mut(&self.peer) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.peer);
            }
        }
    }
}

/// Accept connections forever, each served on its own thread within the bounds.
pub fn accept_loop(listener: TcpListener, metrics: Arc<Sources>) {
    let slots = Arc::new(Slots::default());
    let limits = Limits::default();
    for stream in listener.incoming() {
        let mut stream = match stream {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(error = %e, "admin accept failed");
                // EMFILE and the like: do not spin.
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let start = Instant::now();
        let Ok(peer) = stream.peer_addr() else {
            continue;
        };
        let Some(slot) = slots.take(peer.ip(), MAX_CONNECTIONS, MAX_PER_PEER) else {
            tracing::debug!(%peer, "admin endpoint busy: 503");
            busy(&mut stream);
            continue;
        };
        let metrics = metrics.clone();
        let spawned = std::thread::Builder::new()
            .name("sipedge-admin-conn".into())
            .stack_size(STACK)
            .spawn(move || {
                serve(stream, &metrics, &limits, start);
                drop(slot);
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "admin endpoint cannot start a connection thread");
        }
    }
}

/// Answer `503` on a connection over the bounds, without reading it (the write fits an empty send buffer).
fn busy(stream: &mut TcpStream) {
    let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
    let _ = stream.write_all(
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\
          Retry-After: 1\r\nConnection: close\r\n\r\nbusy\n",
    );
}

/// Serve one connection: read the request within the limits, answer, close.
fn serve(mut stream: TcpStream, metrics: &Sources, limits: &Limits, start: Instant) {
    match http::read_request(&mut stream, limits, start) {
        Outcome::Request(request) => {
            let (status, ctype, body) = super::answer(
                &request.target,
                &metrics.workers,
                metrics.targets.as_ref(),
                metrics.capture.as_deref(),
            );
            if let Err(e) =
                http::respond(&mut stream, limits, status, ctype, &body, request.head_only)
            {
                tracing::debug!(error = %e, "admin answer not written");
            }
        }
        Outcome::Refused(error) => {
            tracing::debug!(%error, "admin request refused");
            http::refuse(&mut stream, limits, &error);
        }
        Outcome::Gone => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_peer_cannot_take_every_slot() {
        let slots = Arc::new(Slots::default());
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let held: Vec<Slot> = (0..3).filter_map(|_| slots.take(a, 4, 3)).collect();
        assert_eq!(held.len(), 3);
        assert!(slots.take(a, 4, 3).is_none(), "over the per-peer bound");
        let other = slots.take(b, 4, 3).expect("another peer still gets a slot");
        assert!(slots.take(b, 4, 3).is_none(), "over the total bound");
        drop(other);
        drop(held);
        assert_eq!(slots.in_use(), 0);
        assert!(slots.by_peer.lock().unwrap().is_empty());
    }
}
