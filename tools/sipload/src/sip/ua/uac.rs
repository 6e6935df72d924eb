//! The UA as a client: the REGISTER, MESSAGE and INVITE it sends, the in-dialog requests of its
//! calls (ACK, hold re-INVITE, BYE), and the final responses that end those transactions.

use std::time::{Duration, Instant};

use super::{Dialog, Pending, TxKind, Ua};
use crate::error::LoadError;
use crate::sip::build::{self, Identity};
use crate::sip::message::{Message, param, split_list, uri_of};

impl Ua {
    /// Sends a REGISTER (initial or refresh) asking `expires` seconds.
    pub fn register(&mut self, now: Instant) {
        let cseq = self.next_cseq();
        let branch = build::branch(&mut self.rng);
        let msg = build::register(
            &self.id,
            &branch,
            &self.reg_call_id,
            &self.reg_tag,
            cseq,
            self.set.expires,
        );
        self.send(msg);
        let call_id = self.reg_call_id.clone();
        self.start(TxKind::Register, branch, call_id, now);
        self.refresh_at = None;
    }

    /// Sends a MESSAGE to the partner.
    pub fn message(&mut self, now: Instant) {
        let cseq = self.next_cseq();
        let branch = build::branch(&mut self.rng);
        let call_id = build::token(&mut self.rng, 20);
        let tag = build::token(&mut self.rng, 10);
        let msg = build::message(
            &self.id,
            &branch,
            &call_id,
            &tag,
            cseq,
            self.set.message_size,
        );
        self.send(msg);
        self.start(TxKind::Message, branch, call_id, now);
    }

    /// Places a call to the partner.
    pub fn call(&mut self, now: Instant) {
        let cseq = self.next_cseq();
        let branch = build::branch(&mut self.rng);
        let call_id = build::token(&mut self.rng, 20);
        let tag = build::token(&mut self.rng, 10);
        let (msg, ruri) = build::invite(&self.id, &branch, &call_id, &tag, cseq);
        self.send(msg);
        self.start(TxKind::Invite, branch.clone(), call_id, now);
        if let Some(p) = self.pending.get_mut(&branch) {
            p.invite = Some((ruri, cseq));
        }
        self.invites += 1;
    }

    /// Sends the hold re-INVITE or the BYE of a call.
    pub(super) fn dialog_step(&mut self, call_id: &str, now: Instant) {
        let Some(d) = self.dialogs.get_mut(call_id) else {
            return;
        };
        let hold = d.hold_at.take().is_some();
        if !hold {
            d.bye_sent = true;
        }
        d.cseq += 1;
        let method = if hold { "INVITE" } else { "BYE" };
        let (req, branch) = d.request(&self.id, &mut self.rng, call_id, method, hold);
        self.send(req);
        let kind = if hold { TxKind::Hold } else { TxKind::Bye };
        self.start(kind, branch, call_id.to_owned(), now);
    }

    /// A response: a final one ends the transaction of its top Via branch and is reported.
    pub(super) fn on_response(&mut self, msg: &Message<'_>, code: u16, now: Instant) {
        let Some(branch) = msg.top_branch() else {
            return;
        };
        if code < 200 {
            return;
        }
        // A late answer (after its timeout) or a stray one finds nothing and is dropped; a 2xx sent again
        // to an INVITE of a call still up is ACKed again (RFC 3261 §13.2.2.4: the first ACK was lost).
        let Some(p) = self.pending.remove(branch) else {
            if (200..300).contains(&code) {
                self.ack_again(msg);
            }
            return;
        };
        let ok = (200..300).contains(&code);
        let result = if ok {
            Ok(())
        } else {
            Err(LoadError::SipStatus(code))
        };
        match p.kind {
            TxKind::Register if ok => {
                let granted = self.granted_expires(msg);
                let secs = f64::from(granted.max(2)) * (0.5 + 0.25 * self.rng.f64());
                self.refresh_at = Some(now + Duration::from_secs_f64(secs));
            }
            TxKind::Invite => {
                self.invites = self.invites.saturating_sub(1);
                if ok {
                    self.confirm_call(msg, &p, now);
                } else if let Some((ruri, cseq)) = &p.invite {
                    // RFC 3261 §17.1.1.3: the ACK of a non-2xx has the INVITE's branch.
                    let ack = build::ack_non_2xx(&self.id, ruri, branch, msg, *cseq);
                    self.send(ack);
                }
            }
            TxKind::Hold if ok => {
                if let Some(d) = self.dialogs.get(&p.call_id) {
                    let ack = Self::ack_for(&self.id, &mut self.rng, d, &p.call_id);
                    self.send(ack);
                }
            }
            TxKind::Bye => {
                self.dialogs.remove(&p.call_id);
            }
            _ => {}
        }
        self.done(p.kind, p.started, now, result);
    }

    /// The expiry the registrar granted our binding: our Contact's `expires`, else `Expires`.
    fn granted_expires(&self, msg: &Message<'_>) -> u32 {
        let ours = msg
            .headers("contact")
            .flat_map(split_list)
            .find(|c| uri_of(c).contains(&self.id.contact_user));
        ours.and_then(|c| param(c, "expires"))
            .or_else(|| msg.header("expires"))
            .and_then(|v| v.parse().ok())
            .unwrap_or(self.set.expires)
    }

    /// ACKs again the 2xx `msg` to the latest INVITE of a call that is still up.
    fn ack_again(&mut self, msg: &Message<'_>) {
        let Ok((cseq, "INVITE")) = msg.cseq() else {
            return;
        };
        let call_id = msg.call_id();
        if let Some(d) = self.dialogs.get(call_id).filter(|d| d.cseq == cseq) {
            let ack = Self::ack_for(&self.id, &mut self.rng, d, call_id);
            self.send(ack);
        }
    }

    /// The ACK of a 2xx to an INVITE of call `d`: its own transaction, a fresh branch.
    fn ack_for(id: &Identity, rng: &mut fastrand::Rng, d: &Dialog, call_id: &str) -> String {
        d.request(id, rng, call_id, "ACK", false).0
    }

    /// The INVITE's 200: the dialog (RFC 3261 §12.1.2: route set = Record-Route reversed, remote
    /// target = Contact), its ACK, and the hold and BYE timers.
    fn confirm_call(&mut self, msg: &Message<'_>, p: &Pending, now: Instant) {
        let Some((_, cseq)) = &p.invite else { return };
        let mut route: Vec<String> = msg.record_route().into_iter().map(str::to_owned).collect();
        route.reverse();
        let from_tag = msg
            .header("from")
            .and_then(|f| param(f, "tag"))
            .unwrap_or_default()
            .to_owned();
        let d = Dialog {
            to: msg.header("to").unwrap_or_default().to_owned(),
            remote_target: msg
                .header("contact")
                .map(|c| uri_of(c).to_owned())
                .unwrap_or_else(|| self.id.partner_aor()),
            route,
            from_tag,
            cseq: *cseq,
            hold_at: self.set.hold.then(|| now + self.set.call_length / 2),
            bye_at: now + self.set.call_length,
            bye_sent: false,
        };
        let ack = Self::ack_for(&self.id, &mut self.rng, &d, &p.call_id);
        self.send(ack);
        self.dialogs.insert(p.call_id.clone(), d);
    }
}
