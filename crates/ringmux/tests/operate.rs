//! What an operator's tools ask of a running worker, on both backends: visit every open connection from a
//! message (with its bytes each way), close one chosen during the visit, and stop accepting without shutting
//! down (the listening socket closes, open connections keep working).

mod common;

use std::io::{ErrorKind, Read};
use std::net::TcpStream;
use std::ops::ControlFlow;
use std::sync::mpsc;
use std::time::Duration;

use common::{config, connect, echo_once};
use ringmux::{CloseReason, Conn, Ctx, Handler, Origin, Server};

/// Every open connection with its bytes (in, out), and the count `visited` saw.
type Seen = (Vec<(Conn, u64, u64)>, usize);

/// What the test asks the worker.
enum Ask {
    /// Every open connection with its bytes (in, out), and the count seen by `visited`.
    List(mpsc::Sender<Seen>),
    /// Close the connection with this many bytes received.
    CloseWithBytesIn(u64),
    /// Stop accepting.
    StopAccepting(mpsc::Sender<bool>),
}

/// Echoes; answers [`Ask`]s through visits.
#[derive(Default)]
struct Operated {
    seen: Vec<(Conn, u64, u64)>,
    listing: Option<mpsc::Sender<Seen>>,
    close_bytes_in: Option<u64>,
}

impl Handler for Operated {
    type State = ();
    type Message = Ask;

    fn open(&mut self, _: &mut Ctx<'_, Ask>, _: Conn, _: Origin) {}

    fn data(&mut self, ctx: &mut Ctx<'_, Ask>, conn: Conn, _: &mut (), bytes: &[u8]) {
        let _ = ctx.send(conn, bytes);
    }

    fn message(&mut self, ctx: &mut Ctx<'_, Ask>, msg: Ask) {
        match msg {
            Ask::List(reply) => {
                self.listing = Some(reply);
                ctx.visit_connections();
            }
            Ask::CloseWithBytesIn(n) => {
                self.close_bytes_in = Some(n);
                ctx.visit_connections();
            }
            Ask::StopAccepting(reply) => {
                ctx.stop_accepting();
                let _ = reply.send(ctx.is_accepting());
            }
        }
    }

    fn visit(&mut self, ctx: &mut Ctx<'_, Ask>, conn: Conn, _: &mut ()) -> ControlFlow<()> {
        let (rx, tx) = ctx.bytes(conn).expect("a visited connection is live");
        if self.close_bytes_in == Some(rx) {
            ctx.close(conn, CloseReason::Local(4000));
            self.close_bytes_in = None;
            return ControlFlow::Break(());
        }
        self.seen.push((conn, rx, tx));
        ControlFlow::Continue(())
    }

    fn visited(&mut self, _: &mut Ctx<'_, Ask>) {
        let seen = std::mem::take(&mut self.seen);
        if let Some(reply) = self.listing.take() {
            let n = seen.len();
            let _ = reply.send((seen, n));
        }
    }
}

fn list(server: &Server<Ask>) -> Vec<(Conn, u64, u64)> {
    let (tx, rx) = mpsc::channel();
    server.post(0, Ask::List(tx)).unwrap();
    let (mut seen, n) = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(seen.len(), n);
    seen.sort_by_key(|&(_, rx, _)| rx);
    seen
}

fn gone(s: &mut TcpStream) -> bool {
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut b = [0u8; 16];
    match s.read(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != ErrorKind::WouldBlock && e.kind() != ErrorKind::TimedOut,
    }
}

both_backends! {
    fn visits_count_bytes_and_close_one(b: Backend) {
        let server = Server::start(config(b), |_| Operated::default()).unwrap();
        let addr = server.local_addr().unwrap();
        let mut a = connect(addr);
        let mut c = connect(addr);
        assert_eq!(echo_once(&mut a, b"12345"), b"12345");
        assert_eq!(echo_once(&mut c, b"1234567"), b"1234567");
        let seen = list(&server);
        let bytes: Vec<(u64, u64)> = seen.iter().map(|&(_, rx, tx)| (rx, tx)).collect();
        assert_eq!(bytes, [(5, 5), (7, 7)]);
        server.post(0, Ask::CloseWithBytesIn(7)).unwrap();
        assert!(gone(&mut c), "the chosen connection is closed");
        assert_eq!(echo_once(&mut a, b"x"), b"x", "the other one is served");
        let seen = list(&server);
        assert_eq!(seen.len(), 1);
        assert_eq!((seen[0].1, seen[0].2), (6, 6));
        server.shutdown(Duration::from_millis(100));
        server.join().unwrap();
    }

    fn stop_accepting_closes_the_listener_and_keeps_connections(b: Backend) {
        let server = Server::start(config(b), |_| Operated::default()).unwrap();
        let addr = server.local_addr().unwrap();
        let mut a = connect(addr);
        assert_eq!(echo_once(&mut a, b"before"), b"before");
        let (tx, rx) = mpsc::channel();
        server.post(0, Ask::StopAccepting(tx)).unwrap();
        assert!(!rx.recv_timeout(Duration::from_secs(5)).unwrap());
        // The worker closes its listener on its next pass; from then on connects are refused.
        let refused = (0..50).any(|_| {
            std::thread::sleep(Duration::from_millis(20));
            TcpStream::connect(addr).is_err_and(|e| e.kind() == ErrorKind::ConnectionRefused)
        });
        assert!(refused, "connects are refused once the worker stopped accepting");
        assert_eq!(echo_once(&mut a, b"after"), b"after", "open connections are served");
        server.shutdown(Duration::from_millis(100));
        server.join().unwrap();
    }
}
