//! What the outbound TLS tests run against: a test CA (rcgen) issuing server and client certificates, a plain
//! rustls echo server on its own threads that reports each handshake it saw, and a ringmux handler that opens
//! outbound TLS connections on command and reports what happened to them.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use ringmux::{Conn, Ctx, Handler, Origin, TlsConnector};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, HandshakeKind, RootCertStore, ServerConfig, ServerConnection};

/// A certificate chain and its key.
pub type Identity = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

/// A test certificate authority.
pub struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Ca {
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.distinguished_name.push(DnType::CommonName, name);
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Self { issuer }
    }

    pub fn der(&self) -> CertificateDer<'static> {
        self.issuer.der().clone()
    }

    /// A certificate for `names` signed by this CA, with its key.
    pub fn issue(&self, names: &[&str]) -> Identity {
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let cert = CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &self.issuer)
            .unwrap();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        (vec![cert.der().clone(), self.der()], key)
    }

    pub fn roots(&self) -> RootCertStore {
        let mut roots = RootCertStore::empty();
        roots.add(self.der()).unwrap();
        roots
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A client configuration trusting `ca`, offering `versions`, with `identity` as client certificate if given.
pub fn client_config(
    ca: &Ca,
    versions: &[&'static rustls::SupportedProtocolVersion],
    identity: Option<Identity>,
) -> ClientConfig {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(ca.roots());
    match identity {
        Some((chain, key)) => builder.with_client_auth_cert(chain, key).unwrap(),
        None => builder.with_no_client_auth(),
    }
}

/// A server configuration (TLS 1.3 and 1.2, stateful session cache) serving `identity`, requiring a client
/// certificate from `client_ca` if given.
pub fn server_config(identity: Identity, client_ca: Option<&Ca>) -> Arc<ServerConfig> {
    let builder = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .unwrap();
    let builder = match client_ca {
        Some(ca) => builder.with_client_cert_verifier(
            WebPkiClientVerifier::builder_with_provider(Arc::new(ca.roots()), provider())
                .build()
                .unwrap(),
        ),
        None => builder.with_no_client_auth(),
    };
    Arc::new(builder.with_single_cert(identity.0, identity.1).unwrap())
}

/// What the echo server saw of one handshake.
#[derive(Debug)]
pub struct Seen {
    pub sni: Option<String>,
    pub kind: Option<HandshakeKind>,
    pub client_certs: usize,
}

/// A rustls echo server on loopback: one thread per connection; each handshake's outcome goes to the receiver
/// (`Err` with rustls's message when it failed).
pub fn echo_server(cfg: Arc<ServerConfig>) -> (SocketAddr, mpsc::Receiver<Result<Seen, String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for sock in listener.incoming() {
            let Ok(sock) = sock else { return };
            let (cfg, tx) = (cfg.clone(), tx.clone());
            std::thread::spawn(move || serve(sock, cfg, &tx));
        }
    });
    (addr, rx)
}

fn serve(mut sock: TcpStream, cfg: Arc<ServerConfig>, tx: &mpsc::Sender<Result<Seen, String>>) {
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut conn = ServerConnection::new(cfg).unwrap();
    while conn.is_handshaking() {
        if let Err(e) = conn.complete_io(&mut sock) {
            let _ = tx.send(Err(e.to_string()));
            return;
        }
    }
    let _ = tx.send(Ok(Seen {
        sni: conn.server_name().map(str::to_owned),
        kind: conn.handshake_kind(),
        client_certs: conn.peer_certificates().map_or(0, <[_]>::len),
    }));
    let mut s = rustls::Stream::new(&mut conn, &mut sock);
    let mut buf = vec![0; 64 * 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if s.write_all(&buf[..n]).and_then(|()| s.flush()).is_err() {
                    return;
                }
            }
        }
    }
}

/// What the test asks the worker to do.
pub enum Cmd {
    /// `connect_tls` to `addr` as `name`, then send `early` at once (before the handshake completed).
    Connect {
        addr: SocketAddr,
        connector: TlsConnector,
        name: &'static str,
        early: Vec<u8>,
    },
    /// Send bytes on an open connection.
    Send(Conn, Vec<u8>),
}

/// What happened, as the handler saw it.
#[derive(Debug)]
pub enum Event {
    /// `connect_tls` returned (`Err`: it refused at once).
    Started(Result<Conn, String>),
    /// `open` ran: is_tls, the negotiated version.
    Open(Conn, bool, Option<rustls::ProtocolVersion>),
    Data(Conn, Vec<u8>),
    Failed(Conn, std::io::Error),
}

/// Opens outbound TLS connections on command and reports to the test.
pub struct Client {
    pub events: mpsc::Sender<Event>,
}

impl Handler for Client {
    type State = ();
    type Message = Cmd;

    fn open(&mut self, ctx: &mut Ctx<'_, Cmd>, conn: Conn, origin: Origin) {
        assert_eq!(origin, Origin::Connected);
        let _ = self
            .events
            .send(Event::Open(conn, ctx.is_tls(conn), ctx.tls_version(conn)));
    }

    fn data(&mut self, _: &mut Ctx<'_, Cmd>, conn: Conn, _: &mut (), bytes: &[u8]) {
        let _ = self.events.send(Event::Data(conn, bytes.to_vec()));
    }

    fn message(&mut self, ctx: &mut Ctx<'_, Cmd>, msg: Cmd) {
        match msg {
            Cmd::Connect {
                addr,
                connector,
                name,
                early,
            } => {
                let name = ServerName::try_from(name).unwrap();
                let started = ctx.connect_tls(addr, &connector, name);
                if let Ok(conn) = started
                    && !early.is_empty()
                {
                    ctx.send(conn, &early).unwrap();
                }
                let _ = self
                    .events
                    .send(Event::Started(started.map_err(|e| e.to_string())));
            }
            Cmd::Send(conn, bytes) => ctx.send(conn, &bytes).unwrap(),
        }
    }

    fn connect_failed(&mut self, _: &mut Ctx<'_, Cmd>, conn: Conn, error: std::io::Error) {
        let _ = self.events.send(Event::Failed(conn, error));
    }
}
