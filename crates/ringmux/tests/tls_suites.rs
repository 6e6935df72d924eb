//! Every cipher suite the TLS listener offers (those usable with an ECDSA certificate), against rustls's
//! stock client on both backends: a handshake, and a message that spans many records each way.

mod common;

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

use common::Echo;
use ringmux::{Certificates, Server, TlsAcceptor};
use rustls::pki_types::ServerName;
use rustls::{CipherSuite, ClientConfig, ClientConnection, RootCertStore, StreamOwned};

const SUITES: [CipherSuite; 6] = [
    CipherSuite::TLS13_AES_128_GCM_SHA256,
    CipherSuite::TLS13_AES_256_GCM_SHA384,
    CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
    CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
];

both_backends! {
    fn every_suite_carries_large_messages(b: Backend) {
        let c = rcgen::generate_simple_self_signed(vec!["edge.test".to_owned()]).unwrap();
        let certs = Certificates::from_pem(c.cert.pem().as_bytes(), c.signing_key.serialize_pem().as_bytes()).unwrap();
        let acceptor = TlsAcceptor::new(certs).unwrap();
        let cfg = ringmux::Config {
            listeners: vec![common::loopback().with_tls(acceptor)],
            ..common::config(b)
        };
        let server = Server::start(cfg, |_| Echo).unwrap();
        let addr = server.local_addr().unwrap();
        let mut roots = RootCertStore::empty();
        roots.add(c.cert.der().clone()).unwrap();
        for suite in SUITES {
            let mut provider = rustls::crypto::ring::default_provider();
            provider.cipher_suites.retain(|s| s.suite() == suite);
            let version = match provider.cipher_suites.first() {
                Some(rustls::SupportedCipherSuite::Tls13(_)) => &rustls::version::TLS13,
                _ => &rustls::version::TLS12,
            };
            let client = ClientConfig::builder_with_provider(Arc::new(provider))
                .with_protocol_versions(&[version])
                .unwrap()
                .with_root_certificates(roots.clone())
                .with_no_client_auth();
            let name = ServerName::try_from("edge.test").unwrap();
            let conn = ClientConnection::new(Arc::new(client), name).unwrap();
            let mut s = StreamOwned::new(conn, common::connect(addr));
            // 100 kB: seven full records and a partial one, each way; then a small one.
            let big: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
            for msg in [&big[..], b"OPTIONS sip:edge.test SIP/2.0\r\n\r\n"] {
                s.write_all(msg).unwrap();
                s.flush().unwrap();
                let mut back = vec![0; msg.len()];
                s.read_exact(&mut back).unwrap();
                assert!(back == msg, "{suite:?}: echo differs");
            }
            assert_eq!(s.conn.negotiated_cipher_suite().map(|s| s.suite()), Some(suite));
        }
        server.shutdown(Duration::from_secs(2));
        let stats = server.join().unwrap();
        assert_eq!(stats[0].tls_handshakes, SUITES.len() as u64);
        assert_eq!(stats[0].tls_failed, 0);
    }
}
