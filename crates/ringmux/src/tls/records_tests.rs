//! The record layer after the handshake against rustls as the client, for every suite: data both ways (over
//! several records), a state carried to a fresh session in the middle, a client KeyUpdate (TLS 1.3),
//! close_notify both ways, and hostile records.

use std::io::{Read, Write};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::crypto::ring::{cipher_suite as suites, default_provider};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, SupportedCipherSuite};

use super::super::session::{Outcome, TlsConn};
use super::super::{TlsAcceptor, TlsState};

const TLS13: [SupportedCipherSuite; 3] = [
    suites::TLS13_AES_128_GCM_SHA256,
    suites::TLS13_AES_256_GCM_SHA384,
    suites::TLS13_CHACHA20_POLY1305_SHA256,
];
const TLS12: [SupportedCipherSuite; 3] = [
    suites::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    suites::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    suites::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
];

/// A server (ECDSA certificate) and a rustls client offering only `suite`.
fn setup(suite: SupportedCipherSuite) -> (TlsAcceptor, ClientConnection) {
    let (certs, roots) = super::super::session_tests::self_signed(&["edge.test"]);
    let provider = CryptoProvider {
        cipher_suites: vec![suite],
        ..default_provider()
    };
    let version = match suite {
        SupportedCipherSuite::Tls13(_) => &rustls::version::TLS13,
        SupportedCipherSuite::Tls12(_) => &rustls::version::TLS12,
    };
    let mut cfg = ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&[version])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    let client =
        ClientConnection::new(Arc::new(cfg), ServerName::try_from("edge.test").unwrap()).unwrap();
    (TlsAcceptor::new(certs).unwrap(), client)
}

/// What the server session got from one round.
#[derive(Debug, Default)]
struct Got {
    plain: Vec<u8>,
    peer_closed: bool,
    error: Option<rustls::Error>,
}

/// The client's records so far go to the server; the server's answers back to the client. Returns what the
/// server read.
fn round(client: &mut ClientConnection, server: &mut TlsConn) -> Got {
    let mut got = Got::default();
    let mut to_server = Vec::new();
    while client.wants_write() {
        client.write_tls(&mut to_server).unwrap();
    }
    // Fed in two pieces: a record cut in the middle waits for its rest.
    let cut = to_server.len() / 2;
    let mut back = Vec::new();
    for piece in [&to_server[..cut], &to_server[cut..]] {
        let outcome = server.receive(&mut piece.to_vec(), &mut got.plain, &mut back);
        got.peer_closed |= outcome.peer_closed;
        got.error = got.error.take().or(outcome.error);
    }
    assert!(deliver(client, &back).is_empty(), "no data was sent");
    got
}

/// The client reads `bytes`; returns the plaintext they carried.
fn deliver(client: &mut ClientConnection, mut bytes: &[u8]) -> Vec<u8> {
    let mut plain = Vec::new();
    while !bytes.is_empty() {
        client.read_tls(&mut bytes).unwrap();
        client.process_new_packets().unwrap();
        plain.extend(client_reads(client));
    }
    plain
}

/// Everything the client can read now.
fn client_reads(client: &mut ClientConnection) -> Vec<u8> {
    let mut plain = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match client.reader().read(&mut buf) {
            Ok(0) => return plain,
            Ok(n) => plain.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return plain,
            Err(e) => panic!("client read: {e}"),
        }
    }
}

/// A completed handshake: the server session runs its own record layer.
fn established(suite: SupportedCipherSuite) -> (ClientConnection, TlsConn) {
    let (acceptor, mut client) = setup(suite);
    let mut server = acceptor.session().unwrap();
    for _ in 0..8 {
        let got = round(&mut client, &mut server);
        assert!(got.error.is_none(), "{suite:?}: {:?}", got.error);
        if !client.is_handshaking() && !client.wants_write() {
            break;
        }
    }
    assert!(!client.is_handshaking(), "{suite:?}");
    assert!(
        server.export().is_some(),
        "{suite:?}: the record layer took over"
    );
    (client, server)
}

/// Data both ways, a large message spanning several records included.
fn exchange(client: &mut ClientConnection, server: &mut TlsConn, tag: &str) {
    let big: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
    client.writer().write_all(tag.as_bytes()).unwrap();
    client.writer().write_all(&big).unwrap();
    let got = round(client, server);
    assert!(got.error.is_none(), "{tag}: {:?}", got.error);
    assert_eq!(got.plain.len(), tag.len() + big.len(), "{tag}");
    assert!(
        got.plain.starts_with(tag.as_bytes()) && got.plain.ends_with(&big),
        "{tag}"
    );
    let mut out = Vec::new();
    server.send(tag.as_bytes(), &mut out).unwrap();
    server.send(&big, &mut out).unwrap();
    let read = deliver(client, &out);
    assert_eq!(read, [tag.as_bytes(), &big].concat(), "{tag}");
}

/// A session carried over as a hand-over carries it: exported, read back into a new session.
fn carried(server: &TlsConn) -> TlsConn {
    let state = server.export().expect("an established session exports");
    let copy = TlsState::from_bytes(state.as_bytes().to_vec());
    TlsConn::import(&copy).unwrap()
}

#[test]
fn every_suite_carries_data_across_a_hand_over_and_closes() {
    for suite in TLS13.into_iter().chain(TLS12) {
        let (mut client, mut server) = established(suite);
        exchange(&mut client, &mut server, "before");
        let mut server = carried(&server);
        exchange(&mut client, &mut server, "after");
        // close_notify from the client.
        client.send_close_notify();
        let got = round(&mut client, &mut server);
        assert!(got.peer_closed && got.error.is_none(), "{suite:?}: {got:?}");
        // And the server's close_notify reaches the client as a clean end.
        let mut out = Vec::new();
        server.close_notify(&mut out);
        deliver(&mut client, &out);
        let mut buf = [0u8; 8];
        assert_eq!(client.reader().read(&mut buf).unwrap(), 0, "{suite:?}");
        assert!(
            server.export().is_none(),
            "a closing session is not carried"
        );
    }
}

#[test]
fn a_client_key_update_is_answered_before_and_after_a_hand_over() {
    for suite in TLS13 {
        let (mut client, mut server) = established(suite);
        client.refresh_traffic_keys().unwrap();
        exchange(&mut client, &mut server, "updated once");
        let mut server = carried(&server);
        client.refresh_traffic_keys().unwrap();
        exchange(&mut client, &mut server, "updated twice");
        // The state carried after updates holds the updated secrets.
        let mut server = carried(&server);
        client.refresh_traffic_keys().unwrap();
        exchange(&mut client, &mut server, "updated thrice");
    }
}

#[test]
fn a_tampered_record_fails_with_bad_record_mac() {
    for suite in TLS13.into_iter().chain(TLS12) {
        let (mut client, mut server) = established(suite);
        client.writer().write_all(b"hello").unwrap();
        let mut record = Vec::new();
        client.write_tls(&mut record).unwrap();
        let last = record.len() - 1;
        record[last] ^= 1;
        let (mut plain, mut out) = (Vec::new(), Vec::new());
        let outcome = server.receive(&mut record, &mut plain, &mut out);
        assert_eq!(
            outcome.error,
            Some(rustls::Error::DecryptError),
            "{suite:?}"
        );
        assert!(plain.is_empty());
        deliver_err(&mut client, &out, "BadRecordMac");
        // A failed session takes nothing more in and is not carried.
        assert!(server.export().is_none());
        assert!(server.send(b"x", &mut out).is_err());
    }
}

/// The client reads `out` and fails with the alert named `alert`.
fn deliver_err(client: &mut ClientConnection, mut out: &[u8], alert: &str) {
    client.read_tls(&mut out).unwrap();
    let e = client.process_new_packets().unwrap_err();
    assert!(format!("{e:?}").contains(alert), "{e:?}");
}

#[test]
fn oversized_and_unexpected_records_are_refused_with_their_alerts() {
    for suite in [TLS13[0], TLS12[0]] {
        // A header announcing more than a record may carry: refused before the body arrives.
        let (mut client, mut server) = established(suite);
        let mut huge = vec![23, 3, 3, 0xff, 0xff];
        let (mut plain, mut out) = (Vec::new(), Vec::new());
        let outcome = server.receive(&mut huge, &mut plain, &mut out);
        assert_eq!(outcome.error, Some(rustls::Error::PeerSentOversizedRecord));
        deliver_err(&mut client, &out, "RecordOverflow");
        // A record type that is never protected (change_cipher_spec) after the handshake.
        let (mut client, mut server) = established(suite);
        let mut ccs = vec![20, 3, 3, 0, 1, 1];
        let mut out = Vec::new();
        let outcome = server.receive(&mut ccs, &mut plain, &mut out);
        assert!(outcome.error.is_some(), "{suite:?}");
        deliver_err(&mut client, &out, "UnexpectedMessage");
    }
}

#[test]
fn a_state_cut_short_or_altered_is_refused() {
    let (_, server) = established(TLS13[1]);
    let state = server.export().unwrap();
    let bytes = state.as_bytes();
    assert!(format!("{state:?}").contains("bytes"), "no key is printed");
    for n in 0..bytes.len() {
        let cut = TlsState::from_bytes(bytes[..n].to_vec());
        assert!(TlsConn::import(&cut).is_err(), "cut at {n}");
    }
    let mut longer = bytes.to_vec();
    longer.push(0);
    assert!(TlsConn::import(&TlsState::from_bytes(longer)).is_err());
    // Another format version, another protocol version, an unknown suite, a TLS 1.2 suite with a TLS 1.3
    // version, a key of another length, a sequence number about to wrap (found by fuzzing: sealing the
    // KeyUpdate it forced overflowed).
    let cases: [(usize, &[u8]); 6] = [
        (0, &[2]),
        (2, &[2]),
        (4, &[0x7f]),
        (3, &[0xc0, 0x2c]),
        (13, &[16]),
        (5, &[0xff; 8]),
    ];
    for (at, value) in cases {
        let mut altered = bytes.to_vec();
        altered[at..at + value.len()].copy_from_slice(value);
        assert!(
            TlsConn::import(&TlsState::from_bytes(altered)).is_err(),
            "bytes at {at} = {value:?}"
        );
    }
}

/// The client's side of an established session: the server's record state with its directions swapped, so that
/// a test seals what rustls would not send.
fn client_side(server: &TlsConn) -> super::Records {
    let state = server.export().unwrap();
    let (mut records, _) = super::super::state::decode(&state, 0).unwrap();
    std::mem::swap(&mut records.rx, &mut records.tx);
    records
}

#[test]
fn a_run_of_records_without_data_ends_the_session() {
    for suite in [TLS13[0], TLS12[2]] {
        let (mut client, mut server) = established(suite);
        let mut peer = client_side(&server);
        let mut records = Vec::new();
        // Runs of empty records as long as allowed, data in between: all fine.
        for _ in 0..3 {
            for _ in 0..super::MAX_IDLE_RECORDS {
                assert!(
                    peer.seal(rustls::ContentType::ApplicationData, &[], &mut records)
                        .is_ok()
                );
            }
            assert!(
                peer.seal(rustls::ContentType::ApplicationData, b"x", &mut records)
                    .is_ok()
            );
        }
        let (mut plain, mut out) = (Vec::new(), Vec::new());
        let outcome = server.receive(&mut records, &mut plain, &mut out);
        assert!(outcome.error.is_none(), "{suite:?}: {outcome:?}");
        assert_eq!(plain, b"xxx");
        // One more than allowed in a row: the session fails with unexpected_message.
        let mut records = Vec::new();
        for _ in 0..=super::MAX_IDLE_RECORDS {
            assert!(
                peer.seal(rustls::ContentType::ApplicationData, &[], &mut records)
                    .is_ok()
            );
        }
        let outcome = server.receive(&mut records, &mut plain, &mut out);
        assert!(outcome.error.is_some(), "{suite:?}");
        deliver_err(&mut client, &out, "UnexpectedMessage");
    }
}

/// The records in `bytes`, by their headers.
fn records_in(bytes: &[u8]) -> usize {
    let (mut n, mut at) = (0, 0);
    while let Some(h) = bytes.get(at..at + 5) {
        at += 5 + usize::from(u16::from_be_bytes([h[3], h[4]]));
        n += 1;
    }
    n
}

#[test]
fn key_updates_asked_for_are_answered_once_before_the_next_data() {
    let (_, mut server) = established(TLS13[2]);
    let mut peer = client_side(&server);
    let mut records = Vec::new();
    for _ in 0..3 {
        assert!(
            peer.seal(
                rustls::ContentType::Handshake,
                &[24, 0, 0, 1, 1],
                &mut records
            )
            .is_ok()
        );
        peer.tx = peer
            .next(&peer.tx)
            .ok()
            .expect("the client's secret is known");
    }
    let (mut plain, mut out) = (Vec::new(), Vec::new());
    let outcome = server.receive(&mut records, &mut plain, &mut out);
    assert!(
        outcome.error.is_none() && out.is_empty(),
        "nothing sent until there is data: {outcome:?}"
    );
    server.send(b"x", &mut out).unwrap();
    assert_eq!(records_in(&out), 2, "one KeyUpdate, then the data");
    let (mut got, mut back, mut outcome) = (Vec::new(), Vec::new(), Outcome::default());
    peer.receive(&mut out, &mut got, &mut back, &mut outcome);
    assert!(outcome.error.is_none(), "{outcome:?}");
    assert_eq!(got, b"x");
}

#[test]
fn nothing_is_read_after_close_notify() {
    let (_, mut server) = established(TLS13[0]);
    let mut peer = client_side(&server);
    let mut records = Vec::new();
    assert!(
        peer.seal(rustls::ContentType::Alert, &[1, 0], &mut records)
            .is_ok()
    );
    let (mut plain, mut out) = (Vec::new(), Vec::new());
    assert!(
        server
            .receive(&mut records, &mut plain, &mut out)
            .peer_closed
    );
    let mut late = Vec::new();
    assert!(
        peer.seal(rustls::ContentType::ApplicationData, b"late", &mut late)
            .is_ok()
    );
    let outcome = server.receive(&mut late, &mut plain, &mut out);
    assert!(plain.is_empty() && outcome.error.is_none(), "{outcome:?}");
}

#[test]
fn a_tls12_renegotiation_is_refused_with_handshake_failure() {
    let (mut client, mut server) = established(TLS12[0]);
    let mut peer = client_side(&server);
    let mut records = Vec::new();
    assert!(
        peer.seal(rustls::ContentType::Handshake, &[1, 0, 0, 0], &mut records)
            .is_ok()
    );
    let (mut plain, mut out) = (Vec::new(), Vec::new());
    assert!(
        server
            .receive(&mut records, &mut plain, &mut out)
            .error
            .is_some()
    );
    deliver_err(&mut client, &out, "HandshakeFailure");
}
