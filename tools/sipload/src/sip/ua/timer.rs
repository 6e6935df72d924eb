//! What runs on the UA's timers: transaction timeouts, registration refreshes, keepalives, and
//! the hold and BYE of its calls.

use std::time::Instant;

use super::{TxKind, Ua};
use crate::error::LoadError;
use crate::sip::build;

impl Ua {
    /// Starts the keepalives: the first one after one interval (jittered).
    pub fn start_keepalives(&mut self, now: Instant) {
        if let Some(every) = self.set.keepalive {
            self.keepalive_at = Some(now + every.mul_f64(0.5 + self.rng.f64() * 0.5));
        }
    }

    /// The next instant [`Self::on_timer`] has work.
    pub fn next_timer(&self) -> Option<Instant> {
        let quiet = |t: Option<Instant>| if self.quiet { None } else { t };
        self.pending
            .values()
            .map(|p| p.deadline)
            .chain(quiet(self.refresh_at))
            .chain(quiet(self.keepalive_at))
            .chain(self.keepalives.first().map(|t| *t + self.set.tx_timeout))
            .chain(self.next_answer_timer())
            .chain(
                self.dialogs
                    .values()
                    .filter(|d| !d.bye_sent)
                    .map(|d| d.hold_at.unwrap_or(d.bye_at)),
            )
            .min()
    }

    /// Runs what is due at `now`: timeouts, refreshes, keepalives, hold and BYE.
    pub fn on_timer(&mut self, now: Instant) {
        let expired: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(b, _)| b.clone())
            .collect();
        for b in expired {
            if let Some(p) = self.pending.remove(&b) {
                if p.kind == TxKind::Invite {
                    self.invites = self.invites.saturating_sub(1);
                }
                if p.kind == TxKind::Bye {
                    self.dialogs.remove(&p.call_id);
                }
                let e = LoadError::Timeout(match p.kind {
                    TxKind::Register => "waiting for the REGISTER's final response",
                    TxKind::Message => "waiting for the MESSAGE's final response",
                    TxKind::Invite => "waiting for the INVITE's 200",
                    TxKind::Hold => "waiting for the re-INVITE's 200",
                    TxKind::Bye => "waiting for the BYE's 200",
                    TxKind::Keepalive => "waiting for the keepalive's CRLF",
                });
                self.done(p.kind, p.started, now, Err(e));
            }
        }
        self.retransmit_answers(now);
        while let Some(&sent) = self.keepalives.first() {
            if sent + self.set.tx_timeout > now {
                break;
            }
            self.keepalives.remove(0);
            self.done(
                TxKind::Keepalive,
                sent,
                now,
                Err(LoadError::Timeout("waiting for the keepalive's CRLF")),
            );
        }
        if !self.quiet {
            if self.refresh_at.is_some_and(|t| t <= now) {
                self.register(now);
            }
            if let (Some(t), Some(every)) = (self.keepalive_at, self.set.keepalive)
                && t <= now
            {
                self.send(build::KEEPALIVE.to_owned());
                self.keepalives.push(now);
                self.keepalive_at = Some(now + every);
            }
        }
        let due: Vec<String> = self
            .dialogs
            .iter()
            .filter(|(_, d)| !d.bye_sent && d.hold_at.unwrap_or(d.bye_at) <= now)
            .map(|(c, _)| c.clone())
            .collect();
        for call_id in due {
            self.dialog_step(&call_id, now);
        }
    }
}
