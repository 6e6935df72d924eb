//! Several listeners on both backends: every worker accepts on each, each keeps its own TLS and PROXY
//! protocol settings, and the handler learns which listener accepted a connection.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use common::{config, connect};
use ringmux::proxy_header::encode;
use ringmux::{
    Certificates, Conn, Ctx, Error, Handler, Listener, Origin, ProxyProtocol, Server, TlsAcceptor,
};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

/// Writes "listener tls proxied peer" as a line at open, then echoes.
struct Which;

impl Handler for Which {
    type State = ();
    type Message = ();

    fn open(&mut self, ctx: &mut Ctx<'_, ()>, conn: Conn, _: Origin) {
        let line = format!(
            "{:?} {} {} {:?}\n",
            ctx.listener(conn),
            ctx.is_tls(conn),
            ctx.is_proxied(conn),
            ctx.peer_addr(conn)
        );
        let _ = ctx.send(conn, line.as_bytes());
    }

    fn data(&mut self, ctx: &mut Ctx<'_, ()>, conn: Conn, _: &mut (), bytes: &[u8]) {
        let _ = ctx.send(conn, bytes);
    }
}

fn line_and_echo<S: Read + Write>(s: S) -> String {
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    r.get_mut().write_all(b"ping").unwrap();
    r.get_mut().flush().unwrap();
    let mut back = [0u8; 4];
    r.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"ping", "echo on {line:?}");
    line.trim_end().to_owned()
}

fn tls_client(addr: SocketAddr, trust: rustls::pki_types::CertificateDer<'static>) -> String {
    let mut roots = RootCertStore::empty();
    roots.add(trust).unwrap();
    let cfg =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    let conn =
        ClientConnection::new(Arc::new(cfg), ServerName::try_from("edge.test").unwrap()).unwrap();
    let mut s = StreamOwned::new(conn, connect(addr));
    while s.conn.is_handshaking() {
        s.conn.complete_io(&mut s.sock).unwrap();
    }
    line_and_echo(s)
}

both_backends! {
    fn each_listener_keeps_its_own_settings(b: Backend) {
        let c = rcgen::generate_simple_self_signed(vec!["edge.test".to_string()]).unwrap();
        let acceptor = TlsAcceptor::new(
            Certificates::from_pem(c.cert.pem().as_bytes(), c.signing_key.serialize_pem().as_bytes())
                .unwrap(),
        )
        .unwrap();
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let cfg = ringmux::Config {
            workers: 2,
            listeners: vec![
                Listener::plain(any),
                Listener::plain(any).with_proxy_protocol(ProxyProtocol {
                    trusted: vec!["127.0.0.1".parse().unwrap()],
                    timeout: Duration::from_secs(5),
                }),
                Listener::plain(any).with_tls(acceptor),
            ],
            ..config(b)
        };
        let server = Server::start(cfg, |_| Which).unwrap();
        let addrs = server.local_addrs().to_vec();
        assert_eq!(addrs.len(), 3);
        assert_eq!(server.local_addr(), Some(addrs[0]));
        assert!(addrs[0].port() != addrs[1].port() && addrs[1].port() != addrs[2].port());

        // Several connections per listener, so that both workers' sockets of each get some.
        for _ in 0..4 {
            // Listener 0: plain, and 127.0.0.1 is a direct client here although listener 1 trusts it.
            let s = connect(addrs[0]);
            let me = s.local_addr().unwrap();
            assert_eq!(line_and_echo(s), format!("Some(0) false false Some({me})"));

            // Listener 1: the same peer must start with a PROXY protocol header, which names the client.
            let mut s = connect(addrs[1]);
            let client: SocketAddr = "203.0.113.7:51000".parse().unwrap();
            let mut h = Vec::new();
            encode(Some((client, addrs[1])), &[], &mut h);
            s.write_all(&h).unwrap();
            assert_eq!(line_and_echo(s), format!("Some(1) false true Some({client})"));

            // Listener 2: TLS.
            let line = tls_client(addrs[2], c.cert.der().clone());
            assert!(line.starts_with("Some(2) true false Some(127.0.0.1:"), "{line}");
        }

        // A plaintext client on the TLS listener fails there without disturbing the others.
        let mut s = connect(addrs[2]);
        s.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
        assert!(common::closed_by_server(&mut s, Duration::from_secs(5)));
        let s: TcpStream = connect(addrs[0]);
        assert!(line_and_echo(s).starts_with("Some(0) false false"));

        server.shutdown(Duration::from_secs(2));
        let stats = server.join().unwrap();
        assert_eq!(stats.iter().map(|s| s.accepted).sum::<u64>(), 14);
    }

    fn too_many_listeners_is_a_start_error(b: Backend) {
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let cfg = ringmux::Config {
            listeners: vec![Listener::plain(any); ringmux::MAX_LISTENERS + 1],
            ..config(b)
        };
        match Server::start(cfg, |_| Which) {
            Err(Error::TooManyListeners(n)) => assert_eq!(n, ringmux::MAX_LISTENERS + 1),
            other => panic!("expected TooManyListeners, got {:?}", other.map(|s| s.local_addrs().len())),
        }
    }
}
