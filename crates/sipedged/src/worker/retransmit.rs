//! Requests sent to a UDP core as RFC 3261 client transactions (§17.1), as a sans-io table: retransmitted with
//! Timer A (INVITE) or E (others) until the core answers, given up with Timer B or F (the browser then gets 408).
//!
//! Browsers send over a reliable transport and never retransmit, so without this every datagram the network or a
//! busy core drops is a lost transaction. The table holds each request's bytes only while no response has come
//! (an INVITE: until the first response; another request: until its final one), and at most [`MAX_PENDING`] of them
//! per worker: beyond, a request goes once, as before, and is counted.

mod state;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

/// Transactions tracked per worker at most.
pub const MAX_PENDING: usize = 16_384;

pub use state::TRANSACTIONS_STATE_VERSION;

/// RFC 3261 §17.1.2.2: the longest interval between retransmissions of a non-INVITE request.
const T2: Duration = Duration::from_secs(4);
/// RFC 3261 §17.1.2.2, Timer K (T4): how long a completed non-INVITE transaction absorbs its final response sent
/// again (the core answers each retransmission of the request that crossed its first answer).
const T4: Duration = Duration::from_secs(5);

/// What is due at a given time.
#[derive(Debug, PartialEq, Eq)]
pub enum Due {
    /// Send these bytes again to this target.
    Retransmit(Vec<u8>, SocketAddr),
    /// The target never answered (Timer B or F): answer the browser 408 for this request.
    GiveUp(Vec<u8>, SocketAddr),
}

/// What [`Transactions::sent`] did with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tracked {
    /// It will be retransmitted until answered.
    Yes,
    /// The table is full: it went once, untracked.
    Full,
    /// It needs no transaction (an ACK), or has no branch to match its responses by.
    No,
}

#[derive(Debug)]
struct Pending {
    request: Vec<u8>,
    /// The target it went to.
    target: SocketAddr,
    invite: bool,
    /// The current retransmission interval.
    interval: Duration,
    /// When Timer B / F fires.
    give_up_at: Duration,
    /// Whether a provisional response came (a non-INVITE request then retransmits at T2).
    proceeding: bool,
    /// Its key in the schedule.
    next: (Duration, u64),
}

/// The requests waiting for the core's answer, by the branch of the edge's own Via.
#[derive(Debug)]
pub struct Transactions {
    t1: Duration,
    /// Over a reliable transport (TCP, TLS) nothing is sent again (§17.1.1.2, §17.1.2.2): a request waits only
    /// for Timer B / F, and for its connection, whose loss hands it back.
    reliable: bool,
    pending: HashMap<Box<[u8]>, Pending>,
    /// (when, sequence) → branch: what is due next.
    schedule: BTreeMap<(Duration, u64), Box<[u8]>>,
    seq: u64,
    /// Non-INVITE transactions answered with a final response, until Timer K: branch → when it ends.
    completed: HashMap<Box<[u8]>, Duration>,
    /// The same, in the order they end.
    completed_order: VecDeque<(Duration, Box<[u8]>)>,
}

/// What to do with a response from the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Pass it on toward the browser.
    Forward,
    /// A final response sent again to a transaction already completed: the browser had it; drop it.
    Absorb,
}

impl Transactions {
    /// A table with RFC 3261's T1 (500 ms; lower only on a network known to be faster) for a UDP core.
    pub fn new(t1: Duration) -> Self {
        Self::with(t1, false)
    }

    /// A table for a core over TCP or TLS: no retransmission, only Timer B / F.
    pub fn reliable(t1: Duration) -> Self {
        Self::with(t1, true)
    }

    fn with(t1: Duration, reliable: bool) -> Self {
        Self {
            t1,
            reliable,
            pending: HashMap::new(),
            schedule: BTreeMap::new(),
            seq: 0,
            completed: HashMap::new(),
            completed_order: VecDeque::new(),
        }
    }

    /// Forgets every transaction (they went to another process, which retransmits and gives up now).
    pub fn clear(&mut self) {
        self.pending.clear();
        self.schedule.clear();
        self.completed.clear();
        self.completed_order.clear();
    }

    /// How many requests wait for an answer.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// `request` (method `method`, the edge's branch `branch`) was just sent to `target` at `now` (time since
    /// any fixed origin).
    pub fn sent(
        &mut self,
        branch: &[u8],
        method: &[u8],
        request: &[u8],
        target: SocketAddr,
        now: Duration,
    ) -> Tracked {
        if method == b"ACK" || branch.is_empty() {
            return Tracked::No;
        }
        if self.pending.contains_key(branch) {
            return Tracked::Yes;
        }
        if self.pending.len() >= MAX_PENDING {
            return Tracked::Full;
        }
        let first = if self.reliable { 64 * self.t1 } else { self.t1 };
        let next = (now + first, self.next_seq());
        self.schedule.insert(next, branch.into());
        self.pending.insert(
            branch.into(),
            Pending {
                request: request.to_vec(),
                target,
                invite: method == b"INVITE",
                interval: self.t1,
                give_up_at: now + 64 * self.t1,
                proceeding: false,
                next,
            },
        );
        Tracked::Yes
    }

    /// The core answered the request with branch `branch` with `status`: retransmission stops when it must, and
    /// a final response to a non-INVITE request that already had one is absorbed (§17.1.2.2, state Completed).
    pub fn answered(&mut self, branch: &[u8], status: u16, now: Duration) -> Answer {
        self.forget_completed(now);
        let Some(p) = self.pending.get_mut(branch) else {
            return if status >= 200 && self.completed.contains_key(branch) {
                Answer::Absorb
            } else {
                Answer::Forward
            };
        };
        // An INVITE stops at any response (§17.1.1.2); another request at a final one, and after a provisional
        // one goes on every T2 (§17.1.2.2).
        if p.invite || status >= 200 {
            let invite = p.invite;
            self.schedule.remove(&p.next);
            self.pending.remove(branch);
            if !invite && status >= 200 && self.completed.len() < MAX_PENDING {
                let until = now + T4;
                self.completed.insert(branch.into(), until);
                self.completed_order.push_back((until, branch.into()));
            }
            return Answer::Forward;
        }
        if self.reliable {
            p.proceeding = true;
        } else if !p.proceeding {
            p.proceeding = true;
            self.schedule.remove(&p.next);
            self.seq += 1;
            p.interval = T2;
            p.next = (now + T2, self.seq);
            self.schedule.insert(p.next, branch.into());
        }
        Answer::Forward
    }

    /// Drop the completed transactions whose Timer K has fired.
    fn forget_completed(&mut self, now: Duration) {
        while let Some((until, _)) = self.completed_order.front() {
            if *until > now {
                break;
            }
            if let Some((_, branch)) = self.completed_order.pop_front() {
                self.completed.remove(&branch);
            }
        }
    }

    /// What is due by `now`, in order.
    pub fn poll(&mut self, now: Duration, out: &mut Vec<Due>) {
        while let Some(entry) = self.schedule.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let branch = entry.remove();
            let Some(p) = self.pending.get_mut(&branch) else {
                continue;
            };
            if now >= p.give_up_at {
                if let Some(p) = self.pending.remove(&branch) {
                    out.push(Due::GiveUp(p.request, p.target));
                }
                continue;
            }
            out.push(Due::Retransmit(p.request.clone(), p.target));
            if !p.proceeding {
                // Timer A doubles without bound until B fires; Timer E doubles up to T2 (§17.1.1.2, §17.1.2.2).
                p.interval = if p.invite {
                    p.interval * 2
                } else {
                    (p.interval * 2).min(T2)
                };
            }
            self.seq += 1;
            let at = (now + p.interval).min(p.give_up_at);
            p.next = (at, self.seq);
            self.schedule.insert(p.next, branch);
        }
    }

    /// The requests sent to `target` that it has not answered at all (RFC 3261 §16.7 lets them go to another
    /// target: no response came, and an ACK is never tracked), taken out of the table to be sent anew.
    pub fn take_unanswered(&mut self, target: SocketAddr) -> Vec<Vec<u8>> {
        let branches: Vec<Box<[u8]>> = self
            .pending
            .iter()
            .filter(|(_, p)| p.target == target && !p.proceeding)
            .map(|(b, _)| b.clone())
            .collect();
        let mut taken = Vec::with_capacity(branches.len());
        for b in branches {
            if let Some(p) = self.pending.remove(&b) {
                self.schedule.remove(&p.next);
                taken.push(p.request);
            }
        }
        taken
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T1: Duration = Duration::from_millis(500);

    fn core(n: u8) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, n], 5060))
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Poll every 100 ms from `from` to `to`; the times (ms) of the retransmissions and give-ups.
    fn run(t: &mut Transactions, from: u64, to: u64) -> (Vec<u64>, Vec<u64>) {
        let (mut re, mut gave) = (Vec::new(), Vec::new());
        let mut out = Vec::new();
        for now in (from..=to).step_by(100) {
            t.poll(ms(now), &mut out);
            for d in out.drain(..) {
                match d {
                    Due::Retransmit(..) => re.push(now),
                    Due::GiveUp(..) => gave.push(now),
                }
            }
        }
        (re, gave)
    }

    #[test]
    fn a_lost_message_is_sent_again_on_timer_e_and_given_up_on_timer_f() {
        let mut t = Transactions::new(T1);
        assert_eq!(
            t.sent(b"z9hG4bK1", b"MESSAGE", b"MESSAGE ...", core(1), ms(0)),
            Tracked::Yes
        );
        let (re, gave) = run(&mut t, 0, 40_000);
        // 0.5, 1.5, 3.5, 7.5, then every 4 s (T2) until F at 32 s.
        assert_eq!(&re[..5], [500, 1500, 3500, 7500, 11_500]);
        assert!(re.windows(2).skip(3).all(|w| w[1] - w[0] == 4000), "{re:?}");
        assert_eq!(gave, [32_000]);
        assert_eq!(t.len(), 0, "nothing is kept after giving up");
    }

    #[test]
    fn an_invite_doubles_on_timer_a_and_stops_at_its_first_response() {
        let mut t = Transactions::new(T1);
        t.sent(b"z9hG4bK2", b"INVITE", b"INVITE ...", core(1), ms(0));
        let (re, _) = run(&mut t, 0, 8_000);
        assert_eq!(re, [500, 1500, 3500, 7500]);
        t.answered(b"z9hG4bK2", 100, ms(8_000));
        let (re, gave) = run(&mut t, 8_000, 70_000);
        assert!(re.is_empty() && gave.is_empty(), "{re:?} {gave:?}");
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn a_provisional_answer_slows_a_request_to_t2_and_a_final_one_ends_it() {
        let mut t = Transactions::new(T1);
        t.sent(b"b", b"REGISTER", b"REGISTER ...", core(1), ms(0));
        t.answered(b"b", 100, ms(200));
        let (re, _) = run(&mut t, 300, 12_300);
        assert_eq!(re, [4_200, 8_200, 12_200]);
        t.answered(b"b", 200, ms(12_300));
        assert_eq!(run(&mut t, 12_300, 40_000), (vec![], vec![]));
    }

    #[test]
    fn acks_and_branchless_requests_are_not_tracked_and_the_table_is_bounded() {
        let mut t = Transactions::new(T1);
        assert_eq!(
            t.sent(b"x", b"ACK", b"ACK ...", core(1), ms(0)),
            Tracked::No
        );
        assert_eq!(t.sent(b"", b"BYE", b"BYE ...", core(1), ms(0)), Tracked::No);
        for i in 0..MAX_PENDING {
            assert_eq!(
                t.sent(format!("b{i}").as_bytes(), b"MESSAGE", b"M", core(1), ms(0)),
                Tracked::Yes
            );
        }
        assert_eq!(
            t.sent(b"one more", b"MESSAGE", b"M", core(1), ms(0)),
            Tracked::Full
        );
        assert_eq!(t.len(), MAX_PENDING);
        // An answer for a branch the table never saw, and a second answer, change nothing.
        t.answered(b"unknown", 200, ms(1));
        t.answered(b"b0", 200, ms(1));
        t.answered(b"b0", 200, ms(2));
        assert_eq!(t.len(), MAX_PENDING - 1);
    }

    #[test]
    fn unanswered_requests_to_a_failed_target_are_handed_back_and_others_stay() {
        let mut t = Transactions::new(T1);
        t.sent(b"a", b"MESSAGE", b"A", core(1), ms(0));
        t.sent(b"b", b"REGISTER", b"B", core(1), ms(0));
        t.sent(b"c", b"MESSAGE", b"C", core(2), ms(0));
        t.sent(b"d", b"INVITE", b"D", core(1), ms(0));
        t.answered(b"b", 100, ms(10));
        let mut taken = t.take_unanswered(core(1));
        taken.sort();
        assert_eq!(
            taken,
            [b"A".to_vec(), b"D".to_vec()],
            "B had a provisional answer"
        );
        assert_eq!(t.len(), 2);
        let (re, _) = run(&mut t, 0, 1_000);
        assert_eq!(
            re.len(),
            1,
            "only C is retransmitted (B waits for T2): {re:?}"
        );
        assert!(t.take_unanswered(core(1)).is_empty());
    }

    #[test]
    fn a_final_response_sent_again_is_absorbed_until_timer_k() {
        let mut t = Transactions::new(T1);
        t.sent(b"m", b"MESSAGE", b"M", core(1), ms(0));
        assert_eq!(t.answered(b"m", 100, ms(10)), Answer::Forward);
        assert_eq!(t.answered(b"m", 200, ms(600)), Answer::Forward);
        assert_eq!(
            t.answered(b"m", 200, ms(700)),
            Answer::Absorb,
            "the core answered our retransmission too"
        );
        assert_eq!(
            t.answered(b"m", 200, ms(5_700)),
            Answer::Forward,
            "Timer K has fired"
        );
        t.sent(b"i", b"INVITE", b"I", core(1), ms(0));
        assert_eq!(t.answered(b"i", 200, ms(10)), Answer::Forward);
        assert_eq!(
            t.answered(b"i", 200, ms(20)),
            Answer::Forward,
            "a 2xx to an INVITE sent again goes on to the browser, which answers it with ACK"
        );
        assert_eq!(t.answered(b"never-sent", 200, ms(30)), Answer::Forward);
    }

    #[test]
    fn over_a_reliable_transport_nothing_is_sent_again_and_timer_f_still_ends_it() {
        let mut t = Transactions::reliable(T1);
        t.sent(b"m", b"MESSAGE", b"M", core(1), ms(0));
        t.sent(b"r", b"REGISTER", b"R", core(1), ms(0));
        t.answered(b"r", 100, ms(10));
        let (re, gave) = run(&mut t, 0, 40_000);
        assert!(re.is_empty(), "{re:?}");
        assert_eq!(gave, [32_000, 32_000]);
        t.sent(b"x", b"MESSAGE", b"X", core(2), ms(0));
        assert_eq!(
            t.take_unanswered(core(2)),
            [b"X".to_vec()],
            "a closed connection hands it back"
        );
    }
}
