//! A target's health as its probes find it: down after `down_after` failures in a row (a probe unanswered within
//! its time-out, a transport error, or 503), up again after `up_after` good probes in a row (any other response).
//! A target starts up, so that a node serves from its first second; the first failed probe corrects that.

use std::time::Duration;

/// When a target changes state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// Consecutive failures that mark an up target down.
    pub down_after: u32,
    /// Consecutive good probes that mark a down target up.
    pub up_after: u32,
}

/// What one probe (or one failure a worker saw) came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A response with this status after this round trip.
    Answered {
        /// The status code.
        status: u16,
        /// Time from sending to the response.
        rtt: Duration,
    },
    /// No response within the probe's time-out.
    Timeout,
    /// The connection or the send failed (refused, reset, TLS handshake refused).
    TransportError,
}

impl Outcome {
    /// Whether this counts for the target: any response but 503 shows a core that routes requests.
    pub fn is_good(self) -> bool {
        matches!(self, Self::Answered { status, .. } if status != 503)
    }
}

/// One target's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Health {
    up: bool,
    /// Good outcomes in a row (while down) or failures in a row (while up).
    streak: u32,
}

impl Default for Health {
    fn default() -> Self {
        Self {
            up: true,
            streak: 0,
        }
    }
}

impl Health {
    /// Whether the target is up.
    pub fn is_up(self) -> bool {
        self.up
    }

    /// Take `outcome` into account; `Some(up)` when the state changed.
    pub fn record(&mut self, outcome: Outcome, t: Thresholds) -> Option<bool> {
        let against = outcome.is_good() != self.up;
        if !against {
            self.streak = 0;
            return None;
        }
        self.streak += 1;
        let needed = if self.up { t.down_after } else { t.up_after };
        if self.streak < needed.max(1) {
            return None;
        }
        self.up = !self.up;
        self.streak = 0;
        Some(self.up)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Health, Outcome, Thresholds};

    const T: Thresholds = Thresholds {
        down_after: 2,
        up_after: 3,
    };
    const OK: Outcome = Outcome::Answered {
        status: 200,
        rtt: Duration::from_millis(1),
    };
    const BUSY: Outcome = Outcome::Answered {
        status: 503,
        rtt: Duration::from_millis(1),
    };

    fn run(h: &mut Health, outcomes: &[Outcome]) -> Vec<Option<bool>> {
        outcomes.iter().map(|&o| h.record(o, T)).collect()
    }

    #[test]
    fn a_target_starts_up_and_goes_down_after_down_after_failures_in_a_row() {
        let mut h = Health::default();
        assert!(h.is_up());
        assert_eq!(
            run(&mut h, &[Outcome::Timeout, OK, Outcome::Timeout]),
            [None, None, None],
            "a good probe between failures resets the count"
        );
        assert_eq!(run(&mut h, &[Outcome::TransportError]), [Some(false)]);
        assert!(!h.is_up());
    }

    #[test]
    fn a_503_counts_as_a_failure_and_any_other_answer_as_good() {
        let mut h = Health::default();
        assert_eq!(run(&mut h, &[BUSY, BUSY]), [None, Some(false)]);
        let not_found = Outcome::Answered {
            status: 404,
            rtt: Duration::ZERO,
        };
        assert_eq!(run(&mut h, &[not_found, OK, OK]), [None, None, Some(true)]);
    }

    #[test]
    fn a_down_target_needs_up_after_good_probes_in_a_row() {
        let mut h = Health::default();
        run(&mut h, &[Outcome::Timeout, Outcome::Timeout]);
        assert_eq!(
            run(&mut h, &[OK, OK, Outcome::Timeout, OK, OK]),
            [None, None, None, None, None]
        );
        assert_eq!(run(&mut h, &[OK]), [Some(true)]);
    }

    #[test]
    fn thresholds_of_zero_act_as_one() {
        let mut h = Health::default();
        let t = Thresholds {
            down_after: 0,
            up_after: 0,
        };
        assert_eq!(h.record(Outcome::Timeout, t), Some(false));
        assert_eq!(h.record(OK, t), Some(true));
    }
}
