//! TLS listeners on both backends, with certificates made in the test (rcgen) and a rustls client: echo,
//! sends across connections, a refused handshake with more bytes behind it, SNI choice, resumption, reload under
//! load, a bad reload refused.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use common::config;
use ringmux::{
    Backend, Certificates, Conn, Ctx, Handler, Origin, PemFiles, Server, TlsAcceptor, TlsFiles,
};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, HandshakeKind, RootCertStore, StreamOwned};

/// A self-signed certificate for `names`: (cert PEM, key PEM, DER).
fn cert(names: &[&str]) -> (String, String, CertificateDer<'static>) {
    let c =
        rcgen::generate_simple_self_signed(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap();
    (
        c.cert.pem(),
        c.signing_key.serialize_pem(),
        c.cert.der().clone(),
    )
}

fn client_config(
    trust: &[&CertificateDer<'static>],
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for c in trust {
        roots.add((*c).clone()).unwrap();
    }
    let mut cfg =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(cfg)
}

type Tls = StreamOwned<ClientConnection, TcpStream>;

fn tls_connect(addr: SocketAddr, cfg: &Arc<ClientConfig>, name: &str) -> Tls {
    let tcp = common::connect(addr);
    let conn =
        ClientConnection::new(cfg.clone(), ServerName::try_from(name.to_owned()).unwrap()).unwrap();
    let mut s = StreamOwned::new(conn, tcp);
    while s.conn.is_handshaking() {
        s.conn.complete_io(&mut s.sock).unwrap();
    }
    s
}

fn echo(s: &mut Tls, msg: &[u8]) -> Vec<u8> {
    s.write_all(msg).unwrap();
    s.flush().unwrap();
    let mut back = vec![0; msg.len()];
    s.read_exact(&mut back).unwrap();
    back
}

/// Echoes; bytes starting with '@' go to the first connection instead; reports `is_tls` at open.
struct Echo {
    first: Option<Conn>,
    opened: mpsc::Sender<bool>,
}

impl Handler for Echo {
    type State = ();
    type Message = ();

    fn open(&mut self, ctx: &mut Ctx<'_, ()>, conn: Conn, _: Origin) {
        self.first.get_or_insert(conn);
        let _ = self.opened.send(ctx.is_tls(conn));
    }

    fn data(&mut self, ctx: &mut Ctx<'_, ()>, conn: Conn, _: &mut (), bytes: &[u8]) {
        let to = match (bytes.first(), self.first) {
            (Some(b'@'), Some(first)) => first,
            _ => conn,
        };
        let _ = ctx.send(to, bytes);
    }
}

fn start(b: Backend, acceptor: &TlsAcceptor, workers: usize) -> (Server<()>, mpsc::Receiver<bool>) {
    let (tx, rx) = mpsc::channel();
    let cfg = ringmux::Config {
        listeners: vec![common::loopback().with_tls(acceptor.clone())],
        workers,
        ..config(b)
    };
    let server = Server::start(cfg, move |_| Echo {
        first: None,
        opened: tx.clone(),
    })
    .unwrap();
    (server, rx)
}

fn finish(server: Server<()>) -> ringmux::Stats {
    server.shutdown(Duration::from_secs(2));
    let all = server.join().unwrap();
    all.iter().fold(ringmux::Stats::default(), |mut t, s| {
        t.tls_handshakes += s.tls_handshakes;
        t.tls_resumed += s.tls_resumed;
        t.tls_failed += s.tls_failed;
        t.accepted += s.accepted;
        t
    })
}

both_backends! {
    fn echo_over_tls_and_sends_across_connections(b: Backend) {
        let (c, k, der) = cert(&["edge.test"]);
        let acceptor = TlsAcceptor::new(Certificates::from_pem(c.as_bytes(), k.as_bytes()).unwrap()).unwrap();
        let (server, opened) = start(b, &acceptor, 1);
        let addr = server.local_addr().unwrap();
        for versions in [&[&rustls::version::TLS13][..], &[&rustls::version::TLS12][..]] {
            let cfg = client_config(&[&der], versions);
            let mut a = tls_connect(addr, &cfg, "edge.test");
            assert!(opened.recv_timeout(Duration::from_secs(5)).unwrap(), "the handler sees is_tls");
            assert_eq!(a.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
            assert_eq!(a.conn.protocol_version(), Some(versions[0].version));
            assert_eq!(echo(&mut a, b"hello"), b"hello");
            // A large message spans several records and receive buffers.
            let big: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
            assert_eq!(echo(&mut a, &big), big);
            drop(a);
        }
        // The handler sends to another TLS connection than the one the bytes came on.
        let cfg = client_config(&[&der], &[&rustls::version::TLS13]);
        let server2 = {
            let (server2, _o) = start(b, &acceptor, 1);
            let addr2 = server2.local_addr().unwrap();
            let mut first = tls_connect(addr2, &cfg, "edge.test");
            assert_eq!(echo(&mut first, b"one"), b"one");
            let mut second = tls_connect(addr2, &cfg, "edge.test");
            second.write_all(b"@relayed").unwrap();
            second.flush().unwrap();
            let mut got = [0u8; 8];
            first.read_exact(&mut got).unwrap();
            assert_eq!(&got, b"@relayed");
            server2
        };
        finish(server2);
        let stats = finish(server);
        assert_eq!(stats.tls_handshakes, 2);
        assert_eq!(stats.tls_failed, 0);
    }

    fn plaintext_client_on_a_tls_listener_fails_cleanly(b: Backend) {
        let (c, k, _) = cert(&["edge.test"]);
        let acceptor = TlsAcceptor::new(Certificates::from_pem(c.as_bytes(), k.as_bytes()).unwrap()).unwrap();
        let (server, _opened) = start(b, &acceptor, 1);
        let mut s = common::connect(server.local_addr().unwrap());
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut reply = Vec::new();
        let _ = s.read_to_end(&mut reply);
        // A TLS alert record (content type 21), never the plaintext echoed back.
        assert_eq!(reply.first(), Some(&21), "{reply:?}");
        let stats = finish(server);
        assert_eq!(stats.tls_failed, 1);
        assert_eq!(stats.tls_handshakes, 0);
    }

    fn refused_client_hello_with_trailing_handshake_bytes_leaves_the_worker_running(b: Backend) {
        let (c, k, der) = cert(&["edge.test"]);
        let acceptor = TlsAcceptor::new(Certificates::from_pem(c.as_bytes(), k.as_bytes()).unwrap()).unwrap();
        let (server, _opened) = start(b, &acceptor, 1);
        let addr = server.local_addr().unwrap();
        // A ClientHello the server refuses (only ALPN "h2" offered), with one more handshake message in the same
        // record: rustls still holds that message when the alert is written.
        let mut h2 = (*client_config(&[&der], &[&rustls::version::TLS13])).clone();
        h2.alpn_protocols = vec![b"h2".to_vec()];
        let mut hello = Vec::new();
        ClientConnection::new(Arc::new(h2), ServerName::try_from("edge.test").unwrap())
            .unwrap()
            .write_tls(&mut hello)
            .unwrap();
        hello.extend_from_slice(&[20, 0, 0, 0]);
        let len = u16::from_be_bytes([hello[3], hello[4]]) + 4;
        hello[3..5].copy_from_slice(&len.to_be_bytes());
        let mut s = common::connect(addr);
        s.write_all(&hello).unwrap();
        let mut reply = Vec::new();
        let _ = s.read_to_end(&mut reply);
        assert_eq!(reply.first(), Some(&21), "an alert: {reply:?}");
        // The worker is still there.
        let cfg = client_config(&[&der], &[&rustls::version::TLS13]);
        let mut ok = tls_connect(addr, &cfg, "edge.test");
        assert_eq!(echo(&mut ok, b"alive"), b"alive");
        let stats = finish(server);
        assert_eq!((stats.tls_failed, stats.tls_handshakes), (1, 1));
    }

    fn sni_chooses_the_certificate(b: Backend) {
        let (dc, dk, dder) = cert(&["default.test"]);
        let (ac, ak, ader) = cert(&["a.test"]);
        let (wc, wk, wder) = cert(&["x.b.test"]);
        let certs = Certificates::from_pem(dc.as_bytes(), dk.as_bytes())
            .unwrap()
            .with_sni("a.test", ac.as_bytes(), ak.as_bytes())
            .unwrap()
            .with_sni("*.b.test", wc.as_bytes(), wk.as_bytes())
            .unwrap();
        let acceptor = TlsAcceptor::new(certs).unwrap();
        let (server, _opened) = start(b, &acceptor, 1);
        let addr = server.local_addr().unwrap();
        let cfg = client_config(&[&dder, &ader, &wder], &[&rustls::version::TLS13, &rustls::version::TLS12]);
        for (name, want) in [("a.test", &ader), ("x.b.test", &wder), ("default.test", &dder)] {
            let mut s = tls_connect(addr, &cfg, name);
            let got = s.conn.peer_certificates().unwrap()[0].clone();
            assert_eq!(&got, want, "certificate served for {name}");
            assert_eq!(echo(&mut s, name.as_bytes()), name.as_bytes());
        }
        let stats = finish(server);
        assert_eq!(stats.tls_handshakes, 3);
    }

    fn resumption_is_counted_on_reconnect(b: Backend) {
        let (c, k, der) = cert(&["edge.test"]);
        let acceptor = TlsAcceptor::new(Certificates::from_pem(c.as_bytes(), k.as_bytes()).unwrap()).unwrap();
        // Two workers: a ticket issued by one worker is honoured by the other.
        let (server, _opened) = start(b, &acceptor, 2);
        let addr = server.local_addr().unwrap();
        let mut resumed = 0;
        for versions in [&[&rustls::version::TLS13][..], &[&rustls::version::TLS12][..]] {
            let cfg = client_config(&[&der], versions);
            for i in 0..4 {
                let mut s = tls_connect(addr, &cfg, "edge.test");
                // TLS 1.3 tickets arrive after the handshake: one echo makes sure the client has them.
                assert_eq!(echo(&mut s, b"ping"), b"ping");
                let kind = s.conn.handshake_kind();
                assert_eq!(kind, Some(if i == 0 { HandshakeKind::Full } else { HandshakeKind::Resumed }), "{versions:?} connection {i}");
                resumed += u64::from(kind == Some(HandshakeKind::Resumed));
            }
        }
        let stats = finish(server);
        assert_eq!(stats.tls_handshakes, 8);
        assert_eq!(stats.tls_resumed, resumed);
        assert_eq!(resumed, 6);
    }

    fn reload_under_load_drops_nothing_and_bad_reload_is_refused(b: Backend) {
        let dir = std::env::temp_dir().join(format!("ringmux-tls-{}-{b:?}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let files = TlsFiles {
            default: Some(PemFiles { cert: dir.join("cert.pem"), key: dir.join("key.pem") }),
            sni: Vec::new(),
        };
        let write = |c: &str, k: &str| {
            std::fs::write(dir.join("cert.pem"), c).unwrap();
            std::fs::write(dir.join("key.pem"), k).unwrap();
        };
        let (c1, k1, der1) = cert(&["edge.test"]);
        write(&c1, &k1);
        let acceptor = TlsAcceptor::from_files(&files).unwrap();
        let (server, _opened) = start(b, &acceptor, 2);
        let addr = server.local_addr().unwrap();
        let certs: Vec<_> = (0..3).map(|_| cert(&["edge.test"])).collect();
        let mut trust = vec![&der1];
        trust.extend(certs.iter().map(|(_, _, d)| d));
        let cfg = client_config(&trust, &[&rustls::version::TLS13, &rustls::version::TLS12]);
        // Checks of the certificate served use full handshakes (a resumed one shows the old session's).
        let fresh = {
            let mut c = (*cfg).clone();
            c.resumption = rustls::client::Resumption::disabled();
            Arc::new(c)
        };

        // Clients echo without pause while the certificates change underneath.
        let stop = Arc::new(AtomicBool::new(false));
        let echoes = Arc::new(AtomicU64::new(0));
        let clients: Vec<_> = (0..8)
            .map(|i| {
                let (cfg, stop, echoes) = (cfg.clone(), stop.clone(), echoes.clone());
                std::thread::spawn(move || {
                    let mut s = tls_connect(addr, &cfg, "edge.test");
                    let msg = format!("client {i}");
                    while !stop.load(Ordering::Relaxed) {
                        assert_eq!(echo(&mut s, msg.as_bytes()), msg.as_bytes());
                        echoes.fetch_add(1, Ordering::Relaxed);
                    }
                    s.conn.peer_certificates().unwrap()[0].clone()
                })
            })
            .collect();
        for (c, k, der) in &certs {
            std::thread::sleep(Duration::from_millis(100));
            write(c, k);
            acceptor.reload_files(&files).unwrap();
            let mut s = tls_connect(addr, &fresh, "edge.test");
            assert_eq!(&s.conn.peer_certificates().unwrap()[0], der, "a new connection gets the new certificate");
            assert_eq!(echo(&mut s, b"new"), b"new");
        }
        // A bad certificate (key of another certificate) is refused; the last good one stays.
        let (_, other_key, _) = cert(&["edge.test"]);
        let (good_cert, _, good_der) = &certs[2];
        write(good_cert, &other_key);
        assert!(matches!(acceptor.reload_files(&files), Err(ringmux::TlsError::Rejected { .. })));
        std::fs::write(dir.join("cert.pem"), "not a certificate").unwrap();
        assert!(matches!(acceptor.reload_files(&files), Err(ringmux::TlsError::NoCertificate(_))));
        let mut s = tls_connect(addr, &fresh, "edge.test");
        assert_eq!(&s.conn.peer_certificates().unwrap()[0], good_der);
        assert_eq!(echo(&mut s, b"still"), b"still");

        stop.store(true, Ordering::Relaxed);
        for c in clients {
            let first = c.join().expect("a client lost its connection during reloads");
            assert_eq!(first, der1, "established sessions keep their certificate");
        }
        assert!(echoes.load(Ordering::Relaxed) > 8);
        let stats = finish(server);
        assert_eq!(stats.tls_failed, 0);
        assert_eq!(stats.tls_handshakes, 8 + 3 + 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
