//! Record protection that keeps only the traffic key's bytes per direction and sets up the AEAD key for each
//! record, instead of holding `ring`'s expanded key object for the life of the session.
//!
//! `ring`'s `LessSafeKey` is sized for its largest variant (the AES round keys and the GHASH table of
//! AES-GCM): rustls's `ring` suites spend 560 heap bytes on it per direction and session, whichever suite was
//! chosen, and an idle session holds two of them. Here a direction costs the key (rustls's [`AeadKey`], wiped
//! on drop), the IV and the algorithm: 64 bytes. The price is the key set-up per record (for AES-GCM the key
//! expansion and the GHASH table; for ChaCha20-Poly1305 a copy of the key).
//!
//! The suites keep their identities, hashes, key schedules, PRFs, signature schemes and limits; only the
//! [`MessageEncrypter`] / [`MessageDecrypter`] objects differ. They write and read records as RFC 8446 §5.2
//! (TLS 1.3), RFC 5288 (TLS 1.2 AES-GCM, with the explicit nonce derived from the sequence number as rustls
//! does) and RFC 7905 (TLS 1.2 ChaCha20-Poly1305) define them, so peers see no difference.

use std::sync::LazyLock;

use ring::aead;
use rustls::crypto::cipher::{
    AeadKey, InboundOpaqueMessage, InboundPlainMessage, Iv, KeyBlockShape, MessageDecrypter,
    MessageEncrypter, NONCE_LEN, Nonce, OutboundOpaqueMessage, OutboundPlainMessage,
    PrefixedPayload, Tls12AeadAlgorithm, Tls13AeadAlgorithm, UnsupportedOperationError,
    make_tls12_aad, make_tls13_aad,
};
use rustls::crypto::{CipherSuiteCommon, CryptoProvider};
use rustls::{
    CipherSuite, ConnectionTrafficSecrets, ContentType, Error, ProtocolVersion,
    SupportedCipherSuite, Tls12CipherSuite, Tls13CipherSuite,
};

/// The most plaintext one record may carry (RFC 8446 §5.1, RFC 5246 §6.2.1).
const MAX_FRAGMENT: usize = 16_384;
/// The explicit part of a TLS 1.2 AES-GCM nonce, sent before the ciphertext (RFC 5288 §3).
const GCM_EXPLICIT: usize = 8;
/// Authentication tag of all three AEADs.
const TAG: usize = 16;

/// How records are laid out around the AEAD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// TLS 1.3: inner content type after the content, outer type application_data, nonce = IV ^ seq.
    Tls13,
    /// TLS 1.2 AES-GCM: nonce = 4-byte salt || 8 explicit bytes carried in the record.
    Tls12Gcm,
    /// TLS 1.2 ChaCha20-Poly1305: nonce = IV ^ seq, nothing explicit.
    Tls12ChaCha,
}

/// An AEAD whose encrypters and decrypters hold the key bytes only.
pub(super) struct CompactAead {
    alg: &'static aead::Algorithm,
    format: Format,
}

static TLS13_AES_128_GCM: CompactAead = CompactAead::new(&aead::AES_128_GCM, Format::Tls13);
static TLS13_AES_256_GCM: CompactAead = CompactAead::new(&aead::AES_256_GCM, Format::Tls13);
static TLS13_CHACHA20_POLY1305: CompactAead =
    CompactAead::new(&aead::CHACHA20_POLY1305, Format::Tls13);
static TLS12_AES_128_GCM: CompactAead = CompactAead::new(&aead::AES_128_GCM, Format::Tls12Gcm);
static TLS12_AES_256_GCM: CompactAead = CompactAead::new(&aead::AES_256_GCM, Format::Tls12Gcm);
static TLS12_CHACHA20_POLY1305: CompactAead =
    CompactAead::new(&aead::CHACHA20_POLY1305, Format::Tls12ChaCha);

impl CompactAead {
    const fn new(alg: &'static aead::Algorithm, format: Format) -> Self {
        Self { alg, format }
    }

    fn direction(&self, key: AeadKey, iv: Iv) -> Direction {
        Direction {
            alg: self.alg,
            format: self.format,
            key: KeyBytes::new(key.as_ref()),
            iv,
        }
    }

    /// A direction from a key's and an IV's bytes (the record layer that goes on after the handshake); `None`
    /// when the key's length is not this AEAD's.
    pub(super) fn direction_of(&self, key: &[u8], iv: [u8; NONCE_LEN]) -> Option<Direction> {
        (key.len() == self.alg.key_len()).then(|| Direction {
            alg: self.alg,
            format: self.format,
            key: KeyBytes::new(key),
            iv: Iv::from(iv),
        })
    }

    /// Bytes of this AEAD's key.
    pub(super) fn key_len(&self) -> usize {
        self.alg.key_len()
    }

    /// `true` for a TLS 1.3 suite's AEAD.
    pub(super) fn tls13(&self) -> bool {
        self.format == Format::Tls13
    }

    /// The traffic key and IV as rustls hands them out of a session ([`ConnectionTrafficSecrets`]).
    fn secrets(&self, key: AeadKey, iv: Iv) -> ConnectionTrafficSecrets {
        if self.alg == &aead::CHACHA20_POLY1305 {
            ConnectionTrafficSecrets::Chacha20Poly1305 { key, iv }
        } else if self.alg == &aead::AES_256_GCM {
            ConnectionTrafficSecrets::Aes256Gcm { key, iv }
        } else {
            ConnectionTrafficSecrets::Aes128Gcm { key, iv }
        }
    }
}

/// Secret bytes (at most `N`), wiped on drop: a traffic key (32) or a TLS 1.3 traffic secret (48).
pub(super) struct Wiped<const N: usize> {
    buf: [u8; N],
    len: u8,
}

/// A traffic key's bytes.
type KeyBytes = Wiped<32>;

impl<const N: usize> Wiped<N> {
    /// The first `N` bytes of `bytes` (all of them when shorter).
    pub(super) fn new(bytes: &[u8]) -> Self {
        let mut buf = [0u8; N];
        let len = bytes.len().min(N).min(usize::from(u8::MAX));
        buf[..len].copy_from_slice(&bytes[..len]);
        Self {
            buf,
            len: len as u8,
        }
    }
}

impl<const N: usize> Default for Wiped<N> {
    fn default() -> Self {
        Self {
            buf: [0; N],
            len: 0,
        }
    }
}

impl<const N: usize> AsRef<[u8]> for Wiped<N> {
    fn as_ref(&self) -> &[u8] {
        self.buf.get(..usize::from(self.len)).unwrap_or_default()
    }
}

impl<const N: usize> Drop for Wiped<N> {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.buf);
    }
}

/// The 12 IV bytes from the parts rustls hands over (their lengths are those of `key_block_shape`).
fn iv_of(parts: &[&[u8]]) -> Iv {
    let mut iv = [0u8; NONCE_LEN];
    for (to, from) in iv.iter_mut().zip(parts.iter().flat_map(|p| p.iter())) {
        *to = *from;
    }
    Iv::from(iv)
}

impl Tls13AeadAlgorithm for CompactAead {
    fn encrypter(&self, key: AeadKey, iv: Iv) -> Box<dyn MessageEncrypter> {
        Box::new(self.direction(key, iv))
    }

    fn decrypter(&self, key: AeadKey, iv: Iv) -> Box<dyn MessageDecrypter> {
        Box::new(self.direction(key, iv))
    }

    fn key_len(&self) -> usize {
        self.alg.key_len()
    }

    fn extract_keys(
        &self,
        key: AeadKey,
        iv: Iv,
    ) -> Result<ConnectionTrafficSecrets, UnsupportedOperationError> {
        // Once the handshake is done, a server session's record layer goes on without rustls (`records`).
        Ok(self.secrets(key, iv))
    }

    fn fips(&self) -> bool {
        false
    }
}

impl Tls12AeadAlgorithm for CompactAead {
    fn encrypter(&self, key: AeadKey, iv: &[u8], extra: &[u8]) -> Box<dyn MessageEncrypter> {
        // AES-GCM: salt || the explicit nonce offset from the key block; ChaCha20: the 12-byte IV.
        Box::new(self.direction(key, iv_of(&[iv, extra])))
    }

    fn decrypter(&self, key: AeadKey, iv: &[u8]) -> Box<dyn MessageDecrypter> {
        // AES-GCM: the salt (the rest of the nonce comes in each record); ChaCha20: the 12-byte IV.
        Box::new(self.direction(key, iv_of(&[iv])))
    }

    fn key_block_shape(&self) -> KeyBlockShape {
        let gcm = self.format == Format::Tls12Gcm;
        KeyBlockShape {
            enc_key_len: self.alg.key_len(),
            fixed_iv_len: if gcm { 4 } else { NONCE_LEN },
            explicit_nonce_len: if gcm { GCM_EXPLICIT } else { 0 },
        }
    }

    fn extract_keys(
        &self,
        key: AeadKey,
        iv: &[u8],
        explicit: &[u8],
    ) -> Result<ConnectionTrafficSecrets, UnsupportedOperationError> {
        // AES-GCM: salt || the explicit nonce offset (the sending side's nonce; a receiving side reads only the
        // salt); ChaCha20: the 12-byte IV. As `encrypter` makes it.
        Ok(self.secrets(key, iv_of(&[iv, explicit])))
    }

    fn fips(&self) -> bool {
        false
    }
}

/// One direction's traffic key.
pub(super) struct Direction {
    alg: &'static aead::Algorithm,
    format: Format,
    key: KeyBytes,
    iv: Iv,
}

impl Direction {
    /// The key's bytes.
    pub(super) fn key(&self) -> &[u8] {
        self.key.as_ref()
    }

    /// The IV's bytes.
    pub(super) fn iv(&self) -> [u8; NONCE_LEN] {
        let mut iv = [0u8; NONCE_LEN];
        iv.copy_from_slice(self.iv.as_ref());
        iv
    }

    /// The AEAD key for one record. rustls hands over keys of `key_len()` bytes, so this does not fail in
    /// practice; if it did, the record would fail like any record that does not encrypt or decrypt.
    fn aead_key(&self, failure: Error) -> Result<aead::LessSafeKey, Error> {
        aead::UnboundKey::new(self.alg, self.key.as_ref())
            .map(aead::LessSafeKey::new)
            .map_err(|_| failure)
    }

    /// IV ^ sequence number (TLS 1.3, TLS 1.2 ChaCha20, and the TLS 1.2 AES-GCM nonce a record is sent with).
    fn nonce(&self, seq: u64) -> [u8; NONCE_LEN] {
        Nonce::new(&self.iv, seq).0
    }
}

impl MessageEncrypter for Direction {
    fn encrypt(
        &mut self,
        msg: OutboundPlainMessage<'_>,
        seq: u64,
    ) -> Result<OutboundOpaqueMessage, Error> {
        let key = self.aead_key(Error::EncryptError)?;
        let total = self.encrypted_payload_len(msg.payload.len());
        let nonce = self.nonce(seq);
        let mut payload = PrefixedPayload::with_capacity(total);
        let sealed = match self.format {
            Format::Tls13 => {
                // TLSInnerPlaintext: the content, then its real type; no padding.
                payload.extend_from_chunks(&msg.payload);
                payload.extend_from_slice(&[u8::from(msg.typ)]);
                let aad = aead::Aad::from(make_tls13_aad(total));
                let nonce = aead::Nonce::assume_unique_for_key(nonce);
                key.seal_in_place_append_tag(nonce, aad, &mut payload)
            }
            Format::Tls12Gcm => {
                let aad = make_tls12_aad(seq, msg.typ, msg.version, msg.payload.len());
                payload.extend_from_slice(nonce.get(4..).unwrap_or_default());
                payload.extend_from_chunks(&msg.payload);
                let body = payload.as_mut().get_mut(GCM_EXPLICIT..).unwrap_or_default();
                let nonce = aead::Nonce::assume_unique_for_key(nonce);
                key.seal_in_place_separate_tag(nonce, aead::Aad::from(aad), body)
                    .map(|tag| payload.extend_from_slice(tag.as_ref()))
            }
            Format::Tls12ChaCha => {
                let aad = make_tls12_aad(seq, msg.typ, msg.version, msg.payload.len());
                payload.extend_from_chunks(&msg.payload);
                let nonce = aead::Nonce::assume_unique_for_key(nonce);
                key.seal_in_place_append_tag(nonce, aead::Aad::from(aad), &mut payload)
            }
        };
        sealed.map_err(|_| Error::EncryptError)?;
        Ok(match self.format {
            // The outer record of TLS 1.3 is application_data with legacy version 0x0303.
            Format::Tls13 => OutboundOpaqueMessage::new(
                ContentType::ApplicationData,
                ProtocolVersion::TLSv1_2,
                payload,
            ),
            Format::Tls12Gcm | Format::Tls12ChaCha => {
                OutboundOpaqueMessage::new(msg.typ, msg.version, payload)
            }
        })
    }

    fn encrypted_payload_len(&self, payload_len: usize) -> usize {
        payload_len
            + self.alg.tag_len()
            + match self.format {
                Format::Tls13 => 1,
                Format::Tls12Gcm => GCM_EXPLICIT,
                Format::Tls12ChaCha => 0,
            }
    }
}

impl MessageDecrypter for Direction {
    fn decrypt<'a>(
        &mut self,
        mut msg: InboundOpaqueMessage<'a>,
        seq: u64,
    ) -> Result<InboundPlainMessage<'a>, Error> {
        let len = msg.payload.len();
        let explicit = match self.format {
            Format::Tls12Gcm => GCM_EXPLICIT,
            Format::Tls13 | Format::Tls12ChaCha => 0,
        };
        if len < explicit + TAG {
            return Err(Error::DecryptError);
        }
        let key = self.aead_key(Error::DecryptError)?;
        // The additional data: 5 bytes in TLS 1.3, 13 in TLS 1.2.
        let mut aad = [0u8; 13];
        let (nonce, aad_len) = match self.format {
            Format::Tls13 => {
                let header = make_tls13_aad(len);
                aad[..header.len()].copy_from_slice(&header);
                (self.nonce(seq), header.len())
            }
            Format::Tls12Gcm => {
                let mut nonce = [0u8; NONCE_LEN];
                let salt = self.iv.as_ref().iter().take(4);
                let carried = msg.payload.iter().take(GCM_EXPLICIT);
                for (to, from) in nonce.iter_mut().zip(salt.chain(carried)) {
                    *to = *from;
                }
                aad = make_tls12_aad(seq, msg.typ, msg.version, len - explicit - TAG);
                (nonce, aad.len())
            }
            Format::Tls12ChaCha => {
                aad = make_tls12_aad(seq, msg.typ, msg.version, len - TAG);
                (self.nonce(seq), aad.len())
            }
        };
        let aad = aead::Aad::from(aad.get(..aad_len).unwrap_or_default());
        let nonce = aead::Nonce::assume_unique_for_key(nonce);
        let plain = key
            .open_within(nonce, aad, &mut msg.payload, explicit..)
            .map_err(|_| Error::DecryptError)?
            .len();
        msg.payload.truncate(plain);
        match self.format {
            // Strips the zero padding and takes the real content type from the end.
            Format::Tls13 => msg.into_tls13_unpadded_message(),
            Format::Tls12Gcm | Format::Tls12ChaCha if plain > MAX_FRAGMENT => {
                Err(Error::PeerSentOversizedRecord)
            }
            Format::Tls12Gcm | Format::Tls12ChaCha => Ok(msg.into_plain_message()),
        }
    }
}

/// The compact record protection for a suite, if it is one of the AEADs above.
pub(super) fn aead_for(suite: CipherSuite) -> Option<&'static CompactAead> {
    use CipherSuite as S;
    Some(match suite {
        S::TLS13_AES_128_GCM_SHA256 => &TLS13_AES_128_GCM,
        S::TLS13_AES_256_GCM_SHA384 => &TLS13_AES_256_GCM,
        S::TLS13_CHACHA20_POLY1305_SHA256 => &TLS13_CHACHA20_POLY1305,
        S::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 | S::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => {
            &TLS12_AES_128_GCM
        }
        S::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 | S::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 => {
            &TLS12_AES_256_GCM
        }
        S::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
        | S::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 => &TLS12_CHACHA20_POLY1305,
        _ => return None,
    })
}

fn common(c: &CipherSuiteCommon) -> CipherSuiteCommon {
    CipherSuiteCommon {
        suite: c.suite,
        hash_provider: c.hash_provider,
        confidentiality_limit: c.confidentiality_limit,
    }
}

/// `suite` with compact record protection (unchanged when it has none). Each suite is built once per
/// process and lives as long (a handful of small structs).
fn compact(suite: SupportedCipherSuite) -> SupportedCipherSuite {
    let Some(aead) = aead_for(suite.suite()) else {
        return suite;
    };
    match suite {
        SupportedCipherSuite::Tls13(base) if aead.format == Format::Tls13 => {
            SupportedCipherSuite::Tls13(Box::leak(Box::new(Tls13CipherSuite {
                common: common(&base.common),
                hkdf_provider: base.hkdf_provider,
                aead_alg: aead,
                // QUIC derives its own keys; ringmux does not speak it.
                quic: None,
            })))
        }
        SupportedCipherSuite::Tls12(base) if aead.format != Format::Tls13 => {
            SupportedCipherSuite::Tls12(Box::leak(Box::new(Tls12CipherSuite {
                common: common(&base.common),
                prf_provider: base.prf_provider,
                kx: base.kx,
                sign: base.sign,
                aead_alg: aead,
            })))
        }
        other => other,
    }
}

/// The `ring` default suites, in their order, with compact record protection.
static SUITES: LazyLock<Vec<SupportedCipherSuite>> = LazyLock::new(|| {
    rustls::crypto::ring::default_provider()
        .cipher_suites
        .into_iter()
        .map(compact)
        .collect()
});

/// `ring`'s default provider with the same suites in the same order, each keeping its traffic keys as
/// bytes.
pub(super) fn provider() -> CryptoProvider {
    CryptoProvider {
        cipher_suites: SUITES.clone(),
        ..rustls::crypto::ring::default_provider()
    }
}

#[cfg(test)]
mod tests;
