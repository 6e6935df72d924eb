//! An established TLS session's record state as a hand-over carries it to another process ([`TlsState`]):
//! what [`Records`] holds, and the bytes of a record received in part.
//!
//! Format version 1, integers big-endian:
//! ```text
//! u8 1, u16 protocol version (0x0304, 0x0303), u16 cipher suite,
//! per direction (from the client, then to it): u64 sequence number, u8 length + key, 12 IV bytes,
//!     u8 length + traffic secret (TLS 1.3; 0 when not known, always 0 in TLS 1.2),
//! u32 length + the bytes of an incomplete record
//! ```

use rustls::crypto::cipher::NONCE_LEN;
use rustls::{CipherSuite, ProtocolVersion};

use super::compact;
use super::records::{Half, MAX_SECRET, MAX_SEQ, Records, Secret, secret_len};

/// The version [`TlsState`] is written and read in.
pub const TLS_STATE_VERSION: u8 = 1;

/// An established TLS session's keys, sequence numbers and unread bytes, to go on in another process. The
/// bytes are secret: they are wiped when this is dropped, and never printed.
#[derive(Default, PartialEq, Eq)]
pub struct TlsState(Vec<u8>);

impl TlsState {
    /// A state as it arrived from another process.
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The bytes to carry.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// `true` for a connection without TLS.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Drop for TlsState {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

impl std::fmt::Debug for TlsState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TlsState({} bytes)", self.0.len())
    }
}

/// Why a [`TlsState`] cannot be taken on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("TLS record state: {0}")]
pub struct TlsStateError(pub &'static str);

/// Writes `records` and `partial`.
pub(super) fn encode(records: &Records, partial: &[u8]) -> TlsState {
    // Room for the largest state, so that the keys are never left behind in a smaller block grown out of.
    let mut out = Vec::with_capacity(9 + 2 * (10 + 32 + 12 + 1 + MAX_SECRET) + partial.len());
    out.push(TLS_STATE_VERSION);
    out.extend_from_slice(&u16::from(records.version()).to_be_bytes());
    out.extend_from_slice(&u16::from(records.suite).to_be_bytes());
    for half in [&records.rx, &records.tx] {
        out.extend_from_slice(&half.seq.to_be_bytes());
        let key = half.cipher.key();
        out.push(key.len() as u8);
        out.extend_from_slice(key);
        let mut iv = half.cipher.iv();
        out.extend_from_slice(&iv);
        zeroize::Zeroize::zeroize(&mut iv);
        let secret = half.secret.as_ref();
        out.push(secret.len() as u8);
        out.extend_from_slice(secret);
    }
    out.extend_from_slice(&(partial.len() as u32).to_be_bytes());
    out.extend_from_slice(partial);
    TlsState(out)
}

/// Reads a state written by [`encode`]: the record layer, and the bytes of an incomplete record (at most
/// `max_partial`).
pub(super) fn decode(
    state: &TlsState,
    max_partial: usize,
) -> Result<(Records, Vec<u8>), TlsStateError> {
    let mut r = Reader(&state.0);
    if r.u8()? != TLS_STATE_VERSION {
        return Err(TlsStateError("another format version"));
    }
    let tls13 = match ProtocolVersion::from(r.u16()?) {
        ProtocolVersion::TLSv1_3 => true,
        ProtocolVersion::TLSv1_2 => false,
        _ => return Err(TlsStateError("protocol version")),
    };
    let suite = CipherSuite::from(r.u16()?);
    let aead = compact::aead_for(suite).ok_or(TlsStateError("cipher suite"))?;
    if aead.tls13() != tls13 {
        return Err(TlsStateError("cipher suite of another protocol version"));
    }
    let secret_len = if tls13 { secret_len(suite) } else { 0 };
    let mut half = || -> Result<Half, TlsStateError> {
        let seq = r.u64()?;
        if seq >= MAX_SEQ {
            return Err(TlsStateError("sequence number out of range"));
        }
        let key_len = usize::from(r.u8()?);
        let key = r.take(key_len)?;
        let mut iv = [0u8; NONCE_LEN];
        iv.copy_from_slice(r.take(NONCE_LEN)?);
        let cipher = aead
            .direction_of(key, iv)
            .ok_or(TlsStateError("key length"));
        zeroize::Zeroize::zeroize(&mut iv);
        let len = usize::from(r.u8()?);
        if len != 0 && len != secret_len {
            return Err(TlsStateError("traffic secret length"));
        }
        let secret = r.take(len.min(MAX_SECRET))?;
        Ok(Half {
            cipher: cipher?,
            seq,
            secret: Secret::new(secret),
        })
    };
    let rx = half()?;
    let tx = half()?;
    let len = usize::try_from(r.u32()?).unwrap_or(usize::MAX);
    if len > max_partial {
        return Err(TlsStateError("incomplete record beyond the size limit"));
    }
    let partial = r.take(len)?.to_vec();
    if !r.0.is_empty() {
        return Err(TlsStateError("bytes after the state"));
    }
    let records = Records {
        tls13,
        suite,
        rx,
        tx,
        idle_records: 0,
        update_owed: false,
        peer_closed: false,
    };
    Ok((records, partial))
}

/// Reads the state front to back.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], TlsStateError> {
        if n > self.0.len() {
            return Err(TlsStateError("cut short"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], TlsStateError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8, TlsStateError> {
        self.array::<1>().map(|[b]| b)
    }

    fn u16(&mut self) -> Result<u16, TlsStateError> {
        self.array().map(u16::from_be_bytes)
    }

    fn u32(&mut self) -> Result<u32, TlsStateError> {
        self.array().map(u32::from_be_bytes)
    }

    fn u64(&mut self) -> Result<u64, TlsStateError> {
        self.array().map(u64::from_be_bytes)
    }
}
