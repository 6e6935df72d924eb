//! The UA as a server: its answers to the requests the server relays to it, and the 2xx to an INVITE
//! sent again until its ACK.

use std::time::Instant;

use super::{Answered, T1, T2, Ua};
use crate::sip::build;
use crate::sip::message::{Message, param};

impl Ua {
    pub(super) fn on_request(&mut self, msg: &Message<'_>, method: &str, now: Instant) {
        let reply = match method {
            "ACK" => {
                self.acked(msg);
                None
            }
            "MESSAGE" | "OPTIONS" | "BYE" | "CANCEL" => {
                Some(build::response(msg, 200, "OK", "", ""))
            }
            "INVITE" if msg.body.is_empty() => Some(build::response(
                msg,
                488,
                "Not Acceptable Here",
                "Warning: 399 sipload \"an offer is expected in the INVITE\"\r\n",
                "",
            )),
            "INVITE" => {
                if let Some(a) = msg.top_branch().and_then(|b| self.answered.get(b)) {
                    // A retransmission (its answer was lost on the way): the same answer, no new call.
                    let again = a.response.clone();
                    self.send(again);
                    return;
                }
                let contact = format!("Contact: {}\r\n", self.id.contact());
                let tag_given = msg.header("to").and_then(|t| param(t, "tag")).is_some();
                if !tag_given {
                    let ringing = build::response(msg, 180, "Ringing", &contact, "");
                    self.send(ringing);
                }
                let sdp: &str = if tag_given {
                    &build::HOLD_ANSWER
                } else {
                    build::ANSWER
                };
                let ok = build::response(msg, 200, "OK", &contact, sdp);
                self.answer_invite(msg, &ok, now);
                Some(ok)
            }
            _ => Some(build::response(
                msg,
                405,
                "Method Not Allowed",
                "Allow: INVITE,ACK,CANCEL,BYE,MESSAGE,OPTIONS\r\n",
                "",
            )),
        };
        if let Some(r) = reply {
            self.send(r);
        }
    }

    /// Keeps the 2xx to INVITE `msg` to send again until its ACK (T1, doubling up to T2, for 64 x T1).
    fn answer_invite(&mut self, msg: &Message<'_>, ok: &str, now: Instant) {
        let (Some(branch), Ok((cseq, _))) = (msg.top_branch(), msg.cseq()) else {
            return;
        };
        self.answered.insert(
            branch.to_owned(),
            Answered {
                call_id: msg.call_id().to_owned(),
                cseq,
                response: ok.to_owned(),
                next_at: now + T1,
                interval: T1,
                give_up_at: now + 64 * T1,
            },
        );
    }

    /// An ACK: the 2xx of its INVITE (the same Call-ID and CSeq number) arrived.
    fn acked(&mut self, msg: &Message<'_>) {
        let Ok((cseq, _)) = msg.cseq() else { return };
        let call_id = msg.call_id();
        self.answered
            .retain(|_, a| !(a.cseq == cseq && a.call_id == call_id));
    }

    /// Sends again the 2xx answers due at `now`; forgets those whose ACK never came.
    pub(super) fn retransmit_answers(&mut self, now: Instant) {
        self.answered.retain(|_, a| a.give_up_at > now);
        let mut again = Vec::new();
        for a in self.answered.values_mut().filter(|a| a.next_at <= now) {
            again.push(a.response.clone());
            a.interval = (a.interval * 2).min(T2);
            a.next_at = now + a.interval;
        }
        for r in again {
            self.send(r);
        }
    }

    /// The next 2xx retransmission or give-up.
    pub(super) fn next_answer_timer(&self) -> Option<Instant> {
        self.answered
            .values()
            .map(|a| a.next_at.min(a.give_up_at))
            .min()
    }
}
