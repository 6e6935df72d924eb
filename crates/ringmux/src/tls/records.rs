//! A server session's record layer once its handshake is done, without rustls: the traffic keys, IVs and
//! sequence numbers of both directions (and in TLS 1.3 the traffic secrets, for KeyUpdate), read out of the
//! rustls session as the handshake ends. What is left of TLS then is small: application data, alerts, and in
//! TLS 1.3 the KeyUpdate (RFC 8446 §4.6.3, §5, §6; RFC 5246 §6.2 and §7.2 for TLS 1.2). It is also what a
//! hand-over carries to another process ([`Records::export`], [`Records::import`]).
//!
//! The records are sealed and opened by the compact AEAD of `compact`, so they are byte for byte what rustls
//! would write. Deviations from a full TLS stack, none of which a browser meets: a handshake message must fit
//! in one record; a TLS 1.2 renegotiation is refused with a warning; a TLS 1.3 KeyUpdate that arrived in the
//! same flight as the client's Finished (before this layer took over) leaves the secret unknown, and a later
//! KeyUpdate then ends the session.

use ring::hkdf;
use rustls::crypto::cipher::{
    InboundOpaqueMessage, MessageDecrypter, MessageEncrypter, NONCE_LEN, OutboundChunks,
    OutboundPlainMessage,
};
use rustls::{
    AlertDescription, CipherSuite, ConnectionTrafficSecrets, ContentType, Error, ExtractedSecrets,
    ProtocolVersion,
};

use super::compact::{self, Direction, Wiped};
use super::session::Outcome;

/// The most plaintext one record carries (RFC 8446 §5.1).
const MAX_FRAGMENT: usize = 16_384;
/// A record's header: type, legacy version, length.
const HEADER: usize = 5;
/// HandshakeType key_update (RFC 8446 §4).
const KEY_UPDATE: u8 = 24;
/// TLS 1.3: records sealed under one key before this layer renews it with a KeyUpdate, well below AES-GCM's
/// limit of 2^24.5 (RFC 8446 §5.5).
const RENEW_AFTER: u64 = 1 << 23;
/// TLS 1.2 cannot renew its keys: the session fails before it seals this many records.
const TLS12_LIMIT: u64 = 1 << 24;
/// Sequence numbers stay below this (they do not wrap, RFC 8446 §5.3; a key is renewed long before).
pub(super) const MAX_SEQ: u64 = 1 << 62;
/// Records in a row without application data (empty ones, warning alerts, KeyUpdates, refused renegotiations)
/// a peer may send before the session fails: each costs a decryption, and some an answer.
const MAX_IDLE_RECORDS: u8 = 32;
/// The longest traffic secret (SHA-384).
pub(super) const MAX_SECRET: usize = 48;

/// A traffic secret; empty when not known.
pub(super) type Secret = Wiped<MAX_SECRET>;

/// One direction: its key, its next sequence number and (TLS 1.3) the secret the key came from.
pub(super) struct Half {
    pub(super) cipher: Direction,
    pub(super) seq: u64,
    pub(super) secret: Secret,
}

/// The record layer of an established server session.
pub(crate) struct Records {
    pub(super) tls13: bool,
    pub(super) suite: CipherSuite,
    /// From the client.
    pub(super) rx: Half,
    /// To the client.
    pub(super) tx: Half,
    /// Records in a row that carried no application data (empty ones, warnings, KeyUpdates).
    pub(super) idle_records: u8,
    /// The peer asked for a KeyUpdate: one goes before the next application data (RFC 8446 §4.6.3), however
    /// many it asked for.
    pub(super) update_owed: bool,
    /// The peer sent close_notify: nothing it sends after is read (RFC 8446 §6.1).
    pub(super) peer_closed: bool,
}

/// Why a session ends here, and the alert it sends (none when the peer's alert ended it).
struct Fault {
    alert: Option<AlertDescription>,
    error: Error,
}

impl Fault {
    fn send(alert: AlertDescription, error: Error) -> Self {
        Self {
            alert: Some(alert),
            error,
        }
    }

    fn unexpected(what: &str) -> Self {
        Self::send(
            AlertDescription::UnexpectedMessage,
            Error::General(format!("unexpected {what} after the handshake")),
        )
    }
}

/// HKDF-Expand-Label(secret, label, "", len) (RFC 8446 §7.1), with the suite's hash.
fn expand_label(suite: CipherSuite, secret: &[u8], label: &[u8], len: usize) -> Option<Secret> {
    struct Len(usize);
    impl hkdf::KeyType for Len {
        fn len(&self) -> usize {
            self.0
        }
    }
    let alg = hash_of(suite);
    let prk = hkdf::Prk::new_less_safe(alg, secret);
    let out_len = u16::try_from(len).ok()?.to_be_bytes();
    let label_len = [u8::try_from(6 + label.len()).ok()?];
    let info: [&[u8]; 5] = [&out_len, &label_len, b"tls13 ", label, &[0]];
    let okm = prk.expand(&info, Len(len)).ok()?;
    let mut out = [0u8; MAX_SECRET];
    okm.fill(out.get_mut(..len)?).ok()?;
    let secret = Secret::new(out.get(..len)?);
    zeroize::Zeroize::zeroize(&mut out);
    Some(secret)
}

/// The HKDF hash of a TLS 1.3 suite.
fn hash_of(suite: CipherSuite) -> hkdf::Algorithm {
    if suite == CipherSuite::TLS13_AES_256_GCM_SHA384 {
        hkdf::HKDF_SHA384
    } else {
        hkdf::HKDF_SHA256
    }
}

/// Bytes of a TLS 1.3 suite's traffic secrets.
pub(super) fn secret_len(suite: CipherSuite) -> usize {
    hkdf::KeyType::len(&hash_of(suite))
}

/// A TLS 1.3 direction keyed from `secret` (RFC 8446 §7.3).
fn keyed(suite: CipherSuite, secret: Secret) -> Option<Half> {
    let aead = compact::aead_for(suite)?;
    let key = expand_label(suite, secret.as_ref(), b"key", aead.key_len())?;
    let iv_bytes = expand_label(suite, secret.as_ref(), b"iv", NONCE_LEN)?;
    let mut iv = [0u8; NONCE_LEN];
    iv.copy_from_slice(iv_bytes.as_ref());
    Some(Half {
        cipher: aead.direction_of(key.as_ref(), iv)?,
        seq: 0,
        secret,
    })
}

/// One direction out of what rustls extracted; `secret` is kept only when it yields the same key.
fn half(
    suite: CipherSuite,
    (seq, secrets): (u64, ConnectionTrafficSecrets),
    secret: Secret,
) -> Result<Half, Error> {
    let (key, iv) = match &secrets {
        ConnectionTrafficSecrets::Aes128Gcm { key, iv }
        | ConnectionTrafficSecrets::Aes256Gcm { key, iv }
        | ConnectionTrafficSecrets::Chacha20Poly1305 { key, iv } => (key.as_ref(), iv.as_ref()),
        _ => {
            return Err(Error::General(
                "unsupported AEAD for the record layer".into(),
            ));
        }
    };
    let mut nonce = [0u8; NONCE_LEN];
    let iv = iv
        .get(..NONCE_LEN)
        .ok_or_else(|| Error::General("IV of the wrong length".into()))?;
    nonce.copy_from_slice(iv);
    let cipher = compact::aead_for(suite)
        .and_then(|aead| aead.direction_of(key, nonce))
        .ok_or_else(|| Error::General("unsupported cipher suite for the record layer".into()))?;
    let matches = !secret.as_ref().is_empty()
        && keyed(suite, Secret::new(secret.as_ref())).is_some_and(|h| h.cipher.key() == key);
    Ok(Half {
        cipher,
        seq,
        secret: if matches { secret } else { Secret::default() },
    })
}

impl Records {
    /// The record layer of a session whose handshake ended: `extracted` from rustls, with the client's and
    /// the server's traffic secrets as the handshake logged them (TLS 1.3; empty otherwise).
    pub(super) fn new(
        version: ProtocolVersion,
        suite: CipherSuite,
        extracted: ExtractedSecrets,
        client_secret: Secret,
        server_secret: Secret,
    ) -> Result<Self, Error> {
        let tls13 = match version {
            ProtocolVersion::TLSv1_3 => true,
            ProtocolVersion::TLSv1_2 => false,
            _ => return Err(Error::General("unsupported TLS version".into())),
        };
        Ok(Self {
            tls13,
            suite,
            rx: half(suite, extracted.rx, client_secret)?,
            tx: half(suite, extracted.tx, server_secret)?,
            idle_records: 0,
            update_owed: false,
            peer_closed: false,
        })
    }

    /// The negotiated protocol version.
    pub(crate) fn version(&self) -> ProtocolVersion {
        if self.tls13 {
            ProtocolVersion::TLSv1_3
        } else {
            ProtocolVersion::TLSv1_2
        }
    }

    /// The longest record body the peer may send (RFC 8446 §5.2, RFC 5246 §6.2.3).
    fn max_body(&self) -> usize {
        MAX_FRAGMENT + if self.tls13 { 256 } else { 2048 }
    }

    /// Opens the whole records at the start of `buf`: application data to `plain`, answers to `out`.
    /// Returns how many bytes were used (the rest is an incomplete record). On a fault the session failed
    /// (`outcome.error`, an alert in `out`) and all of `buf` counts as used; after close_notify nothing more is
    /// read.
    pub(crate) fn receive(
        &mut self,
        buf: &mut [u8],
        plain: &mut Vec<u8>,
        out: &mut Vec<u8>,
        outcome: &mut Outcome,
    ) -> usize {
        if self.peer_closed {
            return buf.len();
        }
        let mut used = 0;
        loop {
            let rest = buf.get_mut(used..).unwrap_or_default();
            let Some(&[typ, v0, v1, l0, l1]) = rest.get(..HEADER) else {
                return used;
            };
            let len = usize::from(u16::from_be_bytes([l0, l1]));
            let result = if len > self.max_body() {
                Err(Fault::send(
                    AlertDescription::RecordOverflow,
                    Error::PeerSentOversizedRecord,
                ))
            } else if let Some(body) = rest.get_mut(HEADER..HEADER + len) {
                used += HEADER + len;
                let version = ProtocolVersion::from(u16::from_be_bytes([v0, v1]));
                self.record(ContentType::from(typ), version, body, plain, outcome)
            } else {
                return used;
            };
            match result {
                Ok(true) => {}
                Ok(false) => return buf.len(),
                Err(fault) => {
                    self.fail(fault, out, outcome);
                    return buf.len();
                }
            }
        }
    }

    /// One record; `Ok(false)` once the peer closed.
    fn record(
        &mut self,
        typ: ContentType,
        version: ProtocolVersion,
        body: &mut [u8],
        plain: &mut Vec<u8>,
        outcome: &mut Outcome,
    ) -> Result<bool, Fault> {
        let protected = if self.tls13 {
            typ == ContentType::ApplicationData
        } else {
            matches!(
                typ,
                ContentType::ApplicationData | ContentType::Alert | ContentType::Handshake
            )
        };
        if !protected {
            return Err(Fault::unexpected("record type"));
        }
        let seq = self.rx.seq;
        if seq >= MAX_SEQ {
            return Err(Fault::send(
                AlertDescription::InternalError,
                Error::DecryptError,
            ));
        }
        self.rx.seq = seq + 1;
        let msg = self
            .rx
            .cipher
            .decrypt(InboundOpaqueMessage::new(typ, version, body), seq)
            .map_err(|e| match e {
                Error::PeerSentOversizedRecord => Fault::send(AlertDescription::RecordOverflow, e),
                Error::PeerMisbehaved(_) => Fault::send(AlertDescription::UnexpectedMessage, e),
                _ => Fault::send(AlertDescription::BadRecordMac, Error::DecryptError),
            })?;
        if msg.typ == ContentType::ApplicationData && !msg.payload.is_empty() {
            self.idle_records = 0;
        } else if self.idle_records >= MAX_IDLE_RECORDS {
            return Err(Fault::unexpected("run of records without application data"));
        } else {
            self.idle_records += 1;
        }
        match msg.typ {
            ContentType::ApplicationData => {
                plain.extend_from_slice(msg.payload);
                Ok(true)
            }
            ContentType::Alert => self.alert(msg.payload, outcome),
            ContentType::Handshake => self.handshake(msg.payload).map(|()| true),
            _ => Err(Fault::unexpected("content type")),
        }
    }

    /// An alert from the peer: close_notify ends reading; in TLS 1.3 user_canceled and in TLS 1.2 any
    /// warning is passed over; anything else ends the session.
    fn alert(&mut self, payload: &[u8], outcome: &mut Outcome) -> Result<bool, Fault> {
        let &[level, desc] = payload else {
            return Err(Fault::send(
                AlertDescription::DecodeError,
                Error::General("malformed alert".into()),
            ));
        };
        let desc = AlertDescription::from(desc);
        if desc == AlertDescription::CloseNotify {
            outcome.peer_closed = true;
            self.peer_closed = true;
            return Ok(false);
        }
        let warning = if self.tls13 {
            desc == AlertDescription::UserCanceled
        } else {
            level == 1
        };
        if warning {
            return Ok(true);
        }
        Err(Fault {
            alert: None,
            error: Error::AlertReceived(desc),
        })
    }

    /// Handshake messages after the handshake: a TLS 1.3 KeyUpdate (its answer goes before our next application
    /// data); in TLS 1.2 a renegotiation, refused with a fatal handshake_failure (RFC 5746 §4.4 allows it).
    fn handshake(&mut self, payload: &[u8]) -> Result<(), Fault> {
        if !self.tls13 {
            return Err(Fault::send(
                AlertDescription::HandshakeFailure,
                Error::General("renegotiation is not supported".into()),
            ));
        }
        let [typ, l0, l1, l2, body @ ..] = payload else {
            return Err(Fault::unexpected("partial handshake message"));
        };
        let len = usize::from(*l0) << 16 | usize::from(*l1) << 8 | usize::from(*l2);
        if *typ != KEY_UPDATE {
            return Err(Fault::unexpected("handshake message"));
        }
        if len != 1 {
            return Err(Fault::send(
                AlertDescription::DecodeError,
                Error::General(format!("KeyUpdate of {len} bytes")),
            ));
        }
        // A KeyUpdate ends its record (RFC 8446 §5.1): its one byte, and nothing after it.
        let &[request] = body else {
            return Err(Fault::unexpected("message after a KeyUpdate in its record"));
        };
        if request > 1 {
            return Err(Fault::send(
                AlertDescription::IllegalParameter,
                Error::General("KeyUpdate request out of range".into()),
            ));
        }
        self.rx = self.next(&self.rx)?;
        self.update_owed |= request == 1;
        Ok(())
    }

    /// The direction after `half`'s next KeyUpdate.
    fn next(&self, half: &Half) -> Result<Half, Fault> {
        let secret = half.secret.as_ref();
        (!secret.is_empty())
            .then(|| expand_label(self.suite, secret, b"traffic upd", secret.len()))
            .flatten()
            .and_then(|next| keyed(self.suite, next))
            .ok_or_else(|| {
                Fault::send(
                    AlertDescription::InternalError,
                    Error::General("KeyUpdate with no traffic secret known".into()),
                )
            })
    }

    /// Sends a KeyUpdate (update_not_requested) and seals what follows under the next key.
    fn renew_tx(&mut self, out: &mut Vec<u8>) -> Result<(), Fault> {
        let next = self.next(&self.tx)?;
        self.seal(ContentType::Handshake, &[KEY_UPDATE, 0, 0, 1, 0], out)?;
        self.tx = next;
        Ok(())
    }

    /// Seals `payload` (at most one fragment) as one record of `typ` into `out`.
    fn seal(&mut self, typ: ContentType, payload: &[u8], out: &mut Vec<u8>) -> Result<(), Fault> {
        let renew = self.update_owed || self.tx.seq >= RENEW_AFTER;
        if self.tls13 && renew && typ == ContentType::ApplicationData {
            self.update_owed = false;
            self.renew_tx(out)?;
        }
        let limit = if self.tls13 { MAX_SEQ } else { TLS12_LIMIT };
        if self.tx.seq >= limit {
            return Err(Fault::send(
                AlertDescription::InternalError,
                Error::EncryptError,
            ));
        }
        let msg = OutboundPlainMessage {
            typ,
            version: ProtocolVersion::TLSv1_2,
            payload: OutboundChunks::Single(payload),
        };
        let sealed = self
            .tx
            .cipher
            .encrypt(msg, self.tx.seq)
            .map_err(|e| Fault::send(AlertDescription::InternalError, e))?;
        self.tx.seq += 1;
        out.extend_from_slice(&sealed.encode());
        Ok(())
    }

    /// Seals `bytes` as application data into `out`.
    pub(crate) fn send(&mut self, bytes: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        for fragment in bytes.chunks(MAX_FRAGMENT) {
            self.seal(ContentType::ApplicationData, fragment, out)
                .map_err(|f| f.error)?;
        }
        Ok(())
    }

    /// Seals close_notify into `out`.
    pub(crate) fn close_notify(&mut self, out: &mut Vec<u8>) {
        // A session that cannot seal any more has nothing to say.
        let _ = self.seal(ContentType::Alert, &[1, 0], out);
    }

    /// Records a fault: its fatal alert to `out` (when one is due), its error to `outcome`.
    fn fail(&mut self, fault: Fault, out: &mut Vec<u8>, outcome: &mut Outcome) {
        if let Some(alert) = fault.alert {
            let _ = self.seal(ContentType::Alert, &[2, u8::from(alert)], out);
        }
        outcome.error = Some(fault.error);
    }
}

#[cfg(test)]
#[path = "records_tests.rs"]
mod tests;
