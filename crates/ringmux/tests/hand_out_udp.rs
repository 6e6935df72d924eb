//! A hand-out's UDP sockets on both backends: a worker's bound UDP socket goes to the server started on the
//! hand-over, whose bind at start to the same address takes it over; datagrams sent while the old server was
//! frozen are read by the new one. Resumed instead, the old server reads them.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::Duration;

use common::config;
use ringmux::{Conn, Ctx, HandOutPart, Handler, Origin, Server, Udp, WorkerInheritance};

enum Ask {
    HandOut,
    Release,
    Resume,
}

/// Binds `addr` at start and answers every datagram with its tag and the datagram; sends its hand-out to the
/// test.
struct Tagged {
    tag: &'static str,
    addr: SocketAddr,
    udp: Option<Udp>,
    building: Option<WorkerInheritance>,
    told: Sender<WorkerInheritance>,
}

impl Handler for Tagged {
    type State = ();
    type Message = Ask;

    fn start(&mut self, ctx: &mut Ctx<'_, Ask>) {
        self.udp = Some(ctx.bind_udp(self.addr).unwrap());
    }

    fn open(&mut self, _: &mut Ctx<'_, Ask>, _: Conn, _: Origin) {}

    fn data(&mut self, _: &mut Ctx<'_, Ask>, _: Conn, _: &mut (), _: &[u8]) {}

    fn datagram(&mut self, ctx: &mut Ctx<'_, Ask>, udp: Udp, from: SocketAddr, bytes: &[u8]) {
        let answer = [self.tag.as_bytes(), b":", bytes].concat();
        ctx.send_to(udp, from, &answer).unwrap();
    }

    fn handed_out(&mut self, _: &mut Ctx<'_, Ask>, part: std::io::Result<HandOutPart>) {
        if common::add_part(&mut self.building, part.unwrap()) {
            self.told.send(self.building.take().unwrap()).unwrap();
        }
    }

    fn message(&mut self, ctx: &mut Ctx<'_, Ask>, ask: Ask) {
        match ask {
            Ask::HandOut => ctx.hand_out(),
            Ask::Release => ctx.release_handed_out(),
            Ask::Resume => ctx.resume(),
        }
    }
}

fn tagged(
    tag: &'static str,
    addr: SocketAddr,
) -> (
    impl Fn(usize) -> Tagged + Send + Sync + Clone + 'static,
    Receiver<WorkerInheritance>,
) {
    let (tx, rx) = channel();
    let make = move |_| Tagged {
        tag,
        addr,
        udp: None,
        building: None,
        told: tx.clone(),
    };
    (make, rx)
}

/// A UDP address free now.
fn free_udp() -> SocketAddr {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// The next answer the client gets, if one comes within `within`.
fn answer(client: &UdpSocket, within: Duration) -> Option<String> {
    client.set_read_timeout(Some(within)).unwrap();
    let mut b = [0u8; 256];
    let (n, _) = client.recv_from(&mut b).ok()?;
    Some(String::from_utf8_lossy(&b[..n]).into_owned())
}

fn setup(
    b: ringmux::Backend,
) -> (
    Server<Ask>,
    Receiver<WorkerInheritance>,
    SocketAddr,
    UdpSocket,
) {
    let addr = free_udp();
    let (make, told) = tagged("old", addr);
    let old = Server::start(config(b), make).unwrap();
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    // The worker binds at its start, a moment after the server started.
    let answered = (0..50).any(|_| {
        client.send_to(b"ping", addr).unwrap();
        answer(&client, Duration::from_millis(100)).as_deref() == Some("old:ping")
    });
    assert!(answered, "the old server answers");
    old.post(0, Ask::HandOut).unwrap();
    (old, told, addr, client)
}

both_backends! {
    fn the_udp_socket_goes_with_its_datagrams(b: Backend) {
        let (old, told, addr, client) = setup(b);
        let package = told.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(package.udp.len(), 1);
        // Sent while the old server is frozen: not read there.
        client.send_to(b"meanwhile", addr).unwrap();
        assert_eq!(answer(&client, Duration::from_millis(300)), None);
        let (make, _) = tagged("new", addr);
        let new = Server::start_inheriting(config(b), make, vec![package]).unwrap();
        old.post(0, Ask::Release).unwrap();
        assert_eq!(answer(&client, Duration::from_secs(5)).as_deref(), Some("new:meanwhile"));
        for i in 0..20 {
            let msg = format!("after{i}");
            client.send_to(msg.as_bytes(), addr).unwrap();
            let want = format!("new:{msg}");
            assert_eq!(answer(&client, Duration::from_secs(5)), Some(want), "the old server reads no more");
        }
        old.shutdown(Duration::from_millis(200));
        old.join().unwrap();
        new.shutdown(Duration::from_millis(200));
        new.join().unwrap();
    }

    fn a_resumed_hand_out_reads_its_udp_socket_again(b: Backend) {
        let (old, told, addr, client) = setup(b);
        drop(told.recv_timeout(Duration::from_secs(10)).unwrap());
        client.send_to(b"meanwhile", addr).unwrap();
        assert_eq!(answer(&client, Duration::from_millis(300)), None);
        old.post(0, Ask::Resume).unwrap();
        assert_eq!(answer(&client, Duration::from_secs(5)).as_deref(), Some("old:meanwhile"));
        client.send_to(b"again", addr).unwrap();
        assert_eq!(answer(&client, Duration::from_secs(5)).as_deref(), Some("old:again"));
        old.shutdown(Duration::from_millis(200));
        old.join().unwrap();
    }
}
