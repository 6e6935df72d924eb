//! Outbound TLS (`Ctx::connect_tls`) on both backends, against a plain rustls server with certificates from a
//! test CA: handshake with SNI and a client certificate then echo, bytes sent before the handshake completed,
//! a wrong name and an unknown CA refused through `connect_failed`, resumption across connections of one
//! connector, a reload that applies to the next connection only, a silent server cut at the deadline, a server
//! that hangs up mid-handshake.

mod common;
#[path = "tls_client/peer.rs"]
mod peer;

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use peer::{Ca, Client, Cmd, Event, Seen, client_config, echo_server, server_config};
use ringmux::{Backend, Config, Conn, Server, Stats, TlsConnectError, TlsConnector};
use rustls::{CertificateError, HandshakeKind, ProtocolVersion};

const WAIT: Duration = Duration::from_secs(10);

/// One worker with no listener, driven by [`Cmd`]s.
struct Worker {
    server: Server<Cmd>,
    events: mpsc::Receiver<Event>,
}

impl Worker {
    fn start(b: Backend, handshake_timeout: Duration) -> Self {
        let (tx, events) = mpsc::channel();
        let cfg = Config {
            listeners: Vec::new(),
            tls_handshake_timeout: handshake_timeout,
            ..common::config(b)
        };
        let server = Server::start(cfg, move |_| Client { events: tx.clone() }).unwrap();
        assert_eq!(server.backend(), b);
        Self { server, events }
    }

    fn next(&self) -> Event {
        self.events.recv_timeout(WAIT).expect("no event in time")
    }

    fn connect(
        &self,
        addr: SocketAddr,
        c: &TlsConnector,
        name: &'static str,
        early: &[u8],
    ) -> Conn {
        let cmd = Cmd::Connect {
            addr,
            connector: c.clone(),
            name,
            early: early.to_vec(),
        };
        self.server.post(0, cmd).unwrap();
        match self.next() {
            Event::Started(Ok(conn)) => conn,
            other => panic!("connect_tls: {other:?}"),
        }
    }

    fn opened(&self, conn: Conn) -> Option<ProtocolVersion> {
        match self.next() {
            Event::Open(c, is_tls, version) if c == conn => {
                assert!(is_tls, "is_tls on an outbound TLS connection");
                version
            }
            other => panic!("expected open of {conn:?}, got {other:?}"),
        }
    }

    fn failed(&self, conn: Conn) -> io::Error {
        match self.next() {
            Event::Failed(c, e) if c == conn => e,
            other => panic!("expected connect_failed of {conn:?}, got {other:?}"),
        }
    }

    /// Collects `n` bytes of data on `conn`.
    fn read(&self, conn: Conn, n: usize) -> Vec<u8> {
        let mut got = Vec::new();
        while got.len() < n {
            match self.next() {
                Event::Data(c, bytes) if c == conn => got.extend_from_slice(&bytes),
                other => panic!("expected data on {conn:?}, got {other:?}"),
            }
        }
        got
    }

    fn echo(&self, conn: Conn, msg: &[u8]) {
        self.server.post(0, Cmd::Send(conn, msg.to_vec())).unwrap();
        assert_eq!(self.read(conn, msg.len()), msg);
    }

    fn finish(self) -> Stats {
        self.server.shutdown(Duration::from_secs(2));
        self.server.join().unwrap()[0]
    }
}

fn seen(rx: &mpsc::Receiver<Result<Seen, String>>) -> Seen {
    rx.recv_timeout(WAIT).unwrap().expect("server handshake")
}

/// The `TlsConnectError` inside an error from `connect_failed`.
fn tls_error(e: &io::Error) -> &TlsConnectError {
    e.get_ref()
        .and_then(|e| e.downcast_ref::<TlsConnectError>())
        .unwrap_or_else(|| panic!("not a TlsConnectError: {e:?}"))
}

both_backends! {
    fn handshake_with_sni_and_client_certificate_then_echo(b: Backend) {
        let ca = Ca::new("test CA");
        let (addr, rx) = echo_server(server_config(ca.issue(&["core.test"]), Some(&ca)));
        let w = Worker::start(b, WAIT);
        for (version, want) in [
            (&rustls::version::TLS13, ProtocolVersion::TLSv1_3),
            (&rustls::version::TLS12, ProtocolVersion::TLSv1_2),
        ] {
            let connector = TlsConnector::new(client_config(&ca, &[version], Some(ca.issue(&["edge.test"]))));
            // Sent before the handshake: held, then encrypted once it completes.
            let conn = w.connect(addr, &connector, "core.test", b"sent early");
            assert_eq!(w.opened(conn), Some(want));
            assert_eq!(w.read(conn, 10), b"sent early");
            let s = seen(&rx);
            assert_eq!(s.sni.as_deref(), Some("core.test"), "SNI");
            assert_eq!(s.client_certs, 2, "client chain presented for mutual TLS");
            w.echo(conn, b"after open");
            // Spans several records and receive buffers.
            let big: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
            w.echo(conn, &big);
        }
        let stats = w.finish();
        assert_eq!(stats.tls_handshakes, 2);
        assert_eq!(stats.tls_failed, 0);
    }

    fn wrong_name_is_refused_naming_the_error(b: Backend) {
        let ca = Ca::new("test CA");
        let (addr, rx) = echo_server(server_config(ca.issue(&["other.test"]), None));
        let w = Worker::start(b, WAIT);
        let connector = TlsConnector::new(client_config(&ca, &[&rustls::version::TLS13], None));
        let conn = w.connect(addr, &connector, "core.test", b"never sent");
        let e = w.failed(conn);
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        let msg = e.to_string();
        assert!(msg.contains("invalid peer certificate: certificate not valid for name \"core.test\""), "{msg}");
        assert!(matches!(
            tls_error(&e),
            TlsConnectError::Handshake(rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext { .. }))
        ), "{e:?}");
        // The alert reached the server.
        let refused = rx.recv_timeout(WAIT).unwrap().unwrap_err();
        assert!(refused.contains("BadCertificate"), "{refused}");
        let stats = w.finish();
        assert_eq!((stats.tls_failed, stats.tls_handshakes), (1, 0));
    }

    fn unknown_ca_is_refused(b: Backend) {
        let (ca, other) = (Ca::new("test CA"), Ca::new("unknown CA"));
        let (addr, _rx) = echo_server(server_config(other.issue(&["core.test"]), None));
        let w = Worker::start(b, WAIT);
        let connector = TlsConnector::new(client_config(&ca, &[&rustls::version::TLS13], None));
        let conn = w.connect(addr, &connector, "core.test", b"");
        let e = w.failed(conn);
        assert!(e.to_string().contains("invalid peer certificate: UnknownIssuer"), "{e}");
        assert!(matches!(
            tls_error(&e),
            TlsConnectError::Handshake(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer))
        ), "{e:?}");
        w.finish();
    }

    fn second_connection_of_a_connector_resumes(b: Backend) {
        let ca = Ca::new("test CA");
        let (addr, rx) = echo_server(server_config(ca.issue(&["core.test"]), None));
        let w = Worker::start(b, WAIT);
        for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
            let connector = TlsConnector::new(client_config(&ca, &[version], None));
            for want in [HandshakeKind::Full, HandshakeKind::Resumed] {
                let conn = w.connect(addr, &connector, "core.test", b"");
                w.opened(conn);
                assert_eq!(seen(&rx).kind, Some(want), "{version:?}");
                // The echo also brings the TLS 1.3 tickets in.
                w.echo(conn, b"ping");
            }
        }
        let stats = w.finish();
        assert_eq!((stats.tls_handshakes, stats.tls_resumed), (4, 2));
    }

    fn reload_applies_to_the_next_connection(b: Backend) {
        let (ca1, ca2) = (Ca::new("first CA"), Ca::new("second CA"));
        let (addr1, _rx1) = echo_server(server_config(ca1.issue(&["core.test"]), None));
        let (addr2, _rx2) = echo_server(server_config(ca2.issue(&["core.test"]), None));
        let w = Worker::start(b, WAIT);
        let connector = TlsConnector::new(client_config(&ca1, &[&rustls::version::TLS13], None));
        let old = w.connect(addr1, &connector, "core.test", b"");
        w.opened(old);
        let refused = w.connect(addr2, &connector, "core.test", b"");
        w.failed(refused);
        // A clone shares the settings: reloading through it changes what the worker's copy uses.
        connector.clone().reload(client_config(&ca2, &[&rustls::version::TLS13], None));
        let new = w.connect(addr2, &connector, "core.test", b"");
        w.opened(new);
        w.echo(new, b"new settings");
        let now_refused = w.connect(addr1, &connector, "core.test", b"");
        assert!(matches!(
            tls_error(&w.failed(now_refused)),
            TlsConnectError::Handshake(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer))
        ));
        // The connection made before the reload goes on.
        w.echo(old, b"old settings");
        let stats = w.finish();
        assert_eq!((stats.tls_handshakes, stats.tls_failed), (2, 2));
    }

    fn silent_server_hits_the_handshake_deadline(b: Backend) {
        // The kernel completes the TCP handshake into the backlog; nobody ever reads the ClientHello.
        let silent = TcpListener::bind("127.0.0.1:0").unwrap();
        let ca = Ca::new("test CA");
        let timeout = Duration::from_millis(300);
        let w = Worker::start(b, timeout);
        let connector = TlsConnector::new(client_config(&ca, &[&rustls::version::TLS13], None));
        let t0 = Instant::now();
        let conn = w.connect(silent.local_addr().unwrap(), &connector, "core.test", b"");
        let e = w.failed(conn);
        let took = t0.elapsed();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e}");
        assert!(matches!(tls_error(&e), TlsConnectError::Timeout(t) if *t == timeout), "{e:?}");
        assert!(took >= timeout && took < timeout * 10, "{took:?}");
        let stats = w.finish();
        assert_eq!(stats.tls_failed, 1);
        drop(silent);
    }

    fn server_hanging_up_mid_handshake_and_refused_connects_are_reported(b: Backend) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // Reads the whole ClientHello record, then closes without a word (a FIN, no alert).
        std::thread::spawn(move || {
            use std::io::Read;
            let (mut s, _) = listener.accept().unwrap();
            let mut head = [0u8; 5];
            s.read_exact(&mut head).unwrap();
            let mut body = vec![0; usize::from(u16::from_be_bytes([head[3], head[4]]))];
            s.read_exact(&mut body).unwrap();
        });
        let ca = Ca::new("test CA");
        let w = Worker::start(b, WAIT);
        let connector = TlsConnector::new(client_config(&ca, &[&rustls::version::TLS13], None));
        let conn = w.connect(addr, &connector, "core.test", b"");
        let e = w.failed(conn);
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof, "{e}");
        assert!(matches!(tls_error(&e), TlsConnectError::PeerClosed), "{e:?}");
        // Nothing listens here any more: the connect itself fails, with the OS error.
        let gone = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let conn = w.connect(gone, &connector, "core.test", b"");
        let e = w.failed(conn);
        assert_eq!(e.raw_os_error(), Some(libc::ECONNREFUSED), "{e:?}");
        w.finish();
    }
}
