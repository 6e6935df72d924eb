//! The compact record protection against rustls's own `ring` suites: identical records both ways, refusals.

use rustls::crypto::cipher::OutboundChunks;
use rustls::crypto::ring::cipher_suite as stock;

use super::*;

const KEY: [u8; 32] = [7; 32];
const IV: [u8; NONCE_LEN] = [9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2];

/// Stock and compact encrypter/decrypter pairs for a suite with a 32-byte key (the only length an
/// `AeadKey` can be made with from outside rustls).
type Pair = (Box<dyn MessageEncrypter>, Box<dyn MessageDecrypter>);

fn pairs(suite: SupportedCipherSuite) -> (Pair, Pair) {
    let compact = compact(suite);
    let make = |s: SupportedCipherSuite| -> Pair {
        match s {
            SupportedCipherSuite::Tls13(s) => (
                s.aead_alg.encrypter(AeadKey::from(KEY), Iv::from(IV)),
                s.aead_alg.decrypter(AeadKey::from(KEY), Iv::from(IV)),
            ),
            SupportedCipherSuite::Tls12(s) => {
                let shape = s.aead_alg.key_block_shape();
                let (fixed, explicit) = IV.split_at(shape.fixed_iv_len);
                let explicit = explicit.get(..shape.explicit_nonce_len).unwrap();
                (
                    s.aead_alg.encrypter(AeadKey::from(KEY), fixed, explicit),
                    s.aead_alg.decrypter(AeadKey::from(KEY), fixed),
                )
            }
        }
    };
    (make(suite), make(compact))
}

fn seal(enc: &mut dyn MessageEncrypter, body: &[u8], seq: u64, v: ProtocolVersion) -> Vec<u8> {
    let msg = OutboundPlainMessage {
        typ: ContentType::ApplicationData,
        version: v,
        payload: OutboundChunks::Single(body),
    };
    let sealed = enc.encrypt(msg, seq).unwrap();
    assert_eq!(
        sealed.payload.as_ref().len(),
        enc.encrypted_payload_len(body.len())
    );
    sealed.payload.as_ref().to_vec()
}

fn open(
    dec: &mut dyn MessageDecrypter,
    record: &mut [u8],
    seq: u64,
    v: ProtocolVersion,
) -> Result<Vec<u8>, Error> {
    let msg = InboundOpaqueMessage::new(ContentType::ApplicationData, v, record);
    dec.decrypt(msg, seq).map(|m| m.payload.to_vec())
}

const SUITES: [(SupportedCipherSuite, ProtocolVersion); 4] = [
    (stock::TLS13_AES_256_GCM_SHA384, ProtocolVersion::TLSv1_3),
    (
        stock::TLS13_CHACHA20_POLY1305_SHA256,
        ProtocolVersion::TLSv1_3,
    ),
    (
        stock::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        ProtocolVersion::TLSv1_2,
    ),
    (
        stock::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        ProtocolVersion::TLSv1_2,
    ),
];

#[test]
fn records_match_rustls_ring_suites_both_ways() {
    for (suite, v) in SUITES {
        let ((mut s_enc, mut s_dec), (mut c_enc, mut c_dec)) = pairs(suite);
        for (seq, len) in [
            (0u64, 0usize),
            (1, 1),
            (2, 1000),
            (0x0102_0304_0506, MAX_FRAGMENT),
        ] {
            let body: Vec<u8> = (0..len).map(|i| (i * 31 + seq as usize) as u8).collect();
            let ours = seal(c_enc.as_mut(), &body, seq, v);
            let theirs = seal(s_enc.as_mut(), &body, seq, v);
            assert_eq!(
                ours,
                theirs,
                "{:?} seq {seq}: identical records",
                suite.suite()
            );
            let mut record = ours.clone();
            assert_eq!(open(s_dec.as_mut(), &mut record, seq, v).unwrap(), body);
            let mut record = theirs.clone();
            assert_eq!(open(c_dec.as_mut(), &mut record, seq, v).unwrap(), body);
        }
    }
}

#[test]
fn tampered_short_or_replayed_records_are_refused() {
    for (suite, v) in SUITES {
        let (_, (mut enc, mut dec)) = pairs(suite);
        let record = seal(enc.as_mut(), b"REGISTER sip:edge.test SIP/2.0", 5, v);
        for i in [0, record.len() / 2, record.len() - 1] {
            let mut bad = record.clone();
            bad[i] ^= 1;
            assert_eq!(open(dec.as_mut(), &mut bad, 5, v), Err(Error::DecryptError));
        }
        // The same record under another sequence number (replayed or reordered).
        let mut again = record.clone();
        assert_eq!(
            open(dec.as_mut(), &mut again, 6, v),
            Err(Error::DecryptError)
        );
        let mut short = record[..TAG - 1].to_vec();
        assert_eq!(
            open(dec.as_mut(), &mut short, 5, v),
            Err(Error::DecryptError)
        );
        let mut good = record.clone();
        assert!(open(dec.as_mut(), &mut good, 5, v).is_ok());
    }
}

#[test]
fn oversized_plaintext_is_refused() {
    for (suite, v) in SUITES {
        let (_, (mut enc, mut dec)) = pairs(suite);
        let body = vec![0u8; MAX_FRAGMENT + 1];
        let mut record = seal(enc.as_mut(), &body, 1, v);
        assert_eq!(
            open(dec.as_mut(), &mut record, 1, v),
            Err(Error::PeerSentOversizedRecord),
            "{:?}",
            suite.suite()
        );
    }
}

#[test]
fn every_ring_suite_is_replaced_in_order() {
    let stock = rustls::crypto::ring::default_provider().cipher_suites;
    let ours = provider().cipher_suites;
    assert_eq!(
        ours.iter().map(|s| s.suite()).collect::<Vec<_>>(),
        stock.iter().map(|s| s.suite()).collect::<Vec<_>>()
    );
    for s in &ours {
        assert!(
            aead_for(s.suite()).is_some(),
            "{:?} has compact keys",
            s.suite()
        );
    }
    let direction = std::mem::size_of::<Direction>();
    assert!(direction <= 64, "{direction}");
}
