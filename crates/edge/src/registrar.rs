//! The standalone registrar (RFC 3261 §10.3, with RFC 5626 `+sip.instance` / `reg-id` bindings).
//!
//! Used when no SIP core is configured: browsers register here and the edge proxies between them. Each worker
//! owns one shard (the AoRs that hash to it); the runtime routes REGISTERs and lookups to the owning shard by
//! message. Time is passed in; [`Registrar::expire`] drops bindings whose time has come.
//!
//! Nothing a client sends grows it without bound: an AoR holds at most `max_bindings_per_aor` bindings, a flow
//! (one connection) at most `max_bindings_per_flow` in each shard (403 beyond: the client misbehaves), and a
//! shard at most its share of `max_bindings` (503 with `Retry-After` beyond: the node is full). A binding's room
//! comes back when it goes, by `Expires: 0`, by expiry or with its connection.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::rc::Rc;

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
    /// Bindings one flow (a browser's connection) may hold in one registrar shard, over all AoRs; more are
    /// refused with 403 Too Many Bindings On This Connection.
    pub max_bindings_per_flow: usize,
    /// Bindings the registrar holds in all, over its shards: each of `n` shards holds at most
    /// `max_bindings.div_ceil(n)` (AoRs spread evenly over the shards by hash); new bindings over it are refused
    /// with 503 Registrar Full and [`FULL_RETRY_AFTER`]. Refreshes and removals are always taken.
    pub max_bindings: usize,
}

/// The `Retry-After` (seconds) of a 503 Registrar Full: room comes back as bindings expire or connections close.
pub const FULL_RETRY_AFTER: u32 = 60;

impl Default for RegistrarConfig {
    fn default() -> Self {
        Self {
            default_expires: 600,
            min_expires: 60,
            max_expires: 3600,
            max_bindings_per_aor: 16,
            max_bindings_per_flow: 16,
            max_bindings: 1_000_000,
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

/// The expiry `c` asks for: its own `expires`, else the Expires header, else the default.
fn requested_expiry(cfg: RegistrarConfig, req: &Register, c: &ContactUpdate) -> u32 {
    c.expires
        .or(req.expires_header)
        .unwrap_or(cfg.default_expires)
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
///
/// The Contact URI, the `+sip.instance` and the Call-ID share one allocation: a registrar holds one binding per
/// browser, tens of thousands of them, so each field that is a `String` of its own costs a heap block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// Contact URI, then `+sip.instance`, then Call-ID.
    text: Box<str>,
    /// End of the URI in `text`.
    uri_end: u32,
    /// End of the instance in `text` (`uri_end` with no instance).
    instance_end: u32,
    has_instance: bool,
    /// `reg-id`, if the client sent one.
    pub reg_id: Option<u32>,
    /// The flow that reaches the client.
    pub flow: FlowId,
    /// When the binding lapses.
    pub expires_at: Timestamp,
    /// When it was last registered or refreshed (newest binding wins for routing).
    pub updated_at: Timestamp,
    /// CSeq of the REGISTER that made or refreshed it.
    pub cseq: u32,
}

impl Binding {
    fn new(c: &ContactUpdate, req: &Register, expires_at: Timestamp, now: Timestamp) -> Self {
        Self::restored(
            &c.uri,
            c.instance.as_deref(),
            &req.call_id,
            c.reg_id,
            req.flow,
            (expires_at, now),
            req.cseq,
        )
    }

    /// A binding from its parts; `times` is when it lapses and when it was last registered.
    fn restored(
        uri: &str,
        instance: Option<&str>,
        call_id: &str,
        reg_id: Option<u32>,
        flow: FlowId,
        times: (Timestamp, Timestamp),
        cseq: u32,
    ) -> Self {
        let instance_text = instance.unwrap_or("");
        let mut text = String::with_capacity(uri.len() + instance_text.len() + call_id.len());
        text.push_str(uri);
        text.push_str(instance_text);
        text.push_str(call_id);
        // Message sizes are capped far below 4 GiB, so the offsets fit; saturate rather than wrap if not.
        let uri_end = u32::try_from(uri.len()).unwrap_or(u32::MAX);
        let instance_end = u32::try_from(uri.len() + instance_text.len()).unwrap_or(u32::MAX);
        Self {
            text: text.into_boxed_str(),
            uri_end,
            instance_end,
            has_instance: instance.is_some(),
            reg_id,
            flow,
            expires_at: times.0,
            updated_at: times.1,
            cseq,
        }
    }

    /// The Contact URI (what requests to the user are sent to).
    pub fn uri(&self) -> &str {
        self.text.get(..self.uri_end as usize).unwrap_or("")
    }

    /// `+sip.instance`, if the client sent one.
    pub fn instance(&self) -> Option<&str> {
        self.has_instance.then(|| {
            self.text
                .get(self.uri_end as usize..self.instance_end as usize)
                .unwrap_or("")
        })
    }

    /// Call-ID of the REGISTER that made or refreshed it.
    pub fn call_id(&self) -> &str {
        self.text.get(self.instance_end as usize..).unwrap_or("")
    }

    /// Seconds left before the binding lapses, as a 200 OK's Contact `expires` says it.
    pub fn expires_in(&self, now: Timestamp) -> u32 {
        u32::try_from(now.until(self.expires_at).as_secs()).unwrap_or(u32::MAX)
    }

    fn same_binding(&self, c: &ContactUpdate) -> bool {
        match (self.instance(), &c.instance) {
            // RFC 5626 §6: with an instance, the binding is keyed by (instance, reg-id).
            (Some(a), Some(b)) => a == b && self.reg_id == c.reg_id,
            (None, None) => self.uri() == c.uri,
            _ => false,
        }
    }

    fn out_of_order(&self, req: &Register) -> bool {
        self.call_id() == req.call_id && req.cseq <= self.cseq
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
    /// The flow holds `max_bindings_per_flow` bindings already: a browser registers one AoR or a few.
    #[error(
        "403 Too many bindings on this connection (at most {max} per flow in a registrar shard)"
    )]
    FlowBindingCap {
        /// `max_bindings_per_flow`.
        max: usize,
    },
    /// The shard holds its share of `max_bindings` already: the node is full.
    #[error(
        "503 Registrar full (at most {max} bindings in this shard); Retry-After: {FULL_RETRY_AFTER}"
    )]
    Full {
        /// This shard's share of `max_bindings`.
        max: usize,
    },
}

impl RegisterError {
    /// The SIP status code that answers this error.
    pub fn status(&self) -> u16 {
        match self {
            Self::BadWildcard => 400,
            Self::OutOfOrder => 500,
            Self::IntervalTooBrief { .. } => 423,
            Self::TooManyBindings => 403,
            Self::FlowBindingCap { .. } => 403,
            Self::Full { .. } => 503,
        }
    }

    /// The reason phrase of the answer.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::BadWildcard => "Invalid Wildcard",
            Self::OutOfOrder => "Out Of Order",
            Self::IntervalTooBrief { .. } => "Interval Too Brief",
            Self::TooManyBindings => "Too Many Bindings",
            Self::FlowBindingCap { .. } => "Too Many Bindings On This Connection",
            Self::Full { .. } => "Registrar Full",
        }
    }
}

const NO_CHECK: Timestamp = Timestamp(u64::MAX);

/// The bindings of one AoR, and when the expiry queue next looks at them.
#[derive(Debug)]
struct Aor {
    bindings: Vec<Binding>,
    /// The time of this AoR's live entry in the expiry queue (other entries for it are stale);
    /// [`NO_CHECK`] before the first.
    check_at: Timestamp,
}

/// The bindings of the AoRs one worker owns.
///
/// Each AoR's name is stored once ([`AorKey`]) and shared by the table, the expiry queue and the per-flow
/// index; the expiry queue holds one live entry per AoR, at its earliest binding expiry, so refreshes push
/// nothing.
#[derive(Debug, Default)]
pub struct Registrar {
    config: RegistrarConfig,
    /// Bindings this shard may hold (its share of `max_bindings`).
    capacity: usize,
    aors: HashMap<AorKey, Aor>,
    /// The AoRs each flow holds bindings in.
    flows: flows::FlowIndex,
    /// Lazy expiry queue: (time, aor); entries that are not their AoR's `check_at` are skipped when popped.
    expiry: BinaryHeap<Reverse<(Timestamp, AorKey)>>,
    /// Bindings over all AoRs (kept up to date, so that reading it is O(1)).
    bindings: usize,
}

/// A normalized AoR (see [`normalize_aor`]), shared rather than copied.
pub type AorKey = Rc<str>;

impl Registrar {
    /// An empty registrar of one shard (it may hold all of `max_bindings`).
    pub fn new(config: RegistrarConfig) -> Self {
        Self::shard(config, 1)
    }

    /// An empty shard of a registrar split in `shards`: it may hold `max_bindings.div_ceil(shards)` bindings.
    pub fn shard(config: RegistrarConfig, shards: u16) -> Self {
        Self {
            config,
            capacity: config.max_bindings.div_ceil(usize::from(shards.max(1))),
            ..Self::default()
        }
    }

    /// Apply a REGISTER at time `now`; on success, the AoR's bindings after the change (for the 200 OK).
    pub fn register(
        &mut self,
        req: &Register,
        now: Timestamp,
    ) -> Result<&[Binding], RegisterError> {
        let aor = req.aor.as_str();
        let before = self.aors.get(aor).map_or(0, |a| a.bindings.len());
        // The flows whose bindings the request may add, move or remove: the sender's and the AoR's.
        let mut touched = self.flows_in(aor);
        touched.push(req.flow);
        self.apply(req, now)?;
        let after = self.aors.get(aor).map_or(0, |a| a.bindings.len());
        self.bindings = self.bindings + after - before;
        self.reindex(aor, &touched);
        Ok(self
            .aors
            .get(req.aor.as_str())
            .map(|a| a.bindings.as_slice())
            .unwrap_or(&[]))
    }

    /// The flows that hold bindings in `aor`.
    fn flows_in(&self, aor: &str) -> Vec<FlowId> {
        self.aors
            .get(aor)
            .map(|a| a.bindings.iter().map(|b| b.flow).collect())
            .unwrap_or_default()
    }

    /// Bring the flow index up to date for `flows` in `aor`, after its bindings changed.
    fn reindex(&mut self, aor: &str, flows: &[FlowId]) {
        let Self {
            aors, flows: index, ..
        } = self;
        for f in flows {
            match aors.get_key_value(aor) {
                Some((key, a)) if a.bindings.iter().any(|b| b.flow.same_connection(f)) => {
                    index.add(f, key);
                }
                _ => index.remove(f, aor),
            }
        }
    }

    /// The bindings `flow` holds in this shard, over all AoRs.
    fn held_by(&self, flow: &FlowId) -> usize {
        self.flows
            .aors(flow)
            .filter_map(|aor| self.aors.get(&**aor))
            .map(|a| {
                a.bindings
                    .iter()
                    .filter(|b| b.flow.same_connection(flow))
                    .count()
            })
            .sum()
    }

    /// The shared name of `aor`, while it has bindings.
    pub fn aor_key(&self, aor: &str) -> Option<AorKey> {
        self.aors.get_key_value(aor).map(|(k, _)| k.clone())
    }

    fn apply(&mut self, req: &Register, now: Timestamp) -> Result<(), RegisterError> {
        match &req.action {
            RegisterAction::Fetch => Ok(()),
            RegisterAction::RemoveAll => self.remove_all(req),
            RegisterAction::Update(contacts) => {
                // Check everything before changing anything: a REGISTER applies whole or not at all.
                self.check_update(req, contacts)?;
                self.update(req, contacts, now);
                Ok(())
            }
        }
    }

    /// `Contact: *`: only with `Expires: 0`, and not older than any binding it removes.
    fn remove_all(&mut self, req: &Register) -> Result<(), RegisterError> {
        let aor = req.aor.as_str();
        if req.expires_header != Some(0) {
            return Err(RegisterError::BadWildcard);
        }
        if let Some(a) = self.aors.get(aor)
            && a.bindings.iter().any(|b| b.out_of_order(req))
        {
            return Err(RegisterError::OutOfOrder);
        }
        self.aors.remove(aor);
        Ok(())
    }

    /// Whether [`Registrar::update`] may apply `contacts`: no interval under the minimum, no refresh older than
    /// its binding, no more bindings than the AoR, the flow and the shard may hold (refreshes and removals always
    /// fit).
    fn check_update(
        &self,
        req: &Register,
        contacts: &[ContactUpdate],
    ) -> Result<(), RegisterError> {
        let cfg = self.config;
        let list = self
            .aors
            .get(req.aor.as_str())
            .map(|a| a.bindings.as_slice())
            .unwrap_or(&[]);
        let mut growth = Growth::default();
        for c in contacts {
            let e = requested_expiry(cfg, req, c);
            if e != 0 && e < cfg.min_expires {
                return Err(RegisterError::IntervalTooBrief {
                    min_expires: cfg.min_expires,
                });
            }
            let found = list.iter().find(|b| b.same_binding(c));
            if found.is_some_and(|b| b.out_of_order(req)) {
                return Err(RegisterError::OutOfOrder);
            }
            let own = found.is_some_and(|b| b.flow.same_connection(&req.flow));
            growth.count(found.is_some(), own, e != 0);
        }
        if list.len() + growth.new > cfg.max_bindings_per_aor {
            return Err(RegisterError::TooManyBindings);
        }
        let held = self.held_by(&req.flow);
        if growth.to_flow > 0
            && (held + growth.to_flow).saturating_sub(growth.from_flow) > cfg.max_bindings_per_flow
        {
            return Err(RegisterError::FlowBindingCap {
                max: cfg.max_bindings_per_flow,
            });
        }
        if growth.new > 0
            && (self.bindings + growth.new).saturating_sub(growth.gone) > self.capacity
        {
            return Err(RegisterError::Full { max: self.capacity });
        }
        Ok(())
    }

    /// Add, refresh and remove (expiry 0) the bindings of `contacts`, checked by
    /// [`Registrar::check_update`]; an AoR left without bindings goes.
    fn update(&mut self, req: &Register, contacts: &[ContactUpdate], now: Timestamp) {
        let aor = req.aor.as_str();
        let key: AorKey = match self.aors.get_key_value(aor) {
            Some((k, _)) => k.clone(),
            None => {
                let key: AorKey = Rc::from(aor);
                // Most AoRs have one binding: a Vec's default first growth would waste three.
                let fresh = Aor {
                    bindings: Vec::with_capacity(1),
                    check_at: NO_CHECK,
                };
                self.aors.insert(key.clone(), fresh);
                key
            }
        };
        let cfg = self.config;
        let Some(entry) = self.aors.get_mut(aor) else {
            return;
        };
        for c in contacts {
            let e = requested_expiry(cfg, req, c).min(cfg.max_expires);
            let existing = entry.bindings.iter().position(|b| b.same_binding(c));
            if e == 0 {
                if let Some(i) = existing {
                    entry.bindings.swap_remove(i);
                }
                continue;
            }
            let expires_at = now.after(std::time::Duration::from_secs(u64::from(e)));
            let binding = Binding::new(c, req, expires_at, now);
            if expires_at < entry.check_at {
                entry.check_at = expires_at;
                self.expiry.push(Reverse((expires_at, key.clone())));
            }
            match existing {
                Some(i) => entry.bindings[i] = binding,
                None => entry.bindings.push(binding),
            }
        }
        if entry.bindings.is_empty() {
            self.aors.remove(aor);
        }
    }

    /// The live bindings of `aor`, newest first.
    pub fn lookup(&self, aor: &str, now: Timestamp) -> Vec<&Binding> {
        let mut v: Vec<&Binding> = self
            .aors
            .get(aor)
            .into_iter()
            .flat_map(|a| a.bindings.iter())
            .filter(|b| b.expires_at > now)
            .collect();
        v.sort_by_key(|b| Reverse(b.updated_at));
        v
    }

    /// Remove every binding that lives on `flow` (its connection closed), in every AoR. Returns how many were
    /// removed.
    pub fn remove_flow(&mut self, flow: &FlowId) -> usize {
        let mut removed = 0;
        for aor in self.flows.take(flow) {
            let Some(a) = self.aors.get_mut(&*aor) else {
                continue;
            };
            let before = a.bindings.len();
            a.bindings.retain(|b| !b.flow.same_connection(flow));
            removed += before - a.bindings.len();
            if a.bindings.is_empty() {
                self.aors.remove(&*aor);
            }
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
            let Some(Reverse((at, key))) = self.expiry.pop() else {
                break;
            };
            let Some(a) = self.aors.get_mut(&*key) else {
                continue;
            };
            if a.check_at != at {
                continue;
            }
            let lapsed: Vec<FlowId> = a
                .bindings
                .iter()
                .filter(|b| b.expires_at <= now)
                .map(|b| b.flow)
                .collect();
            a.bindings.retain(|b| b.expires_at > now);
            dropped += lapsed.len();
            match a.bindings.iter().map(|b| b.expires_at).min() {
                Some(next) => {
                    a.check_at = next;
                    self.expiry.push(Reverse((next, key.clone())));
                }
                None => {
                    self.aors.remove(&*key);
                }
            }
            self.reindex(&key, &lapsed);
        }
        self.bindings -= dropped;
        // The queue keeps entries of AoRs gone before their time (unregistered): once they are popped, give the
        // memory back rather than keep the largest size it ever had.
        if self.expiry.capacity() > 64 && self.expiry.len() < self.expiry.capacity() / 4 {
            self.expiry.shrink_to(self.expiry.len() * 2);
        }
        dropped
    }

    /// When [`Registrar::expire`] next has something to do.
    pub fn next_expiry(&self) -> Option<Timestamp> {
        self.expiry.peek().map(|Reverse((at, _))| *at)
    }

    /// Every binding, with its AoR (in no particular order; lapsed ones not yet expired included: check
    /// [`Binding::expires_at`]).
    pub fn bindings(&self) -> impl Iterator<Item = (&str, &Binding)> {
        self.aors
            .iter()
            .flat_map(|(aor, a)| a.bindings.iter().map(move |b| (&**aor, b)))
    }

    /// Take new bounds (a configuration reload): they apply to the next REGISTER; bindings held stay as they
    /// are, even where they exceed a lowered bound, until refreshed or expired.
    pub fn reconfigure(&mut self, config: RegistrarConfig, shards: u16) {
        self.capacity = config.max_bindings.div_ceil(usize::from(shards.max(1)));
        self.config = config;
    }

    /// Number of AoRs with at least one binding.
    pub fn aor_count(&self) -> usize {
        self.aors.len()
    }

    /// Number of flows holding at least one binding.
    pub fn flow_count(&self) -> usize {
        self.flows.len()
    }

    /// Number of bindings over all AoRs.
    pub fn binding_count(&self) -> usize {
        debug_assert_eq!(
            self.bindings,
            self.aors.values().map(|a| a.bindings.len()).sum::<usize>()
        );
        self.bindings
    }
}

/// The address of record a REGISTER is for (its To URI, normalized as [`normalize_aor`] does), or `None` when
/// `bytes` is not a REGISTER with a SIP To URI naming a user. For an edge in front of a core, which keeps no
/// bindings, to tell which users a connection registered.
pub fn aor_of_register(bytes: &[u8]) -> Option<String> {
    if !bytes.starts_with(b"REGISTER ") {
        return None;
    }
    let msg = sipscan::Message::parse(bytes).ok()?;
    let to = msg.to()?.ok()?;
    let sip = to.uri.sip()?;
    Some(normalize_aor(
        &String::from_utf8_lossy(sip.user?),
        &String::from_utf8_lossy(sip.host.as_bytes()),
    ))
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

/// What a REGISTER's contacts would change, counted by [`Registrar::check_update`].
#[derive(Debug, Default)]
struct Growth {
    /// New bindings (the AoR and the shard grow).
    new: usize,
    /// Bindings removed (`expires` 0 on one that exists).
    gone: usize,
    /// Bindings the sender's flow gains: new ones, and refreshes of another flow's binding (which move to it).
    to_flow: usize,
    /// Bindings of the sender's flow that it removes.
    from_flow: usize,
}

impl Growth {
    /// Count one contact: whether it matches a stored binding, whether that binding is on the sender's flow,
    /// and whether it asks for a non-zero expiry.
    fn count(&mut self, exists: bool, own: bool, live: bool) {
        match (exists, live) {
            (false, true) => {
                self.new += 1;
                self.to_flow += 1;
            }
            (false, false) => {}
            (true, false) => {
                self.gone += 1;
                self.from_flow += usize::from(own);
            }
            (true, true) => self.to_flow += usize::from(!own),
        }
    }
}

mod flows;
mod state;

pub use state::{REGISTRAR_STATE_VERSION, StateError, TooLong};
#[cfg(test)]
mod state_tests;
#[cfg(test)]
mod tests;
