//! A hand-out on both backends: a server gives its listener and connections to another one started on them
//! (`Ctx::hand_out`, `Server::start_inheriting`); clients see no close, their counts go on and the bytes they
//! sent meanwhile are read there. Resumed instead (the other side failed), the first server serves on as before.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::Duration;

use common::{config, connect};
use ringmux::{CloseReason, Conn, Ctx, HandOutPart, Handler, Origin, Server, WorkerInheritance};

/// What the test asks a server's worker.
enum Ask {
    HandOut,
    Release,
    Resume,
    /// Send a byte on every connection this worker opened or adopted; tell what each send said.
    Poke,
}

/// What a server's worker tells the test.
#[derive(Debug)]
enum Told {
    Package(WorkerInheritance),
    Closed(CloseReason),
    Poked(Vec<Result<(), ringmux::SendError>>),
}

/// Counts the bytes each connection received (carried over as 8 bytes) and answers each read with the count so
/// far; hands out every connection except one whose count is 7.
struct Counter {
    told: Sender<Told>,
    /// The hand-out's parts so far.
    building: Option<WorkerInheritance>,
    /// Resume at the first chunk of connections (the other side went away midway).
    resume_midway: bool,
    /// The connections opened or adopted here.
    conns: Vec<Conn>,
}

impl Counter {
    fn new(told: Sender<Told>, resume_midway: bool) -> Self {
        Self {
            told,
            building: None,
            resume_midway,
            conns: Vec::new(),
        }
    }
}

impl Handler for Counter {
    type State = u64;
    type Message = Ask;

    fn open(&mut self, _: &mut Ctx<'_, Ask>, conn: Conn, _: Origin) -> u64 {
        self.conns.push(conn);
        0
    }

    fn adopt(&mut self, _: &mut Ctx<'_, Ask>, conn: Conn, state: &[u8]) -> Option<u64> {
        self.conns.push(conn);
        Some(u64::from_be_bytes(state.try_into().ok()?))
    }

    fn data(&mut self, ctx: &mut Ctx<'_, Ask>, conn: Conn, count: &mut u64, bytes: &[u8]) {
        *count += bytes.len() as u64;
        let _ = ctx.send(conn, format!("{count};").as_bytes());
    }

    fn export(
        &mut self,
        _: &mut Ctx<'_, Ask>,
        _: Conn,
        count: &mut u64,
        out: &mut Vec<u8>,
    ) -> bool {
        out.extend_from_slice(&count.to_be_bytes());
        *count != 7
    }

    fn handed_out(&mut self, ctx: &mut Ctx<'_, Ask>, part: std::io::Result<HandOutPart>) {
        let part = part.unwrap();
        let chunk = match &part {
            HandOutPart::Conns(conns) => {
                assert!(conns.len() <= ringmux::hand_out::CHUNK);
                true
            }
            _ => false,
        };
        let ended = common::add_part(&mut self.building, part);
        if chunk && self.resume_midway {
            ctx.resume();
        }
        if ended || (chunk && self.resume_midway) {
            let package = self.building.take().unwrap();
            self.told.send(Told::Package(package)).unwrap();
        }
    }

    fn closed(&mut self, _: &mut Ctx<'_, Ask>, _: Conn, _: u64, reason: CloseReason) {
        let _ = self.told.send(Told::Closed(reason));
    }

    fn message(&mut self, ctx: &mut Ctx<'_, Ask>, ask: Ask) {
        match ask {
            Ask::HandOut => ctx.hand_out(),
            Ask::Release => ctx.release_handed_out(),
            Ask::Resume => ctx.resume(),
            Ask::Poke => {
                let sent = self.conns.iter().map(|&c| ctx.send(c, b"!")).collect();
                self.told.send(Told::Poked(sent)).unwrap();
            }
        }
    }
}

/// Sends `bytes` and reads `;`-terminated counts until one is `want`.
fn count_is<S: Read + Write>(s: &mut S, bytes: &[u8], want: u64) {
    if !bytes.is_empty() {
        s.write_all(bytes).unwrap();
        s.flush().unwrap();
    }
    let mut got = String::new();
    let mut b = [0u8; 256];
    // A poke's '!' may come between the counts.
    while !got
        .split(';')
        .any(|c| c.trim_start_matches('!').parse::<u64>() == Ok(want))
    {
        let n = s.read(&mut b).expect("the count");
        assert!(n > 0, "closed; read so far: {got:?}");
        got.push_str(&String::from_utf8_lossy(&b[..n]));
    }
}

fn start(b: ringmux::Backend) -> (Server<Ask>, Receiver<Told>) {
    start_with(config(b))
}

fn start_with(config: ringmux::Config) -> (Server<Ask>, Receiver<Told>) {
    let (tx, rx) = channel();
    let server = Server::start(config, move |_| Counter::new(tx.clone(), false)).unwrap();
    (server, rx)
}

fn package(rx: &Receiver<Told>) -> WorkerInheritance {
    match rx.recv_timeout(Duration::from_secs(10)).unwrap() {
        Told::Package(p) => p,
        other => panic!("{other:?}"),
    }
}

/// Three clients with counts 3, 7 (kept by the old server) and 5.
/// `n` clients of `addr`, each having sent one byte (count 1).
fn counted_clients(addr: std::net::SocketAddr, n: usize) -> Vec<TcpStream> {
    (0..n)
        .map(|_| {
            let mut c = connect(addr);
            count_is(&mut c, b"a", 1);
            c
        })
        .collect()
}

fn clients(server: &Server<Ask>) -> Vec<TcpStream> {
    let addr = server.local_addr().unwrap();
    [b"abc".as_slice(), b"1234567", b"hello"]
        .iter()
        .map(|bytes| {
            let mut c = connect(addr);
            count_is(&mut c, bytes, bytes.len() as u64);
            c
        })
        .collect()
}

both_backends! {
    fn connections_handed_out_go_on_in_the_new_server(b: Backend) {
        let (old, told) = start(b);
        let addr = old.local_addr().unwrap();
        let mut clients = clients(&old);
        old.post(0, Ask::HandOut).unwrap();
        let package = package(&told);
        assert_eq!(package.listeners.len(), 1);
        assert_eq!(package.conns.len(), 2, "the connection at count 7 stays");
        // Sent while the old server is frozen and the new one not started: read by the new one.
        clients[0].write_all(b"de").unwrap();
        let (tx, _new_told) = channel();
        let new = Server::start_inheriting(config(b), move |_| Counter::new(tx.clone(), false), vec![package]).unwrap();
        assert_eq!(new.local_addr(), Some(addr));
        old.post(0, Ask::Release).unwrap();
        let mut handed = 0;
        while handed < 2 {
            match told.recv_timeout(Duration::from_secs(10)).unwrap() {
                Told::Closed(CloseReason::HandedOver) => handed += 1,
                other => panic!("{other:?}"),
            }
        }
        count_is(&mut clients[0], b"", 5);
        count_is(&mut clients[2], b"!", 6);
        // The connection kept reads again in the old server.
        count_is(&mut clients[1], b"8", 8);
        // New connections go to the new server only: the old one closed its listener.
        let mut fresh = connect(addr);
        count_is(&mut fresh, b"xy", 2);
        // Shut down, the old server closes only the connection it kept.
        old.shutdown(Duration::from_millis(500));
        let stats = old.join().unwrap();
        assert_eq!(stats[0].accepted, 3, "the fresh connection went to the new server");
        let kept: Vec<Told> = told.try_iter().collect();
        assert!(matches!(kept.as_slice(), [Told::Closed(CloseReason::Shutdown)]), "{kept:?}");
        count_is(&mut clients[0], b"f", 6);
        new.shutdown(Duration::from_secs(1));
        new.join().unwrap();
    }

    fn a_hand_out_resumed_leaves_everything_where_it_was(b: Backend) {
        let (old, told) = start(b);
        let addr = old.local_addr().unwrap();
        let mut clients = clients(&old);
        old.post(0, Ask::HandOut).unwrap();
        // The other side failed: what it was given is dropped unused.
        drop(package(&told));
        // While the hand-out waits for its answer, nothing is sent on a connection whose state went out (it
        // would be missing from that state: a TLS record sealed twice with one sequence number); the one kept
        // (count 7) sends.
        old.post(0, Ask::Poke).unwrap();
        let Told::Poked(sent) = told.recv_timeout(Duration::from_secs(10)).unwrap() else {
            panic!("the sends");
        };
        let closing = Err(ringmux::SendError::Closing);
        assert_eq!(sent, [closing, Ok(()), closing]);
        clients[2].write_all(b"12").unwrap();
        // Resumed, every connection sends again at once (before the worker's next pass thaws them: a message
        // from another worker may come in the same batch of mail as the resume).
        old.post(0, Ask::Resume).unwrap();
        old.post(0, Ask::Poke).unwrap();
        let Told::Poked(sent) = told.recv_timeout(Duration::from_secs(10)).unwrap() else {
            panic!("the sends");
        };
        assert_eq!(sent, [Ok(()), Ok(()), Ok(())]);
        count_is(&mut clients[2], b"", 7);
        count_is(&mut clients[0], b"d", 4);
        let mut fresh = connect(addr);
        count_is(&mut fresh, b"xyz", 3);
        assert!(told.try_recv().is_err(), "nothing closed");
        old.shutdown(Duration::from_secs(1));
        old.join().unwrap();
    }

    fn more_connections_than_a_chunk_move_in_batches(b: Backend) {
        let (old, told) = start(b);
        let addr = old.local_addr().unwrap();
        let n = ringmux::hand_out::CHUNK + 300;
        let mut clients = counted_clients(addr, n);
        old.post(0, Ask::HandOut).unwrap();
        let mut package = package(&told);
        assert_eq!(package.conns.len(), n);
        // The new server takes them on in batches of 200, as they would come off the socket.
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let batches: Vec<Vec<ringmux::InheritedConn>> = {
            let mut all = std::mem::take(&mut package.conns);
            let mut out = Vec::new();
            while !all.is_empty() {
                let rest = all.split_off(all.len().min(200));
                out.push(all);
                all = rest;
            }
            out
        };
        package.more = Some(rx);
        let feeder = std::thread::spawn(move || {
            for batch in batches {
                tx.send(batch).unwrap();
            }
        });
        let (new_tx, _new_told) = channel();
        let new = Server::start_inheriting(
            config(b),
            move |_| Counter::new(new_tx.clone(), false),
            vec![package],
        )
        .unwrap();
        feeder.join().unwrap();
        old.post(0, Ask::Release).unwrap();
        for c in &mut clients {
            count_is(c, b"b", 2);
        }
        old.shutdown(Duration::from_millis(200));
        assert_eq!(old.join().unwrap()[0].accepted as usize, n);
        new.shutdown(Duration::from_secs(1));
        new.join().unwrap();
    }

    fn a_hand_out_resumed_in_the_middle_of_its_chunks_serves_on(b: Backend) {
        let (tx, told) = channel();
        let old = Server::start(config(b), move |_| Counter::new(tx.clone(), true))
        .unwrap();
        let addr = old.local_addr().unwrap();
        let n = ringmux::hand_out::CHUNK + 10;
        let mut clients = counted_clients(addr, n);
        old.post(0, Ask::HandOut).unwrap();
        drop(package(&told));
        // Every connection reads again, the ones of the chunk handed out and the ones after it.
        for c in &mut clients {
            count_is(c, b"b", 2);
        }
        let mut fresh = connect(addr);
        count_is(&mut fresh, b"xyz", 3);
        old.shutdown(Duration::from_millis(200));
        old.join().unwrap();
    }
}

/// TLS: a listener with a self-signed certificate for `edge.test`, and clients of TLS 1.3 and 1.2 trusting it.
mod tls {
    use std::net::{SocketAddr, TcpStream};
    use std::sync::Arc;

    use ringmux::{Certificates, TlsAcceptor};
    use rustls::pki_types::{CertificateDer, ServerName};
    use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

    pub type Client = StreamOwned<ClientConnection, TcpStream>;

    pub fn setup(b: ringmux::Backend) -> (ringmux::Config, Arc<ClientConfig>, Arc<ClientConfig>) {
        let c = rcgen::generate_simple_self_signed(vec!["edge.test".to_string()]).unwrap();
        let pem = (c.cert.pem(), c.signing_key.serialize_pem());
        let acceptor =
            TlsAcceptor::new(Certificates::from_pem(pem.0.as_bytes(), pem.1.as_bytes()).unwrap())
                .unwrap();
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from(c.cert.der().to_vec()))
            .unwrap();
        let client = |v: &'static rustls::SupportedProtocolVersion| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut cfg = ClientConfig::builder_with_provider(provider)
                .with_protocol_versions(&[v])
                .unwrap()
                .with_root_certificates(roots.clone())
                .with_no_client_auth();
            cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
            Arc::new(cfg)
        };
        let config = ringmux::Config {
            listeners: vec![super::common::loopback().with_tls(acceptor)],
            ..super::config(b)
        };
        (
            config,
            client(&rustls::version::TLS13),
            client(&rustls::version::TLS12),
        )
    }

    pub fn connect(addr: SocketAddr, cfg: &Arc<ClientConfig>) -> Client {
        let name = ServerName::try_from("edge.test").unwrap();
        let conn = ClientConnection::new(cfg.clone(), name).unwrap();
        let mut s = StreamOwned::new(conn, super::connect(addr));
        while s.conn.is_handshaking() {
            s.conn.complete_io(&mut s.sock).unwrap();
        }
        s
    }
}

both_backends! {
    fn tls_connections_go_on_in_the_new_server_with_their_keys(b: Backend) {
        let (config, tls13, tls12) = tls::setup(b);
        let (old, told) = start_with(config.clone());
        let addr = old.local_addr().unwrap();
        let mut clients: Vec<tls::Client> = [(&tls13, b"abc".as_slice()), (&tls12, b"1234567"), (&tls13, b"hello")]
            .into_iter()
            .map(|(cfg, bytes)| {
                let mut c = tls::connect(addr, cfg);
                count_is(&mut c, bytes, bytes.len() as u64);
                c
            })
            .collect();
        // A TLS 1.2 client handed over too.
        let mut tls12_client = tls::connect(addr, &tls12);
        count_is(&mut tls12_client, b"12", 2);
        // A key already updated before the hand-over.
        clients[2].conn.refresh_traffic_keys().unwrap();
        count_is(&mut clients[2], b"+", 6);
        old.post(0, Ask::HandOut).unwrap();
        let package = package(&told);
        assert_eq!(package.conns.len(), 3, "the connection at count 7 stays");
        assert!(package.conns.iter().all(|c| !c.tls.is_empty()), "each with its record state");
        // Sealed while the old server is frozen and the new one not started: read by the new one.
        clients[0].write_all(b"de").unwrap();
        clients[0].flush().unwrap();
        let (tx, new_told) = channel();
        let new = Server::start_inheriting(config, move |_| Counter::new(tx.clone(), false), vec![package]).unwrap();
        old.post(0, Ask::Release).unwrap();
        let mut handed = 0;
        while handed < 3 {
            match told.recv_timeout(Duration::from_secs(10)).unwrap() {
                Told::Closed(CloseReason::HandedOver) => handed += 1,
                other => panic!("{other:?}"),
            }
        }
        count_is(&mut clients[0], b"", 5);
        count_is(&mut tls12_client, b"3", 3);
        // A client KeyUpdate (update requested) after the hand-over: answered, and records go on both ways.
        clients[2].conn.refresh_traffic_keys().unwrap();
        count_is(&mut clients[2], b"!", 7);
        clients[0].conn.refresh_traffic_keys().unwrap();
        count_is(&mut clients[0], b"f", 6);
        // The connection kept reads again in the old server.
        count_is(&mut clients[1], b"8", 8);
        // close_notify: the new server hears the client close.
        clients[2].conn.send_close_notify();
        clients[2].flush().unwrap();
        match new_told.recv_timeout(Duration::from_secs(10)).unwrap() {
            Told::Closed(CloseReason::PeerClosed) => {}
            other => panic!("{other:?}"),
        }
        old.shutdown(Duration::from_millis(500));
        old.join().unwrap();
        new.shutdown(Duration::from_secs(1));
        new.join().unwrap();
    }
}
