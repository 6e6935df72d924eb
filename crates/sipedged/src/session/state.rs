//! A session's state as bytes, to move an open connection to another process (a hand-over from a running
//! sipedged to a new one): versioned, compact, and read back with every field checked, so that bytes which are
//! not such a state are refused with the field they break and never panic.
//!
//! What moves, for a WebSocket: its [`wsproto`] state (frames and messages in progress, keepalive), the address
//! counted against the per-IP limit, the client's address for Via `received`, who the handshake authenticated and
//! how long the credential has left, the request-rate bucket, the ages of the connection and of its last bytes,
//! and the permessage-deflate window the browser compresses against (packed). For a SIP stream with the core: the
//! bytes of an incomplete message and the time left before it idles out. Times travel as durations, since an
//! `Instant` means nothing in another process. What does not move: the [`Policy`], which the importing process
//! gives (its own configuration), and a connection still in its handshake or closing, which the exporting process
//! finishes itself.
//!
//! Format version 1, integers big-endian:
//! ```text
//! u8 version                     1
//! u8 kind                        0: WebSocket, 1: SIP stream with the core
//! WebSocket:
//!   u8 flags                     1: admitted address, 2: identity, 4: the browser keeps its window (context
//!                                takeover), 8: rate bucket used
//!   [address]                    when flag 1
//!   address                      the client for Via `received`: u8 0 (none), 4 + 4 bytes, or 6 + 16 bytes
//!   u32 ms since opened, u32 ms since the browser last sent
//!   [u32 ms since last take, u32 milli-tokens]       when flag 8
//!   u8 inflate window bits       0 (no permessage-deflate from the browser) or 8-15
//!   [identity]                   when flag 2: u16 length + user, u16 count + (u16 length + domain) each,
//!                                u8 0 or 1 + u64 ms left before the credential expires
//!   [u32 length + packed window] when flag 4 (length 0: nothing sent yet); packed against the worker's pack
//!                                dictionary, which both processes must share
//!   u32 length + WebSocket state (wsproto's own version inside)
//! SIP stream:
//!   u32 ms until it idles out, u32 length + the incomplete message's bytes
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut};
use edge::Identity;
use edge::framer::StreamFramer;
use edge::time::Timestamp;
use wsproto::Connection;
use wsproto::deflate::Context;

use super::open::{Extras, Open};
use super::{Policy, Session, State, Stream};
use crate::limits::RequestBucket;

/// The version [`Session::export_state`] writes; [`Session::import_state`] reads only this one.
pub const SESSION_STATE_VERSION: u8 = 1;

/// Longest packed permessage-deflate window (a 32 KiB window that does not compress, with deflate's framing).
const MAX_PACKED_WINDOW: usize = 64 * 1024;

const KIND_WEBSOCKET: u8 = 0;
const KIND_STREAM: u8 = 1;
const FLAG_ADMITTED: u8 = 1;
const FLAG_IDENTITY: u8 = 2;
const FLAG_WINDOW: u8 = 4;
const FLAG_BUCKET: u8 = 8;

/// Why a session's state is not exported: the exporting process finishes such a connection itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NotMovable {
    /// The WebSocket handshake has not completed.
    #[error("the connection is still in its WebSocket handshake")]
    Handshake,
    /// The connection is closing or closed.
    #[error("the connection is closing")]
    Closing,
    /// Its identity has a user, a domain or a list of domains longer than 65,535 (a handshake's bounded
    /// request never carries one).
    #[error("the connection's identity is too long to move")]
    Identity,
}

/// Why bytes are not a session state this version reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// Another version of the format.
    #[error("session state version {0}, this build reads version {SESSION_STATE_VERSION}")]
    Version(u8),
    /// The bytes end before the state does.
    #[error("session state cut short")]
    Truncated,
    /// Bytes after the end of the state.
    #[error("{0} bytes after the end of the session state")]
    Trailing(usize),
    /// A field holds a value no session has.
    #[error("session state field {0} holds an impossible value")]
    Field(&'static str),
    /// A field is longer than this process accepts.
    #[error("session state field {field} is {len} bytes, over this process's bound")]
    TooBig {
        /// The field.
        field: &'static str,
        /// Its length.
        len: usize,
    },
    /// The WebSocket's own state is refused.
    #[error("the WebSocket state: {0}")]
    WebSocket(#[from] wsproto::StateError),
}

impl From<bytes::TryGetError> for StateError {
    fn from(_: bytes::TryGetError) -> Self {
        Self::Truncated
    }
}

impl Session {
    /// Appends this session's state to `out` ([`SESSION_STATE_VERSION`]) at `now`; nothing is appended when the
    /// session cannot move.
    pub fn export_state(
        &self,
        p: &Policy,
        now: Instant,
        out: &mut Vec<u8>,
    ) -> Result<(), NotMovable> {
        match &self.state {
            State::Handshake(_) => Err(NotMovable::Handshake),
            State::Closed { .. } => Err(NotMovable::Closing),
            State::Open(o) => {
                if o.identity().is_some_and(|id| !fits(id)) {
                    return Err(NotMovable::Identity);
                }
                out.put_u8(SESSION_STATE_VERSION);
                out.put_u8(KIND_WEBSOCKET);
                export_open(o, self.admitted.as_deref().copied(), p, now, out);
                Ok(())
            }
            State::SipStream(s) => {
                out.put_u8(SESSION_STATE_VERSION);
                out.put_u8(KIND_STREAM);
                out.put_u32(millis(s.idle_at.saturating_duration_since(now)));
                put_bytes32(out, s.framer.pending());
                Ok(())
            }
        }
    }

    /// A session from bytes [`export_state`](Self::export_state) wrote, going on under this process's policy `p`
    /// at `now`. An address the exporting process counted against the per-IP limit is counted here too (never
    /// refused: the connection is already open).
    pub fn import_state(p: &Policy, now: Instant, bytes: &[u8]) -> Result<Self, StateError> {
        let mut r = bytes;
        let version = r.try_get_u8()?;
        if version != SESSION_STATE_VERSION {
            return Err(StateError::Version(version));
        }
        let session = match r.try_get_u8()? {
            KIND_WEBSOCKET => import_open(p, now, &mut r)?,
            KIND_STREAM => {
                let idle_at = now + Duration::from_millis(r.try_get_u32()?.into());
                let pending = bytes32(&mut r)?;
                if pending.len() > p.max_message_size {
                    return Err(StateError::TooBig {
                        field: "stream",
                        len: pending.len(),
                    });
                }
                let mut framer = StreamFramer::new(p.max_message_size);
                framer.push(pending);
                Session {
                    state: State::SipStream(Box::new(Stream { framer, idle_at })),
                    admitted: None,
                }
            }
            _ => return Err(StateError::Field("kind")),
        };
        if !r.is_empty() {
            return Err(StateError::Trailing(r.len()));
        }
        // Counted last: a refused state leaves the limits as they were.
        if let Some(ip) = session.admitted.as_deref() {
            p.ip_limits.count_existing(*ip);
        }
        Ok(session)
    }
}

fn export_open(o: &Open, admitted: Option<IpAddr>, p: &Policy, now: Instant, out: &mut Vec<u8>) {
    let now_ms = p.timestamp(now).0;
    let identity = o.extras.as_deref().and_then(|e| e.identity.as_deref());
    // The browser keeps its window (context takeover), whether or not it sent anything yet.
    let window = o
        .extras
        .as_deref()
        .and_then(|e| e.inflate_window.as_ref())
        .map(|w| w.packed().unwrap_or_default());
    let bucket = o.bucket.state(now_ms);
    let flags = [
        (admitted.is_some(), FLAG_ADMITTED),
        (identity.is_some(), FLAG_IDENTITY),
        (window.is_some(), FLAG_WINDOW),
        (bucket.is_some(), FLAG_BUCKET),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .fold(0, |f, (_, bit)| f | bit);
    out.put_u8(flags);
    if admitted.is_some() {
        put_addr(out, admitted);
    }
    put_addr(out, o.client);
    let (age, idle) = o.ages_ms(now_ms);
    out.put_u32(age);
    out.put_u32(idle);
    if let Some((since, tokens)) = bucket {
        out.put_u32(since);
        out.put_u32(tokens);
    }
    out.put_u8(o.inflate_bits);
    if let Some(id) = identity {
        put_identity(out, id, p.timestamp(now));
    }
    if let Some(w) = window {
        put_bytes32(out, w);
    }
    let mut ws = Vec::new();
    o.ws.export_state(now, &mut ws);
    put_bytes32(out, &ws);
}

fn import_open(p: &Policy, now: Instant, r: &mut &[u8]) -> Result<Session, StateError> {
    let now_ms = p.timestamp(now).0;
    let flags = r.try_get_u8()?;
    if flags & !(FLAG_ADMITTED | FLAG_IDENTITY | FLAG_WINDOW | FLAG_BUCKET) != 0 {
        return Err(StateError::Field("flags"));
    }
    let admitted = match flags & FLAG_ADMITTED {
        0 => None,
        _ => Some(addr(r)?.ok_or(StateError::Field("admitted"))?),
    };
    let client = addr(r)?;
    let (age, idle) = (r.try_get_u32()?, r.try_get_u32()?);
    let bucket = match flags & FLAG_BUCKET {
        0 => RequestBucket::default(),
        _ => RequestBucket::restore(now_ms, r.try_get_u32()?, r.try_get_u32()?),
    };
    let inflate_bits = r.try_get_u8()?;
    if inflate_bits != 0 && !(8..=15).contains(&inflate_bits) {
        return Err(StateError::Field("inflate_bits"));
    }
    let identity = match flags & FLAG_IDENTITY {
        0 => None,
        _ => Some(Box::new(identity(r, p.timestamp(now))?)),
    };
    let inflate_window = match flags & FLAG_WINDOW {
        0 => None,
        _ if inflate_bits == 0 => return Err(StateError::Field("inflate_window")),
        _ => {
            let packed = bytes32(r)?;
            if packed.len() > MAX_PACKED_WINDOW {
                return Err(StateError::TooBig {
                    field: "inflate_window",
                    len: packed.len(),
                });
            }
            Some(Context::from_packed(packed))
        }
    };
    let ws = Connection::import_state(bytes32(r)?, p.ws, now)?;
    let now32 = now_ms as u32;
    let extras = (identity.is_some() || inflate_window.is_some()).then(|| {
        Box::new(Extras {
            identity,
            inflate_window,
        })
    });
    let open = Open {
        ws: Box::new(ws),
        extras,
        client,
        bucket,
        last_rx_ms: now32.wrapping_sub(idle),
        opened_ms: now32.wrapping_sub(age),
        inflate_bits,
    };
    Ok(Session {
        state: State::Open(open),
        admitted: admitted.map(Box::new).filter(|_| p.ip_limits.is_active()),
    })
}

/// Whether every part of `id` fits its u16 length or count.
fn fits(id: &Identity) -> bool {
    let max = usize::from(u16::MAX);
    id.user.len() <= max && id.domains.len() <= max && id.domains.iter().all(|d| d.len() <= max)
}

fn put_identity(out: &mut Vec<u8>, id: &Identity, now: Timestamp) {
    put_bytes16(out, id.user.as_bytes());
    out.put_u16(id.domains.len() as u16);
    for d in &id.domains {
        put_bytes16(out, d.as_bytes());
    }
    match id.expires_at {
        None => out.put_u8(0),
        Some(at) => {
            out.put_u8(1);
            out.put_u64(millis64(now.until(at)));
        }
    }
}

fn identity(r: &mut &[u8], now: Timestamp) -> Result<Identity, StateError> {
    let user = text(bytes16(r)?, "user")?;
    if user.is_empty() {
        return Err(StateError::Field("user"));
    }
    let count = r.try_get_u16()?;
    // Each domain takes at least its two length bytes: no more room than the bytes left can fill.
    let mut domains = Vec::with_capacity(usize::from(count).min(r.len() / 2));
    for _ in 0..count {
        domains.push(text(bytes16(r)?, "domain")?);
    }
    let expires_at = match r.try_get_u8()? {
        0 => None,
        1 => Some(now.after(Duration::from_millis(r.try_get_u64()?))),
        _ => return Err(StateError::Field("expires")),
    };
    Ok(Identity {
        user,
        domains,
        expires_at,
    })
}

fn put_addr(out: &mut Vec<u8>, addr: Option<IpAddr>) {
    match addr {
        None => out.put_u8(0),
        Some(IpAddr::V4(a)) => {
            out.put_u8(4);
            out.put_slice(&a.octets());
        }
        Some(IpAddr::V6(a)) => {
            out.put_u8(6);
            out.put_slice(&a.octets());
        }
    }
}

fn addr(r: &mut &[u8]) -> Result<Option<IpAddr>, StateError> {
    Ok(match r.try_get_u8()? {
        0 => None,
        4 => Some(IpAddr::V4(Ipv4Addr::from(r.try_get_u32()?))),
        6 => Some(IpAddr::V6(Ipv6Addr::from(r.try_get_u128()?))),
        _ => return Err(StateError::Field("address")),
    })
}

fn put_bytes32(out: &mut Vec<u8>, bytes: &[u8]) {
    out.put_u32(bytes.len() as u32);
    out.put_slice(bytes);
}

fn put_bytes16(out: &mut Vec<u8>, bytes: &[u8]) {
    out.put_u16(bytes.len() as u16);
    out.put_slice(bytes);
}

fn bytes16<'a>(r: &mut &'a [u8]) -> Result<&'a [u8], StateError> {
    let len = usize::from(r.try_get_u16()?);
    take(r, len)
}

fn bytes32<'a>(r: &mut &'a [u8]) -> Result<&'a [u8], StateError> {
    let len = r.try_get_u32()? as usize;
    take(r, len)
}

fn take<'a>(r: &mut &'a [u8], n: usize) -> Result<&'a [u8], StateError> {
    let (got, rest) = r.split_at_checked(n).ok_or(StateError::Truncated)?;
    *r = rest;
    Ok(got)
}

fn text(bytes: &[u8], field: &'static str) -> Result<String, StateError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| StateError::Field(field))
}

fn millis(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

fn millis64(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
