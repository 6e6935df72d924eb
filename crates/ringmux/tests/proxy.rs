//! PROXY protocol v2 listeners on both backends: the header's client becomes `peer_addr` (plain and TLS, the
//! header split across writes, the next layer's bytes in the same segment), refused and late headers close the
//! connection and reach `Handler::proxy_rejected`, and peers not trusted are direct clients.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use common::{closed_by_server, config, connect};
use ringmux::proxy_header::{ProxyHeaderError, encode};
use ringmux::{
    Backend, Certificates, Conn, Ctx, Handler, Origin, ProxyProtocol, ProxyRejection, Server,
    TlsAcceptor,
};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

#[derive(Debug, PartialEq)]
enum Ev {
    Open {
        peer: Option<SocketAddr>,
        socket_peer: Option<SocketAddr>,
        proxied: bool,
    },
    Rejected(Option<SocketAddr>, ProxyRejection),
}

/// Writes the addresses it sees at open as a line, then echoes.
struct Tell {
    events: mpsc::Sender<Ev>,
}

impl Handler for Tell {
    type State = ();
    type Message = ();

    fn open(&mut self, ctx: &mut Ctx<'_, ()>, conn: Conn, _: Origin) {
        let (peer, socket_peer) = (ctx.peer_addr(conn), ctx.socket_peer_addr(conn));
        let proxied = ctx.is_proxied(conn);
        let line = format!("{peer:?} {socket_peer:?} {proxied}\n");
        let _ = ctx.send(conn, line.as_bytes());
        let _ = self.events.send(Ev::Open {
            peer,
            socket_peer,
            proxied,
        });
    }

    fn data(&mut self, ctx: &mut Ctx<'_, ()>, conn: Conn, _: &mut (), bytes: &[u8]) {
        let _ = ctx.send(conn, bytes);
    }

    fn proxy_rejected(
        &mut self,
        _: &mut Ctx<'_, ()>,
        peer: Option<SocketAddr>,
        why: ProxyRejection,
    ) {
        let _ = self.events.send(Ev::Rejected(peer, why));
    }
}

fn start(
    b: Backend,
    trusted: &str,
    timeout: Duration,
    tls: Option<TlsAcceptor>,
) -> (Server<()>, mpsc::Receiver<Ev>) {
    let (tx, rx) = mpsc::channel();
    let cfg = ringmux::Config {
        listeners: vec![ringmux::Listener {
            tls,
            proxy_protocol: Some(ProxyProtocol {
                trusted: vec![trusted.parse().unwrap()],
                timeout,
            }),
            ..common::loopback()
        }],
        ..config(b)
    };
    let server = Server::start(cfg, move |_| Tell { events: tx.clone() }).unwrap();
    (server, rx)
}

fn finish(server: Server<()>) -> ringmux::Stats {
    server.shutdown(Duration::from_secs(2));
    let all = server.join().unwrap();
    all.iter().fold(ringmux::Stats::default(), |mut t, s| {
        t.accepted += s.accepted;
        t.proxy_headers += s.proxy_headers;
        t.proxy_rejected += s.proxy_rejected;
        t
    })
}

fn client() -> SocketAddr {
    "203.0.113.7:51000".parse().unwrap()
}

fn header(to: SocketAddr) -> Vec<u8> {
    let mut h = Vec::new();
    encode(Some((client(), to)), &[0x04, 0, 1, 0], &mut h);
    h
}

fn wait(rx: &mpsc::Receiver<Ev>) -> Ev {
    rx.recv_timeout(Duration::from_secs(5))
        .expect("an event within 5 s")
}

both_backends! {
    fn header_split_across_writes_names_the_client(b: Backend) {
        let (server, events) = start(b, "127.0.0.1", Duration::from_secs(5), None);
        let addr = server.local_addr().unwrap();
        let mut s = connect(addr);
        let local = s.local_addr().unwrap();
        let h = header(addr);
        s.write_all(&h[..7]).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        assert!(events.try_recv().is_err(), "no open before the header is complete");
        // The rest of the header and the first bytes of the next layer in one segment.
        let mut rest = h[7..].to_vec();
        rest.extend_from_slice(b"ping");
        s.write_all(&rest).unwrap();
        assert_eq!(
            wait(&events),
            Ev::Open { peer: Some(client()), socket_peer: Some(local), proxied: true }
        );
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        assert!(line.starts_with("Some(203.0.113.7:51000)"), "{line}");
        let mut back = [0u8; 4];
        r.read_exact(&mut back).unwrap();
        assert_eq!(&back, b"ping", "the bytes after the header reach the handler");
        // LOCAL keeps the socket's address.
        let mut s2 = connect(addr);
        let local2 = s2.local_addr().unwrap();
        let mut h = Vec::new();
        encode(None, &[], &mut h);
        s2.write_all(&h).unwrap();
        assert_eq!(
            wait(&events),
            Ev::Open { peer: Some(local2), socket_peer: Some(local2), proxied: true }
        );
        drop((s, s2, r));
        let st = finish(server);
        assert_eq!((st.accepted, st.proxy_headers, st.proxy_rejected), (2, 2, 0));
    }

    fn bad_header_closes_and_is_reported(b: Backend) {
        let (server, events) = start(b, "127.0.0.1", Duration::from_secs(5), None);
        let addr = server.local_addr().unwrap();
        let mut s = connect(addr);
        let local = s.local_addr().unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        assert!(closed_by_server(&mut s, Duration::from_secs(5)));
        assert_eq!(
            wait(&events),
            Ev::Rejected(
                Some(local),
                ProxyRejection::Invalid(ProxyHeaderError::Signature { at: 0, found: b'G' })
            )
        );
        // Version 1 text is refused by name.
        let mut s = connect(addr);
        s.write_all(b"PROXY TCP4 203.0.113.7 127.0.0.1 5 6\r\n").unwrap();
        assert!(closed_by_server(&mut s, Duration::from_secs(5)));
        assert!(matches!(
            wait(&events),
            Ev::Rejected(_, ProxyRejection::Invalid(ProxyHeaderError::Version1))
        ));
        // Closed halfway through the header.
        let s = connect(addr);
        (&s).write_all(&header(addr)[..20]).unwrap();
        drop(s);
        assert!(matches!(wait(&events), Ev::Rejected(_, ProxyRejection::Closed)));
        let st = finish(server);
        assert_eq!((st.accepted, st.proxy_rejected), (0, 3));
    }

    fn late_header_times_out(b: Backend) {
        let (server, events) = start(b, "127.0.0.1", Duration::from_millis(300), None);
        let addr = server.local_addr().unwrap();
        let mut s = connect(addr);
        s.write_all(&header(addr)[..10]).unwrap();
        let t = std::time::Instant::now();
        assert!(closed_by_server(&mut s, Duration::from_secs(5)));
        assert!(t.elapsed() < Duration::from_secs(3), "closed after {:?}", t.elapsed());
        assert!(matches!(wait(&events), Ev::Rejected(_, ProxyRejection::Timeout)));
        assert_eq!(finish(server).proxy_rejected, 1);
    }

    fn untrusted_peers_are_direct_clients(b: Backend) {
        let (server, events) = start(b, "127.0.0.2", Duration::from_secs(5), None);
        let addr = server.local_addr().unwrap();
        let mut s = connect(addr);
        let local = s.local_addr().unwrap();
        assert_eq!(
            wait(&events),
            Ev::Open { peer: Some(local), socket_peer: Some(local), proxied: false }
        );
        // A header from a peer that is not trusted is just bytes.
        let h = header(addr);
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        s.write_all(&h).unwrap();
        let mut back = vec![0u8; h.len()];
        r.read_exact(&mut back).unwrap();
        assert_eq!(back, h);
        drop((s, r));
        let st = finish(server);
        assert_eq!((st.accepted, st.proxy_headers), (1, 0));
    }

    fn header_before_the_tls_client_hello(b: Backend) {
        let c = rcgen::generate_simple_self_signed(vec!["edge.test".to_string()]).unwrap();
        let acceptor = TlsAcceptor::new(
            Certificates::from_pem(c.cert.pem().as_bytes(), c.signing_key.serialize_pem().as_bytes()).unwrap(),
        )
        .unwrap();
        let (server, events) = start(b, "127.0.0.1", Duration::from_secs(5), Some(acceptor));
        let addr = server.local_addr().unwrap();
        let tcp = connect(addr);
        let mut h = header(addr);
        // Split: the first write ends inside the header, the second carries its end only.
        (&tcp).write_all(&h[..30]).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        (&tcp).write_all(&h.split_off(30)).unwrap();
        let mut roots = RootCertStore::empty();
        roots.add(c.cert.der().clone()).unwrap();
        let cfg = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let conn = ClientConnection::new(Arc::new(cfg), ServerName::try_from("edge.test").unwrap()).unwrap();
        let mut tls = StreamOwned::new(conn, tcp);
        while tls.conn.is_handshaking() {
            tls.conn.complete_io(&mut tls.sock).unwrap();
        }
        assert!(matches!(wait(&events), Ev::Open { peer: Some(p), proxied: true, .. } if p == client()));
        let mut r = BufReader::new(tls);
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        assert!(line.starts_with("Some(203.0.113.7:51000)"), "{line}");
        r.get_mut().write_all(b"over tls").unwrap();
        let mut back = [0u8; 8];
        r.read_exact(&mut back).unwrap();
        assert_eq!(&back, b"over tls");
        // Without the header, a ClientHello from the trusted proxy is refused at its first byte.
        let mut s: TcpStream = connect(addr);
        s.write_all(&[0x16, 0x03, 0x01, 0x00, 0x05]).unwrap();
        assert!(closed_by_server(&mut s, Duration::from_secs(5)));
        assert!(matches!(
            wait(&events),
            Ev::Rejected(_, ProxyRejection::Invalid(ProxyHeaderError::Signature { at: 0, found: 0x16 }))
        ));
        drop(r);
        finish(server);
    }
}
