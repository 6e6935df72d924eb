//! A graceful close waits for the peer to read what is queued, but not forever: a client that advertises a zero
//! receive window (it never reads) would otherwise hold the connection and its whole send queue.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ringmux::{CloseReason, Config, Conn, Ctx, Handler, Origin, Server};
use socket2::{Domain, Protocol, Socket, Type};

/// Bytes queued before the close: more than the kernel's send and receive buffers on loopback hold.
const QUEUED: usize = 16 << 20;

/// On the client's first byte, queues [`QUEUED`] bytes and closes gracefully; reports when the close happened.
struct FloodThenClose(mpsc::Sender<Instant>);

impl Handler for FloodThenClose {
    type State = ();
    type Message = ();

    fn open(&mut self, _: &mut Ctx<'_, ()>, _: Conn, _: Origin) {}

    fn data(&mut self, ctx: &mut Ctx<'_, ()>, conn: Conn, _: &mut (), _: &[u8]) {
        let chunk = vec![b'x'; 64 * 1024];
        for _ in 0..QUEUED / chunk.len() {
            ctx.send(conn, &chunk).expect("within the send queue bound");
        }
        ctx.close(conn, CloseReason::Local(1000));
    }

    fn closed(&mut self, _: &mut Ctx<'_, ()>, _: Conn, _: (), _: CloseReason) {
        let _ = self.0.send(Instant::now());
    }
}

/// A client with the smallest receive buffer, which never reads.
fn zero_window_client(addr: std::net::SocketAddr) -> TcpStream {
    let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).unwrap();
    s.set_recv_buffer_size(1).unwrap();
    s.connect(&addr.into()).unwrap();
    s.into()
}

both_backends! {
    fn a_zero_window_reader_cannot_hold_a_closing_connection(b: Backend) {
        let (tx, rx) = mpsc::channel();
        let cfg = Config {
            send_queue_limit: 2 * QUEUED,
            close_timeout: Duration::from_millis(300),
            ..common::config(b)
        };
        let server = Server::start(cfg, move |_| FloodThenClose(tx.clone())).unwrap();
        let mut client = zero_window_client(server.local_addr().unwrap());
        client.write_all(b"go").unwrap();
        let start = Instant::now();
        let closed = rx.recv_timeout(Duration::from_secs(3));
        assert!(
            closed.is_ok(),
            "the closing connection is still held {:?} after its close, its queue unread",
            start.elapsed()
        );
        drop(client);
        server.shutdown(Duration::from_secs(1));
        let stats = server.join().unwrap();
        let aborted: u64 = stats.iter().map(|s| s.close_aborted).sum();
        assert_eq!(aborted, 1, "{stats:?}");
    }

    fn a_reader_finishes_its_graceful_close_without_an_abort(b: Backend) {
        let (tx, rx) = mpsc::channel();
        let cfg = Config {
            send_queue_limit: 2 * QUEUED,
            close_timeout: Duration::from_secs(10),
            ..common::config(b)
        };
        let server = Server::start(cfg, move |_| FloodThenClose(tx.clone())).unwrap();
        let mut client = common::connect(server.local_addr().unwrap());
        client.write_all(b"go").unwrap();
        let mut got = Vec::new();
        std::io::Read::read_to_end(&mut client, &mut got).unwrap();
        assert_eq!(got.len(), QUEUED, "every queued byte arrives before the close");
        rx.recv_timeout(Duration::from_secs(3)).unwrap();
        server.shutdown(Duration::from_secs(1));
        let stats = server.join().unwrap();
        assert_eq!(stats.iter().map(|s| s.close_aborted).sum::<u64>(), 0, "{stats:?}");
    }
}
