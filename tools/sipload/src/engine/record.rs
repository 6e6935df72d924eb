//! Per-process statistics, shared by the connection tasks: counters and latency histograms by
//! transaction kind (handshake, REGISTER, MESSAGE, INVITE, ...), and a per-second timeline for the plot.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;

use super::failures::FailureKey;
use crate::error::LoadError;

/// Latency histogram bounds: 1 µs to 120 s, 3 significant digits.
pub(crate) fn new_histogram() -> Histogram<u64> {
    // Constant, valid bounds (low >= 1, high >= 2 * low, sigfig <= 5): this cannot fail.
    #[allow(clippy::expect_used)]
    Histogram::new_with_bounds(1, 120_000_000, 3).expect("constant histogram bounds are valid")
}

/// The timeline's per-second histograms: 1 µs to 120 s, 2 significant digits (small: one per second
/// and kind).
pub(crate) fn new_second_histogram() -> Histogram<u32> {
    #[allow(clippy::expect_used)]
    Histogram::new_with_bounds(1, 120_000_000, 2).expect("constant histogram bounds are valid")
}

/// One kind of transaction.
#[derive(Debug)]
pub(crate) struct KindCounts {
    pub(crate) ok: u64,
    pub(crate) failed: u64,
    pub(crate) timed_out: u64,
    /// Completed during the traffic phase.
    pub(crate) traffic_ok: u64,
    pub(crate) latency_us: Histogram<u64>,
}

impl Default for KindCounts {
    fn default() -> Self {
        Self {
            ok: 0,
            failed: 0,
            timed_out: 0,
            traffic_ok: 0,
            latency_us: new_histogram(),
        }
    }
}

/// One second of one kind on the timeline.
#[derive(Debug)]
pub(crate) struct SecondCounts {
    pub(crate) ok: u64,
    pub(crate) failed: u64,
    pub(crate) latency_us: Histogram<u32>,
}

#[derive(Debug, Default)]
pub(crate) struct Counts {
    pub(crate) connections_ok: u64,
    pub(crate) connections_failed: u64,
    /// Sessions that broke after they opened (server closed, socket error), beside their transactions.
    pub(crate) sessions_failed: u64,
    /// `wss://` handshakes that were full, and that resumed an earlier session.
    pub(crate) tls_full: u64,
    pub(crate) tls_resumed: u64,
    pub(crate) kinds: BTreeMap<&'static str, KindCounts>,
    pub(crate) errors: BTreeMap<String, u64>,
    /// (unix second, kind) -> counts.
    pub(crate) timeline: BTreeMap<(u64, &'static str), SecondCounts>,
    /// Failures by the tenth of a second (unix time) their transaction began, kind and error.
    pub(crate) failures: BTreeMap<FailureKey, u64>,
}

impl Counts {
    /// Successful transactions of every kind but the handshake.
    pub(crate) fn transactions_ok(&self) -> u64 {
        self.kinds
            .iter()
            .filter(|(k, _)| **k != HANDSHAKE)
            .map(|(_, c)| c.ok)
            .sum()
    }

    /// Failed and timed-out transactions plus broken sessions.
    pub(crate) fn transactions_failed(&self) -> u64 {
        self.kinds
            .values()
            .map(|c| c.failed + c.timed_out)
            .sum::<u64>()
            + self.sessions_failed
    }

    fn second(&mut self, kind: &'static str) -> &mut SecondCounts {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.timeline
            .entry((now, kind))
            .or_insert_with(|| SecondCounts {
                ok: 0,
                failed: 0,
                latency_us: new_second_histogram(),
            })
    }
}

/// The kind name of the WebSocket opening handshake (TCP connect to 101).
pub const HANDSHAKE: &str = "handshake";

/// Counters and latency histograms of one worker process.
#[derive(Debug, Default)]
pub struct Recorder {
    inner: Mutex<Counts>,
    in_traffic: AtomicBool,
}

fn micros(latency: Duration) -> u64 {
    u64::try_from(latency.as_micros())
        .unwrap_or(u64::MAX)
        .max(1)
}

impl Recorder {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Counts> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The traffic phase began: later successes also count toward the traffic rate.
    pub(crate) fn start_traffic(&self) {
        self.in_traffic.store(true, Ordering::Relaxed);
    }

    /// One transaction of `kind` succeeded after `latency`.
    pub fn tx_ok(&self, kind: &'static str, latency: Duration) {
        let us = micros(latency);
        let traffic = self.in_traffic.load(Ordering::Relaxed);
        let mut c = self.lock();
        let k = c.kinds.entry(kind).or_default();
        k.ok += 1;
        k.traffic_ok += u64::from(traffic);
        k.latency_us.saturating_record(us);
        let s = c.second(kind);
        s.ok += 1;
        s.latency_us.saturating_record(us);
    }

    /// One transaction of `kind` failed (a timeout is counted as timed out).
    pub fn tx_failed(&self, kind: &'static str, e: &LoadError) {
        let mut c = self.lock();
        let k = c.kinds.entry(kind).or_default();
        if matches!(e, LoadError::Timeout(_)) {
            k.timed_out += 1;
        } else {
            k.failed += 1;
        }
        *c.errors
            .entry(format!("{kind}: {}", e.label()))
            .or_default() += 1;
        c.second(kind).failed += 1;
    }

    /// One transaction of `kind` that began `latency` ago failed: counted as by [`Self::tx_failed`],
    /// and also by the tenth of a second it began in.
    pub fn tx_failed_after(&self, kind: &'static str, e: &LoadError, latency: Duration) {
        self.tx_failed(kind, e);
        let began = SystemTime::now()
            .checked_sub(latency)
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| {
                u64::try_from(d.as_millis() / 100).unwrap_or(u64::MAX)
            });
        *self
            .lock()
            .failures
            .entry((began, kind, e.label()))
            .or_default() += 1;
    }

    /// A session broke after it opened.
    pub fn session_failed(&self, e: &LoadError) {
        let mut c = self.lock();
        c.sessions_failed += 1;
        *c.errors
            .entry(format!("session: {}", e.label()))
            .or_default() += 1;
    }

    /// A `wss://` connection's TLS handshake finished, `resumed` or full.
    pub(crate) fn tls_handshake(&self, resumed: bool) {
        let mut c = self.lock();
        if resumed {
            c.tls_resumed += 1;
        } else {
            c.tls_full += 1;
        }
    }

    pub(crate) fn connection_ok(&self) {
        self.lock().connections_ok += 1;
    }

    pub(crate) fn connection_failed(&self, e: &LoadError) {
        let mut c = self.lock();
        c.connections_failed += 1;
        *c.errors.entry(e.label()).or_default() += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_kind_with_timeouts_apart() {
        let r = Recorder::default();
        r.connection_ok();
        r.tx_ok(HANDSHAKE, Duration::from_micros(300));
        r.tx_ok("REGISTER", Duration::from_micros(100));
        r.start_traffic();
        r.tx_ok("MESSAGE", Duration::from_micros(200));
        r.tx_failed("MESSAGE", &LoadError::Timeout("waiting"));
        r.tx_failed("MESSAGE", &LoadError::ServerClosedTcp);
        r.session_failed(&LoadError::ServerClosedTcp);
        let c = r.lock();
        assert_eq!(c.transactions_ok(), 2, "the handshake is not a transaction");
        assert_eq!(c.transactions_failed(), 3);
        let m = &c.kinds["MESSAGE"];
        assert_eq!((m.ok, m.failed, m.timed_out, m.traffic_ok), (1, 1, 1, 1));
        assert_eq!(c.kinds["REGISTER"].traffic_ok, 0);
        assert_eq!(c.kinds[HANDSHAKE].ok, 1);
        assert_eq!(c.errors["session: server closed tcp"], 1);
        let seconds: u64 = c.timeline.values().map(|s| s.ok + s.failed).sum();
        assert_eq!(seconds, 5);
        assert!(c.failures.is_empty(), "tx_failed knows no start time");
    }

    #[test]
    fn a_failure_is_placed_where_its_transaction_began() {
        let r = Recorder::default();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        r.tx_failed_after(
            "MESSAGE",
            &LoadError::Timeout("waiting"),
            Duration::from_secs(10),
        );
        r.tx_failed_after(
            "MESSAGE",
            &LoadError::Timeout("waiting"),
            Duration::from_secs(10),
        );
        r.tx_failed_after("REGISTER", &LoadError::ServerClosedTcp, Duration::ZERO);
        let c = r.lock();
        assert_eq!(c.kinds["MESSAGE"].timed_out, 2);
        assert_eq!(c.kinds["REGISTER"].failed, 1);
        let mut by_kind: Vec<(&str, u64, u64)> = c
            .failures
            .iter()
            .map(|((tenth, kind, _), n)| (*kind, *tenth, *n))
            .collect();
        by_kind.sort_unstable();
        assert_eq!(by_kind.len(), 2, "{by_kind:?}");
        let (message, register) = (by_kind[0], by_kind[1]);
        assert_eq!((message.0, message.2), ("MESSAGE", 2));
        assert_eq!((register.0, register.2), ("REGISTER", 1));
        // Ten seconds apart, within the second the test ran in (give or take the clock's tick).
        assert_eq!(register.1 - message.1, 100);
        assert!(
            register.1 / 10 >= now && register.1 / 10 <= now + 1,
            "{register:?} vs {now}"
        );
    }
}
