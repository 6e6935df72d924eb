//! The router's side of the client transactions toward the core
//! ([`Transactions`](crate::worker::retransmit::Transactions)): what is sent is tracked, the core's answers stop
//! retransmission (UDP) and end the wait, and the worker's tick retransmits or gives up (408 to the browser).

use std::net::SocketAddr;
use std::time::Duration;

use ringmux::Ctx;
use sipscan::Message;

use super::{Router, Way};
use crate::metrics::{Counter, RoutingFailure};
use crate::targets::health::Outcome;
use crate::worker::Msg;
pub use crate::worker::retransmit::Answer;
use crate::worker::retransmit::{Due, Tracked};

/// How often a worker looks for retransmissions due (T1 is 500 ms; the schedule keeps its own times).
pub const TICK: Duration = Duration::from_millis(50);
/// The worker timer's token.
pub const TICK_TOKEN: u64 = 1;

impl Router {
    /// The time on the client transactions' clock.
    fn tx_now(&self, ctx: &Ctx<'_, Msg>) -> Duration {
        Duration::from_millis(self.now(ctx).0)
    }

    /// `bytes` went to the core: a request becomes a client transaction (and the tick runs while any wait).
    pub(super) fn track_sent(&mut self, ctx: &mut Ctx<'_, Msg>, bytes: &[u8], target: SocketAddr) {
        let now = self.tx_now(ctx);
        // Responses and ACKs make no client transaction: no need to parse them.
        if bytes.starts_with(b"SIP/2.0 ") || bytes.starts_with(b"ACK ") {
            return;
        }
        let Some(tx) = self.transactions.as_mut() else {
            return;
        };
        let Ok(msg) = Message::parse(bytes) else {
            return;
        };
        let Some(method) = msg.method() else {
            return;
        };
        let branch = msg
            .top_via()
            .and_then(Result::ok)
            .and_then(|v| v.branch())
            .unwrap_or_default();
        match tx.sent(branch, method.as_bytes(), bytes, target, now) {
            Tracked::Full => self.metrics.add(Counter::CoreUntracked, 1),
            Tracked::Yes if !self.tick_armed => {
                ctx.arm_worker_timer(TICK, TICK_TOKEN);
                self.tick_armed = true;
            }
            Tracked::Yes | Tracked::No => {}
        }
    }

    /// A message from the core: a response answers one of our transactions; [`Answer::Absorb`] when it is a
    /// final response sent again, which the browser already had.
    pub(super) fn track_answer(&mut self, ctx: &Ctx<'_, Msg>, bytes: &[u8]) -> Answer {
        let now = self.tx_now(ctx);
        let Some(tx) = self.transactions.as_mut() else {
            return Answer::Forward;
        };
        let Ok(msg) = Message::parse(bytes) else {
            return Answer::Forward;
        };
        match (msg.status(), msg.top_via()) {
            (Some(status), Some(Ok(via))) => via
                .branch()
                .map_or(Answer::Forward, |branch| tx.answered(branch, status, now)),
            _ => Answer::Forward,
        }
    }

    /// The worker's tick: retransmit what is due, answer 408 for what the core never answered, and re-arm while
    /// anything still waits.
    pub fn tick(&mut self, ctx: &mut Ctx<'_, Msg>) {
        // This timer has fired; a request tracked below arms the next one.
        self.tick_armed = false;
        let now = self.tx_now(ctx);
        let mut due = Vec::new();
        if let Some(tx) = self.transactions.as_mut() {
            tx.poll(now, &mut due);
        }
        for d in due {
            match d {
                Due::Retransmit(bytes, target) => {
                    if let Some(udp) = self.udp
                        && ctx.send_to(udp, target, &bytes).is_ok()
                    {
                        self.capture_core_udp(target, &bytes, Way::Out);
                        self.metrics.add(Counter::CoreRetransmissions, 1);
                    }
                }
                Due::GiveUp(request, target) => {
                    self.feedback(target, Outcome::Timeout);
                    self.give_up(ctx, &request);
                }
            }
        }
        let waiting = self.transactions.as_ref().is_some_and(|t| t.len() > 0);
        if waiting && !self.tick_armed {
            ctx.arm_worker_timer(TICK, TICK_TOKEN);
            self.tick_armed = true;
        }
    }

    /// Timer B or F: the browser gets 408, made as the core would have answered (it carries the edge's Via,
    /// which routes it back to the browser's flow).
    fn give_up(&mut self, ctx: &mut Ctx<'_, Msg>, request: &[u8]) {
        self.metrics
            .routing_failed(RoutingFailure::CoreTransactionTimeout);
        let Ok(msg) = Message::parse(request) else {
            return;
        };
        let answer = edge::response::build(&msg, 408, "Request Timeout", &[]);
        self.edge.from_core(&answer, &mut self.actions);
        self.run_actions(ctx);
    }
}
