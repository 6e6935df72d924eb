//! The standalone registrar (RFC 3261 §10.3, with RFC 5626 `+sip.instance` / `reg-id` bindings).
//!
//! Used when no SIP core is configured: browsers register here and the edge proxies between them. Each worker
//! owns one shard (the AoRs that hash to it); the runtime routes REGISTERs and lookups to the owning shard by
//! message. Time is passed in; [`Registrar::expire`] drops bindings whose time has come.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use crate::flow_token::FlowId;
use crate::time::Timestamp;

/// Registrar limits and defaults (seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistrarConfig {
    /// Expiry used when the REGISTER names none (RFC 3261 §10.2.1.1 suggests 3600).
    pub default_expires: u32,
    /// Shorter requested expiries are refused with 423 Interval Too Brief (RFC 3261 §10.3 step 7).
    pub min_expires: u32,
    /// Longer requested expiries are shortened to this.
    pub max_expires: u32,
    /// Bindings one AoR may hold; more are refused with 403.
    pub max_bindings_per_aor: usize,
}

impl Default for RegistrarConfig {
    fn default() -> Self {
        Self {
            default_expires: 600,
            min_expires: 60,
            max_expires: 3600,
            max_bindings_per_aor: 16,
        }
    }
}

/// One Contact of a REGISTER, as the edge parsed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactUpdate {
    /// The Contact URI (what requests to the user are sent to).
    pub uri: String,
    /// The Contact's `expires` parameter, if any.
    pub expires: Option<u32>,
    /// `+sip.instance` (RFC 5626 §4.1), with its quotes and angle brackets removed.
    pub instance: Option<String>,
    /// `reg-id` (RFC 5626 §4.2).
    pub reg_id: Option<u32>,
}

/// What a REGISTER asks for (RFC 3261 §10.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterAction {
    /// No Contact: list the current bindings.
    Fetch,
    /// `Contact: *` (valid only with `Expires: 0`): remove all bindings of the AoR.
    RemoveAll,
    /// Add, refresh or remove (expires 0) these contacts.
    Update(Vec<ContactUpdate>),
}

/// One REGISTER as the registrar needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Register {
    /// The normalized address of record (see [`normalize_aor`]).
    pub aor: String,
    /// What the request asks.
    pub action: RegisterAction,
    /// The `Expires` header, if any.
    pub expires_header: Option<u32>,
    /// Call-ID and CSeq number, for the ordering rule of §10.3 step 7.
    pub call_id: String,
    /// CSeq number.
    pub cseq: u32,
    /// The flow the REGISTER arrived on.
    pub flow: FlowId,
}

/// A stored binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// Contact URI.
    pub uri: String,
    /// `+sip.instance`, if the client sent one.
    pub instance: Option<String>,
    /// `reg-id`, if the client sent one.
    pub reg_id: Option<u32>,
    /// The flow that reaches the client.
    pub flow: FlowId,
    /// When the binding lapses.
    pub expires_at: Timestamp,
    /// When it was last registered or refreshed (newest binding wins for routing).
    pub updated_at: Timestamp,
    /// Call-ID of the REGISTER that made or refreshed it.
    pub call_id: String,
    /// CSeq of that REGISTER.
    pub cseq: u32,
}

impl Binding {
    /// Seconds left before the binding lapses, as a 200 OK's Contact `expires` says it.
    pub fn expires_in(&self, now: Timestamp) -> u32 {
        u32::try_from(now.until(self.expires_at).as_secs()).unwrap_or(u32::MAX)
    }

    fn same_binding(&self, c: &ContactUpdate) -> bool {
        match (&self.instance, &c.instance) {
            // RFC 5626 §6: with an instance, the binding is keyed by (instance, reg-id).
            (Some(a), Some(b)) => a == b && self.reg_id == c.reg_id,
            (None, None) => self.uri == c.uri,
            _ => false,
        }
    }
}

/// Why a REGISTER was refused, with the status code to answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    /// RFC 3261 §10.3 step 6: `*` with other contacts or with a non-zero expiry.
    #[error(
        "400 Invalid wildcard Contact (RFC 3261 §10.3: '*' requires Expires: 0 and no other Contact)"
    )]
    BadWildcard,
    /// RFC 3261 §10.3 step 7: same Call-ID with a CSeq not higher than the stored one.
    #[error("500 Out of order REGISTER (RFC 3261 §10.3: CSeq not higher for the same Call-ID)")]
    OutOfOrder,
    /// RFC 3261 §10.3 step 7: expiry below the minimum.
    #[error("423 Interval Too Brief (RFC 3261 §10.3); Min-Expires: {min_expires}")]
    IntervalTooBrief {
        /// The value of the Min-Expires header of the answer.
        min_expires: u32,
    },
    /// Too many bindings for one AoR.
    #[error("403 Too many bindings for this address of record")]
    TooManyBindings,
}

impl RegisterError {
    /// The SIP status code that answers this error.
    pub fn status(&self) -> u16 {
        match self {
            Self::BadWildcard => 400,
            Self::OutOfOrder => 500,
            Self::IntervalTooBrief { .. } => 423,
            Self::TooManyBindings => 403,
        }
    }
}

/// The bindings of the AoRs one worker owns.
#[derive(Debug, Default)]
pub struct Registrar {
    config: RegistrarConfig,
    aors: HashMap<String, Vec<Binding>>,
    /// Lazy expiry queue: (time, aor); stale entries are skipped when popped.
    expiry: BinaryHeap<Reverse<(Timestamp, String)>>,
    /// Bindings over all AoRs (kept up to date, so that reading it is O(1)).
    bindings: usize,
}

impl Registrar {
    /// An empty registrar.
    pub fn new(config: RegistrarConfig) -> Self {
        Self {
            config,
            ..Self::default()
        }
    }

    /// Apply a REGISTER at time `now`; on success, the AoR's bindings after the change (for the 200 OK).
    pub fn register(
        &mut self,
        req: &Register,
        now: Timestamp,
    ) -> Result<&[Binding], RegisterError> {
        let before = self.aors.get(&req.aor).map_or(0, Vec::len);
        self.apply(req, now)?;
        let after = self.aors.get(&req.aor).map_or(0, Vec::len);
        self.bindings = self.bindings + after - before;
        Ok(self.aors.get(&req.aor).map(Vec::as_slice).unwrap_or(&[]))
    }

    fn apply(&mut self, req: &Register, now: Timestamp) -> Result<(), RegisterError> {
        let cfg = self.config;
        match &req.action {
            RegisterAction::Fetch => {}
            RegisterAction::RemoveAll => {
                if req.expires_header != Some(0) {
                    return Err(RegisterError::BadWildcard);
                }
                if let Some(list) = self.aors.get(&req.aor)
                    && list
                        .iter()
                        .any(|b| b.call_id == req.call_id && req.cseq <= b.cseq)
                {
                    return Err(RegisterError::OutOfOrder);
                }
                self.aors.remove(&req.aor);
            }
            RegisterAction::Update(contacts) => {
                let expiry_of = |c: &ContactUpdate| {
                    c.expires
                        .or(req.expires_header)
                        .unwrap_or(cfg.default_expires)
                };
                // Check everything before changing anything: a REGISTER applies whole or not at all.
                let list = self.aors.get(&req.aor).map(Vec::as_slice).unwrap_or(&[]);
                let mut new_count = list.len();
                for c in contacts {
                    let e = expiry_of(c);
                    if e != 0 && e < cfg.min_expires {
                        return Err(RegisterError::IntervalTooBrief {
                            min_expires: cfg.min_expires,
                        });
                    }
                    match list.iter().find(|b| b.same_binding(c)) {
                        Some(b) if b.call_id == req.call_id && req.cseq <= b.cseq => {
                            return Err(RegisterError::OutOfOrder);
                        }
                        Some(_) => {}
                        None if e != 0 => new_count += 1,
                        None => {}
                    }
                }
                if new_count > cfg.max_bindings_per_aor {
                    return Err(RegisterError::TooManyBindings);
                }
                // Most AoRs have one binding: a Vec's default first growth (4 × ~180 B) would waste ~540 B each.
                let list = self
                    .aors
                    .entry(req.aor.clone())
                    .or_insert_with(|| Vec::with_capacity(1));
                for c in contacts {
                    let e = expiry_of(c).min(cfg.max_expires);
                    let existing = list.iter().position(|b| b.same_binding(c));
                    if e == 0 {
                        if let Some(i) = existing {
                            list.swap_remove(i);
                        }
                        continue;
                    }
                    let binding = Binding {
                        uri: c.uri.clone(),
                        instance: c.instance.clone(),
                        reg_id: c.reg_id,
                        flow: req.flow,
                        expires_at: now.after(std::time::Duration::from_secs(u64::from(e))),
                        updated_at: now,
                        call_id: req.call_id.clone(),
                        cseq: req.cseq,
                    };
                    self.expiry
                        .push(Reverse((binding.expires_at, req.aor.clone())));
                    match existing {
                        Some(i) => list[i] = binding,
                        None => list.push(binding),
                    }
                }
                if list.is_empty() {
                    self.aors.remove(&req.aor);
                }
            }
        }
        Ok(())
    }

    /// The live bindings of `aor`, newest first.
    pub fn lookup(&self, aor: &str, now: Timestamp) -> Vec<&Binding> {
        let mut v: Vec<&Binding> = self
            .aors
            .get(aor)
            .into_iter()
            .flatten()
            .filter(|b| b.expires_at > now)
            .collect();
        v.sort_by_key(|b| Reverse(b.updated_at));
        v
    }

    /// Remove every binding that lives on `flow` (its connection closed). Returns how many were removed.
    pub fn remove_flow(&mut self, aor: &str, flow: &FlowId) -> usize {
        let Some(list) = self.aors.get_mut(aor) else {
            return 0;
        };
        let before = list.len();
        list.retain(|b| !b.flow.same_connection(flow));
        let removed = before - list.len();
        if list.is_empty() {
            self.aors.remove(aor);
        }
        self.bindings -= removed;
        removed
    }

    /// Drop the bindings whose expiry is at or before `now`; returns how many were dropped.
    pub fn expire(&mut self, now: Timestamp) -> usize {
        let mut dropped = 0;
        while let Some(Reverse((at, _))) = self.expiry.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((_, aor))) = self.expiry.pop() else {
                break;
            };
            if let Some(list) = self.aors.get_mut(&aor) {
                let before = list.len();
                list.retain(|b| b.expires_at > now);
                dropped += before - list.len();
                if list.is_empty() {
                    self.aors.remove(&aor);
                }
            }
        }
        self.bindings -= dropped;
        dropped
    }

    /// When [`Registrar::expire`] next has something to do.
    pub fn next_expiry(&self) -> Option<Timestamp> {
        self.expiry.peek().map(|Reverse((at, _))| *at)
    }

    /// Number of AoRs with at least one binding.
    pub fn aor_count(&self) -> usize {
        self.aors.len()
    }

    /// Number of bindings over all AoRs.
    pub fn binding_count(&self) -> usize {
        debug_assert_eq!(
            self.bindings,
            self.aors.values().map(Vec::len).sum::<usize>()
        );
        self.bindings
    }
}

/// The registrar's key for an address of record: `user@host` with the host lowercased (RFC 3261 §19.1.4: the
/// host compares case-insensitively, the user part case-sensitively), without scheme, port or parameters.
pub fn normalize_aor(user: &str, host: &str) -> String {
    let mut s = String::with_capacity(user.len() + host.len() + 1);
    s.push_str(user);
    s.push('@');
    s.extend(host.chars().map(|c| c.to_ascii_lowercase()));
    s
}

#[cfg(test)]
mod tests;
