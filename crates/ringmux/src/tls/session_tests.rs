//! Sans-network tests of [`TlsConn`]: a client session and a server session exchange records through two
//! in-memory pipes, the way the worker drives them (received bytes lent, records appended to the send queue).

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{CertificateError, ClientConfig, RootCertStore};

use super::session::{Outcome, TlsConn};
use super::{Certificates, TlsAcceptor};

/// A self-signed certificate for `names`, and roots that trust it.
pub(super) fn self_signed(names: &[&str]) -> (Certificates, RootCertStore) {
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let c = rcgen::generate_simple_self_signed(names).unwrap();
    let certs = Certificates::from_pem(
        c.cert.pem().as_bytes(),
        c.signing_key.serialize_pem().as_bytes(),
    )
    .unwrap();
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from(c.cert.der().to_vec()))
        .unwrap();
    (certs, roots)
}

/// A server for `names` and a client configuration trusting it (self-signed), offering `alpn`.
fn pair_config(names: &[&str], alpn: &[u8]) -> (TlsAcceptor, Arc<ClientConfig>) {
    let (certs, roots) = self_signed(names);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![alpn.to_vec()];
    (TlsAcceptor::new(certs).unwrap(), Arc::new(cfg))
}

/// What one side got out of an exchange.
#[derive(Debug, Default)]
struct Side {
    handshake: Option<bool>,
    error: Option<rustls::Error>,
    plain: Vec<u8>,
}

impl Side {
    fn take(&mut self, o: Outcome) {
        self.handshake = self.handshake.or(o.handshake_done);
        self.error = self.error.take().or(o.error);
    }
}

/// Runs both sessions until neither has anything to send: `to_server` holds what the client wrote so far.
fn run(client: &mut TlsConn, server: &mut TlsConn, mut to_server: Vec<u8>) -> (Side, Side) {
    let (mut c, mut s) = (Side::default(), Side::default());
    let mut to_client = Vec::new();
    for _ in 0..16 {
        if to_server.is_empty() && to_client.is_empty() {
            return (c, s);
        }
        let mut back = Vec::new();
        let o = server.receive(&mut to_server, &mut s.plain, &mut back);
        s.take(o);
        to_client.append(&mut back);
        to_server.clear();
        let mut forth = Vec::new();
        let o = client.receive(&mut to_client, &mut c.plain, &mut forth);
        c.take(o);
        to_server.append(&mut forth);
        to_client.clear();
    }
    panic!("the sessions kept talking");
}

fn client(cfg: &Arc<ClientConfig>, name: &'static str) -> (TlsConn, Vec<u8>) {
    let mut session = TlsConn::client(cfg.clone(), ServerName::try_from(name).unwrap()).unwrap();
    assert!(session.is_client());
    let mut hello = Vec::new();
    session.start(&mut hello).unwrap();
    assert_eq!(hello.first(), Some(&22), "a handshake record (ClientHello)");
    (session, hello)
}

#[test]
fn client_and_server_sessions_handshake_carry_data_and_resume() {
    let (acceptor, cfg) = pair_config(&["core.test"], b"http/1.1");
    for resumed in [false, true] {
        let (mut c, mut hello) = client(&cfg, "core.test");
        // Queued before the handshake: held in the session, sealed once it completes.
        c.send(b"early", &mut hello).unwrap();
        assert_eq!(c.waiting(), 5);
        let mut s = acceptor.session().unwrap();
        assert!(!s.is_client());
        let (cs, ss) = run(&mut c, &mut s, hello);
        assert_eq!(
            cs.handshake,
            Some(resumed),
            "client handshake (resumed: {resumed})"
        );
        assert_eq!(ss.handshake, Some(resumed), "server handshake");
        assert!(cs.error.is_none() && ss.error.is_none(), "{cs:?} {ss:?}");
        assert_eq!(c.waiting(), 0);
        let mut out = Vec::new();
        c.send(b"ping", &mut out).unwrap();
        let (_, ss2) = run(&mut c, &mut s, out);
        assert_eq!([ss.plain, ss2.plain].concat(), b"earlyping");
        let mut out = Vec::new();
        s.send(b"pong", &mut out).unwrap();
        let mut plain = Vec::new();
        c.receive(&mut out, &mut plain, &mut Vec::new());
        // The server's session tickets (TLS 1.3) came before: the next round resumes.
        assert_eq!(plain, b"pong");
    }
}

#[test]
fn a_wrong_name_fails_the_client_and_alerts_the_server() {
    let (acceptor, cfg) = pair_config(&["other.test"], b"http/1.1");
    let (mut c, hello) = client(&cfg, "core.test");
    let mut s = acceptor.session().unwrap();
    let (cs, ss) = run(&mut c, &mut s, hello);
    assert!(
        matches!(
            cs.error,
            Some(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForNameContext { .. }
            ))
        ),
        "{cs:?}"
    );
    assert_eq!(cs.handshake, None);
    assert!(
        matches!(ss.error, Some(rustls::Error::AlertReceived(_))),
        "{ss:?}"
    );
    let mut out = Vec::new();
    assert!(
        c.send(b"x", &mut out).is_err(),
        "a failed session refuses to send"
    );
}

#[test]
fn a_refused_client_hello_followed_by_more_handshake_bytes_fails_without_panicking() {
    // The client offers only "h2"; the server speaks "http/1.1": the ClientHello is refused. A second handshake
    // message in the same record stays buffered in rustls when the alert is written.
    let (acceptor, cfg) = pair_config(&["core.test"], b"h2");
    let (_, mut hello) = client(&cfg, "core.test");
    let extra = [20u8, 0, 0, 0];
    hello.extend_from_slice(&extra);
    let len = u16::from_be_bytes([hello[3], hello[4]]) + extra.len() as u16;
    hello[3..5].copy_from_slice(&len.to_be_bytes());
    let mut s = acceptor.session().unwrap();
    let (mut plain, mut out) = (Vec::new(), Vec::new());
    let outcome = s.receive(&mut hello, &mut plain, &mut out);
    assert!(outcome.error.is_some(), "{outcome:?}");
    assert_eq!(outcome.handshake_done, None);
    assert_eq!(out.first(), Some(&21), "an alert record goes back: {out:?}");
    assert!(plain.is_empty());
}
