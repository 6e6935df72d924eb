//! A registrar shard's bindings as bytes, to move them to another process (a hand-over from a running edge to a
//! new one): versioned, read back with every field checked, so that bytes which are not such a state are refused
//! with the field they break and never panic.
//!
//! Each binding keeps its flow (node, worker, slot, generation: the new process holds the same connection at
//! the same place), its Contact, instance, reg-id, Call-ID and CSeq, and its times as durations from the moment
//! of the export (an edge's clock means nothing in another process). A binding registered longer ago than the
//! importing clock's reading is kept as registered at that clock's zero, which loses its place in the newest-first
//! order: the importing process starts its clock where the exporting one's stands. AoRs are written in name
//! order, so that one registrar always writes the same bytes.
//!
//! Format version 1, integers big-endian:
//! ```text
//! u8 version                   1
//! u32 AoRs, each:
//!   u16 length + AoR           non-empty, UTF-8, each AoR once
//!   u16 bindings (at least 1), each:
//!     u16 length + Contact URI, u8 0 or 1 + [u16 length + instance], u16 length + Call-ID
//!     u8 0 or 1 + [u32 reg-id]
//!     u32 node, u16 worker, u32 slot, u32 generation, u8 flags (1: outbound, 2: secure)
//!     u64 ms until it lapses (0: lapsed), u64 ms since it was last registered, u32 CSeq
//! ```

use std::cmp::Reverse;
use std::rc::Rc;
use std::time::Duration;

use bytes::{Buf, BufMut};

use super::{Aor, AorKey, Binding, NO_CHECK, Registrar, RegistrarConfig};
use crate::flow_token::FlowId;
use crate::time::Timestamp;

/// The version [`Registrar::export_state`] writes; [`Registrar::import_state`] reads only this one.
pub const REGISTRAR_STATE_VERSION: u8 = 1;

const FLOW_OUTBOUND: u8 = 1;
const FLOW_SECURE: u8 = 2;

/// Why bytes are not a registrar state this version reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// Another version of the format.
    #[error("registrar state version {0}, this build reads version {REGISTRAR_STATE_VERSION}")]
    Version(u8),
    /// The bytes end before the state does.
    #[error("registrar state cut short")]
    Truncated,
    /// Bytes after the end of the state.
    #[error("{0} bytes after the end of the registrar state")]
    Trailing(usize),
    /// A field holds a value no registrar has.
    #[error("registrar state field {0} holds an impossible value")]
    Field(&'static str),
}

impl From<bytes::TryGetError> for StateError {
    fn from(_: bytes::TryGetError) -> Self {
        Self::Truncated
    }
}

/// Why a registrar's bindings do not fit the format: a field over its u16 length (a SIP message's size bound
/// keeps every real one far below it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a binding of {0} has a field over 65,535 bytes")]
pub struct TooLong(pub usize);

impl Registrar {
    /// Appends this shard's bindings to `out` ([`REGISTRAR_STATE_VERSION`]) as of `now`.
    pub fn export_state(&self, now: Timestamp, out: &mut Vec<u8>) -> Result<(), TooLong> {
        let mut aors: Vec<(&AorKey, &Aor)> = self.aors.iter().collect();
        aors.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let start = out.len();
        out.put_u8(REGISTRAR_STATE_VERSION);
        out.put_u32(aors.len() as u32);
        for (i, (aor, a)) in aors.into_iter().enumerate() {
            if !put16(out, aor.as_bytes()) || a.bindings.len() > usize::from(u16::MAX) {
                out.truncate(start);
                return Err(TooLong(i));
            }
            out.put_u16(a.bindings.len() as u16);
            for b in &a.bindings {
                if !put_binding(out, b, now) {
                    out.truncate(start);
                    return Err(TooLong(i));
                }
            }
        }
        Ok(())
    }

    /// A shard with `config` (split in `shards`) holding the bindings of a state [`export_state`]
    /// (Self::export_state) wrote, as of `now` on this process's clock. Bindings over this configuration's bounds
    /// are kept, as a reload keeps them, until refreshed or expired.
    pub fn import_state(
        config: RegistrarConfig,
        shards: u16,
        now: Timestamp,
        bytes: &[u8],
    ) -> Result<Self, StateError> {
        let mut r = bytes;
        let version = r.try_get_u8()?;
        if version != REGISTRAR_STATE_VERSION {
            return Err(StateError::Version(version));
        }
        let mut shard = Registrar::shard(config, shards);
        for _ in 0..r.try_get_u32()? {
            let name = text(take16(&mut r)?, "aor")?;
            if name.is_empty() || shard.aors.contains_key(name.as_str()) {
                return Err(StateError::Field("aor"));
            }
            let count = r.try_get_u16()?;
            if count == 0 {
                return Err(StateError::Field("bindings"));
            }
            let key: AorKey = Rc::from(name);
            let mut bindings = Vec::with_capacity(usize::from(count).min(r.len()));
            for _ in 0..count {
                bindings.push(binding(&mut r, now)?);
            }
            shard.insert_aor(key, bindings);
        }
        if !r.is_empty() {
            return Err(StateError::Trailing(r.len()));
        }
        Ok(shard)
    }

    /// Holds `bindings` under `key`: the flow index, the expiry queue and the count follow.
    fn insert_aor(&mut self, key: AorKey, bindings: Vec<Binding>) {
        for b in &bindings {
            self.flows.add(&b.flow, &key);
        }
        let check_at = bindings
            .iter()
            .map(|b| b.expires_at)
            .min()
            .unwrap_or(NO_CHECK);
        self.expiry.push(Reverse((check_at, key.clone())));
        self.bindings += bindings.len();
        self.aors.insert(key, Aor { bindings, check_at });
    }
}

/// Writes `b`; `false` when a field is over its u16 length.
fn put_binding(out: &mut Vec<u8>, b: &Binding, now: Timestamp) -> bool {
    if !put16(out, b.uri().as_bytes()) {
        return false;
    }
    match b.instance() {
        None => out.put_u8(0),
        Some(i) => {
            out.put_u8(1);
            if !put16(out, i.as_bytes()) {
                return false;
            }
        }
    }
    if !put16(out, b.call_id().as_bytes()) {
        return false;
    }
    match b.reg_id {
        None => out.put_u8(0),
        Some(id) => {
            out.put_u8(1);
            out.put_u32(id);
        }
    }
    let f = b.flow;
    out.put_u32(f.node);
    out.put_u16(f.worker);
    out.put_u32(f.slot);
    out.put_u32(f.generation);
    out.put_u8(if f.outbound { FLOW_OUTBOUND } else { 0 } | if f.secure { FLOW_SECURE } else { 0 });
    out.put_u64(millis(now.until(b.expires_at)));
    out.put_u64(millis(b.updated_at.until(now)));
    out.put_u32(b.cseq);
    true
}

fn binding(r: &mut &[u8], now: Timestamp) -> Result<Binding, StateError> {
    let uri = text(take16(r)?, "contact")?;
    if uri.is_empty() {
        return Err(StateError::Field("contact"));
    }
    let instance = match r.try_get_u8()? {
        0 => None,
        1 => Some(text(take16(r)?, "instance")?),
        _ => return Err(StateError::Field("instance")),
    };
    let call_id = text(take16(r)?, "call_id")?;
    let reg_id = match r.try_get_u8()? {
        0 => None,
        1 => Some(r.try_get_u32()?),
        _ => return Err(StateError::Field("reg_id")),
    };
    let (node, worker, slot, generation) = (
        r.try_get_u32()?,
        r.try_get_u16()?,
        r.try_get_u32()?,
        r.try_get_u32()?,
    );
    let flags = r.try_get_u8()?;
    if flags & !(FLOW_OUTBOUND | FLOW_SECURE) != 0 {
        return Err(StateError::Field("flow"));
    }
    let flow = FlowId {
        node,
        worker,
        slot,
        generation,
        outbound: flags & FLOW_OUTBOUND != 0,
        secure: flags & FLOW_SECURE != 0,
    };
    let expires_at = now.after(Duration::from_millis(r.try_get_u64()?));
    let age = r.try_get_u64()?;
    let updated_at = Timestamp(now.0.saturating_sub(age));
    let cseq = r.try_get_u32()?;
    Ok(Binding::restored(
        &uri,
        instance.as_deref(),
        &call_id,
        reg_id,
        flow,
        (expires_at, updated_at),
        cseq,
    ))
}

/// Writes `bytes` with a u16 length; `false` (nothing written) when they are longer.
fn put16(out: &mut Vec<u8>, bytes: &[u8]) -> bool {
    let Ok(len) = u16::try_from(bytes.len()) else {
        return false;
    };
    out.put_u16(len);
    out.put_slice(bytes);
    true
}

fn take16<'a>(r: &mut &'a [u8]) -> Result<&'a [u8], StateError> {
    let len = usize::from(r.try_get_u16()?);
    let (got, rest) = r.split_at_checked(len).ok_or(StateError::Truncated)?;
    *r = rest;
    Ok(got)
}

fn text(bytes: &[u8], field: &'static str) -> Result<String, StateError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| StateError::Field(field))
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
