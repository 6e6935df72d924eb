//! The admin listener, served by hyper (HTTP/1.1) on its own thread with a single-threaded tokio runtime, off the
//! workers. It faces whoever can reach its address, so no client can hold it up for the others:
//! - connections served at once are bounded in total ([`MAX_CONNECTIONS`]) and per peer address
//!   ([`MAX_PER_PEER`], so one client cannot take every slot from a Kubernetes probe); one over either bound gets
//!   `503` at once and is closed;
//! - a request head is bounded in size (hyper answers `431`) and must be complete within [`HEAD_DEADLINE`] of the
//!   accept, overall rather than per read (a client that trickles it gets `408` and is closed);
//! - a request body is bounded ([`MAX_BODY`], `413`), and a connection lives at most [`CONNECTION_DEADLINE`];
//! - one request per connection (`Connection: close`).

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::AsyncWriteExt;

use super::App;

/// Connections served at once, in total.
pub const MAX_CONNECTIONS: usize = 32;
/// Connections served at once from one peer address.
pub const MAX_PER_PEER: usize = 8;
/// Largest request head, in bytes (hyper's smallest read buffer).
const MAX_HEAD: usize = 8 * 1024;
/// Largest request body (the API's JSON), in bytes.
pub const MAX_BODY: usize = 4 * 1024;
/// Time from accept to the end of the request head.
pub const HEAD_DEADLINE: Duration = Duration::from_secs(5);
/// Time a connection may take in all (head, body, answer).
const CONNECTION_DEADLINE: Duration = Duration::from_secs(30);

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

/// Serve `listener` forever on a single-threaded runtime (the calling thread's).
pub fn run(listener: std::net::TcpListener, app: Arc<App>) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "the admin endpoint cannot start its runtime");
            return;
        }
    };
    runtime.block_on(accept_loop(listener, app));
}

async fn accept_loop(listener: std::net::TcpListener, app: Arc<App>) {
    let listener = match listener
        .set_nonblocking(true)
        .and_then(|()| tokio::net::TcpListener::from_std(listener))
    {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "the admin endpoint cannot serve its listener");
            return;
        }
    };
    let slots = Arc::new(Slots::default());
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::debug!(error = %e, "admin accept failed");
                // EMFILE and the like: do not spin.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let Some(slot) = slots.take(peer.ip(), MAX_CONNECTIONS, MAX_PER_PEER) else {
            tracing::debug!(%peer, "admin endpoint busy: 503");
            tokio::spawn(busy(stream));
            continue;
        };
        let app = app.clone();
        tokio::spawn(async move {
            serve(stream, peer, app).await;
            drop(slot);
        });
    }
}

/// Answer `503` on a connection over the bounds, without reading it.
async fn busy(mut stream: tokio::net::TcpStream) {
    let answer =
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\
                   Retry-After: 1\r\nConnection: close\r\n\r\nbusy\n";
    let _ = tokio::time::timeout(Duration::from_millis(100), stream.write_all(answer)).await;
}

/// Serve one connection: one request, within the deadlines.
async fn serve(stream: tokio::net::TcpStream, peer: SocketAddr, app: Arc<App>) {
    // A second handle on the socket, to say 408 after hyper gave up on a head that did not come in time.
    let spare = stream
        .into_std()
        .and_then(|s| Ok((s.try_clone()?, s)))
        .and_then(|(spare, s)| Ok((tokio::net::TcpStream::from_std(s)?, spare)));
    let Ok((stream, spare)) = spare else {
        return;
    };
    let service = hyper::service::service_fn(move |request| {
        let app = app.clone();
        async move { Ok::<_, Infallible>(answer(request, peer, &app).await) }
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_DEADLINE)
        .max_buf_size(MAX_HEAD)
        .keep_alive(false)
        .serve_connection(TokioIo::new(stream), service);
    match tokio::time::timeout(CONNECTION_DEADLINE, connection).await {
        Ok(Err(e)) if e.is_timeout() => request_timeout(spare).await,
        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "admin connection failed"),
        Ok(Ok(())) | Err(_) => {}
    }
}

/// `408` on a connection whose head did not come within [`HEAD_DEADLINE`], then close.
async fn request_timeout(spare: std::net::TcpStream) {
    let Ok(mut s) = spare
        .set_nonblocking(true)
        .and_then(|()| tokio::net::TcpStream::from_std(spare))
    else {
        return;
    };
    let answer =
        b"HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain\r\nContent-Length: 33\r\n\
                   Connection: close\r\n\r\nrequest head not complete in time\n";
    let _ = tokio::time::timeout(Duration::from_secs(1), s.write_all(answer)).await;
    let _ = s.shutdown().await;
}

/// The answer to one request (any failure is an HTTP status, never an error of the connection).
async fn answer(request: Request<Incoming>, peer: SocketAddr, app: &App) -> Response<Full<Bytes>> {
    let (head, body) = request.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return super::routes::plain(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body over {MAX_BODY} bytes or cut short\n"),
            );
        }
    };
    let mut response = super::routes::route(&head, &body, peer, app).await;
    let headers = response.headers_mut();
    headers.insert(
        hyper::header::CONNECTION,
        hyper::header::HeaderValue::from_static("close"),
    );
    headers.insert(
        "x-content-type-options",
        hyper::header::HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        hyper::header::CACHE_CONTROL,
        hyper::header::HeaderValue::from_static("no-store"),
    );
    response
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
