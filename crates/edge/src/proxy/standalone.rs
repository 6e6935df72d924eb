//! Standalone mode: the embedded registrar and routing between registered browsers.

use std::hash::{Hash, Hasher};

use sipscan::{Contact, Message, Method, Span, unquote};

use super::{ClientFlow, Edge, NextHop, Target};
use crate::action::{Action, DropReason};
use crate::registrar::{
    ContactUpdate, FULL_RETRY_AFTER, Register, RegisterAction, RegisterError, normalize_aor,
};
use crate::routes::OwnRoutes;
use crate::time::Timestamp;

/// What the edge allows, in its answers to OPTIONS.
const ALLOW: &str = "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE, SUBSCRIBE, NOTIFY, INFO, REFER, UPDATE, PRACK, REGISTER";

impl Edge {
    /// The worker whose registrar shard holds `aor` (stable across workers and restarts).
    pub fn shard_of(&self, aor: &str) -> u16 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        aor.hash(&mut h);
        (h.finish() % u64::from(self.cfg.workers.max(1))) as u16
    }

    /// The AoR of `user@host` when this edge serves `host`.
    fn served_aor(&self, user: &[u8], host: &[u8]) -> Option<String> {
        self.serves_domain(host).then(|| {
            normalize_aor(
                &String::from_utf8_lossy(user),
                &String::from_utf8_lossy(host),
            )
        })
    }

    fn serves_domain(&self, host: &[u8]) -> bool {
        self.cfg.domains.is_empty()
            || self
                .cfg
                .domains
                .iter()
                .any(|d| d.as_bytes().eq_ignore_ascii_case(host))
    }

    /// Hand the message to the shard owner when that is another worker; `true` when handed over.
    fn to_shard(
        &self,
        src: &ClientFlow<'_>,
        msg: &Message<'_>,
        aor: &str,
        out: &mut Vec<Action>,
    ) -> bool {
        let shard = self.shard_of(aor);
        if shard == self.cfg.worker {
            return false;
        }
        out.push(Action::ToShard {
            worker: shard,
            from: src.id,
            peer: src.peer,
            bytes: msg.as_bytes().to_vec(),
        });
        true
    }

    pub(super) fn standalone_request(
        &mut self,
        src: &ClientFlow<'_>,
        msg: &Message<'_>,
        method: Method<'_>,
        own: OwnRoutes<'_>,
        now: Timestamp,
        out: &mut Vec<Action>,
    ) {
        let back = Target::Flow(src.id);
        if method == Method::Register {
            self.register(src, msg, now, out);
            return;
        }
        let Some(Ok(ruri)) = msg.request_uri_view() else {
            self.reply(msg, 416, "Unsupported URI Scheme", &[], back, out);
            return;
        };
        let Some(sip) = ruri.sip() else {
            self.reply(msg, 416, "Unsupported URI Scheme", &[], back, out);
            return;
        };
        let Some(user) = sip.user else {
            // Addressed to the edge itself.
            if method == Method::Options {
                self.reply(
                    msg,
                    200,
                    "OK",
                    &[ALLOW, "Accept: application/sdp, text/plain"],
                    back,
                    out,
                );
            } else {
                self.reply(msg, 404, "Not Found", &[], back, out);
            }
            return;
        };
        let Some(aor) = self.served_aor(user, sip.host.as_bytes()) else {
            self.reply(msg, 404, "Domain Not Served", &[], back, out);
            return;
        };
        if self.to_shard(src, msg, &aor, out) {
            return;
        }
        let Some(binding) = self.registrar.lookup(&aor, now).into_iter().next() else {
            self.reply(msg, 404, "Not Found", &[], back, out);
            return;
        };
        let (flow, uri) = (binding.flow, binding.uri().to_owned());
        let span = request_uri_span(msg);
        let next = NextHop::Flow {
            target: flow,
            request_uri: span.map(|s| (s, uri)),
        };
        self.forward(src, msg, &method, own, next, out);
    }

    fn register(
        &mut self,
        src: &ClientFlow<'_>,
        msg: &Message<'_>,
        now: Timestamp,
        out: &mut Vec<Action>,
    ) {
        let back = || Target::Flow(src.id);
        // RFC 3261 §10.3 step 5: the AoR is the To URI.
        let Some(Ok(to)) = msg.to() else {
            self.reply(msg, 400, "Bad To", &[], back(), out);
            return;
        };
        let Some(sip) = to.uri.sip() else {
            self.reply(msg, 416, "Unsupported URI Scheme", &[], back(), out);
            return;
        };
        let Some(user) = sip.user else {
            self.reply(msg, 400, "To Has No User", &[], back(), out);
            return;
        };
        let Some(aor) = self.served_aor(user, sip.host.as_bytes()) else {
            self.reply(msg, 403, "Domain Not Served", &[], back(), out);
            return;
        };
        if self.to_shard(src, msg, &aor, out) {
            return;
        }
        let req = match register_request(msg, &aor, src) {
            Ok(r) => r,
            Err(reason) => {
                self.reply(msg, 400, reason, &[], back(), out);
                return;
            }
        };
        let outbound = req.flow.outbound;
        match self.registrar.register(&req, now) {
            Ok(bindings) => {
                let mut extra: Vec<String> = bindings
                    .iter()
                    .map(|b| {
                        let mut c = format!("Contact: <{}>;expires={}", b.uri(), b.expires_in(now));
                        if let Some(i) = b.instance() {
                            c.push_str(&format!(";+sip.instance=\"<{i}>\""));
                        }
                        if let Some(r) = b.reg_id {
                            c.push_str(&format!(";reg-id={r}"));
                        }
                        c
                    })
                    .collect();
                if outbound && !bindings.is_empty() {
                    // RFC 5626 §6: the registrar says it applied outbound processing.
                    extra.push("Require: outbound".into());
                }
                extra.push("Supported: path, outbound".into());
                let lines: Vec<&str> = extra.iter().map(String::as_str).collect();
                self.reply(msg, 200, "OK", &lines, back(), out);
            }
            Err(e) => self.refuse_register(msg, &e, back(), out),
        }
    }

    /// Answer a REGISTER the registrar refused; a refusal by a cap is counted (a drop reason of its own).
    fn refuse_register(
        &self,
        msg: &Message<'_>,
        e: &RegisterError,
        back: Target,
        out: &mut Vec<Action>,
    ) {
        let extra = match e {
            RegisterError::IntervalTooBrief { min_expires } => {
                format!("Min-Expires: {min_expires}")
            }
            RegisterError::Full { .. } => format!("Retry-After: {FULL_RETRY_AFTER}"),
            _ => String::new(),
        };
        let lines: &[&str] = if extra.is_empty() { &[] } else { &[&extra] };
        self.reply(msg, e.status(), e.reason(), lines, back, out);
        match e {
            RegisterError::FlowBindingCap { .. } => {
                out.push(Action::Drop(DropReason::ConnectionBindingCap));
            }
            RegisterError::Full { .. } => out.push(Action::Drop(DropReason::RegistrarFull)),
            _ => {}
        }
    }
}

/// The span of the Request-URI in the message bytes.
fn request_uri_span(msg: &Message<'_>) -> Option<Span> {
    let buf = msg.as_bytes();
    let uri = msg.request_uri()?;
    let start = (uri.as_ptr() as usize).checked_sub(buf.as_ptr() as usize)?;
    let end = start.checked_add(uri.len())?;
    (end <= buf.len()).then_some(Span {
        start: start as u32,
        end: end as u32,
    })
}

/// The registrar's view of a REGISTER; the error is a 400 reason phrase.
fn register_request(
    msg: &Message<'_>,
    aor: &str,
    src: &ClientFlow<'_>,
) -> Result<Register, &'static str> {
    let mut contacts = Vec::new();
    let mut star = false;
    let mut outbound = false;
    for c in msg.contacts() {
        match c {
            Ok(Contact::Star) => star = true,
            Ok(Contact::Addr(a)) => {
                let expires = match a.params.get("expires") {
                    None => None,
                    Some(v) => Some(
                        v.and_then(|v| std::str::from_utf8(v).ok()?.parse::<u64>().ok())
                            .map(|v| v.min(u64::from(u32::MAX)) as u32)
                            .ok_or("Bad Contact Expires")?,
                    ),
                };
                let instance = a.params.get("+sip.instance").flatten().map(|v| {
                    let v = unquote(v);
                    let v = v
                        .strip_prefix(b"<")
                        .and_then(|v| v.strip_suffix(b">"))
                        .unwrap_or(v);
                    String::from_utf8_lossy(v).into_owned()
                });
                let reg_id = match a.params.get("reg-id") {
                    None => None,
                    Some(v) => Some(
                        v.and_then(|v| std::str::from_utf8(v).ok()?.parse::<u32>().ok())
                            .ok_or("Bad reg-id")?,
                    ),
                };
                outbound |= reg_id.is_some() && instance.is_some();
                contacts.push(ContactUpdate {
                    uri: String::from_utf8_lossy(a.uri_bytes).into_owned(),
                    expires,
                    instance,
                    reg_id,
                });
            }
            Err(_) => return Err("Bad Contact"),
        }
    }
    let action = match (star, contacts.is_empty()) {
        (true, true) => RegisterAction::RemoveAll,
        (true, false) => return Err("Invalid Wildcard"),
        (false, true) => RegisterAction::Fetch,
        (false, false) => RegisterAction::Update(contacts),
    };
    let expires_header = match msg.expires() {
        None => None,
        Some(Ok(e)) => Some(e),
        Some(Err(_)) => return Err("Bad Expires"),
    };
    let cseq = match msg.cseq() {
        Some(Ok(c)) => c.seq,
        _ => return Err("Bad CSeq"),
    };
    let call_id = String::from_utf8_lossy(msg.call_id().unwrap_or_default()).into_owned();
    let mut flow = src.id;
    flow.outbound = outbound;
    Ok(Register {
        aor: aor.to_owned(),
        action,
        expires_header,
        call_id,
        cseq,
        flow,
    })
}
