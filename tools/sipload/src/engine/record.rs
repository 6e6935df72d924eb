//! Per-process statistics, shared by the connection tasks.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::error::LoadError;

/// Latency histogram bounds: 1 µs to 120 s, 3 significant digits.
pub(crate) fn new_histogram() -> Histogram<u64> {
    // Constant, valid bounds (low >= 1, high >= 2 * low, sigfig <= 5): this cannot fail.
    #[allow(clippy::expect_used)]
    Histogram::new_with_bounds(1, 120_000_000, 3).expect("constant histogram bounds are valid")
}

#[derive(Debug)]
pub(crate) struct Counts {
    pub(crate) latency_us: Histogram<u64>,
    pub(crate) connections_ok: u64,
    pub(crate) connections_failed: u64,
    pub(crate) messages_ok: u64,
    pub(crate) messages_failed: u64,
    pub(crate) errors: BTreeMap<String, u64>,
}

/// Counters and the latency histogram of one worker process.
#[derive(Debug)]
pub struct Recorder {
    inner: Mutex<Counts>,
}

impl Default for Recorder {
    fn default() -> Self {
        Self {
            inner: Mutex::new(Counts {
                latency_us: new_histogram(),
                connections_ok: 0,
                connections_failed: 0,
                messages_ok: 0,
                messages_failed: 0,
                errors: BTreeMap::new(),
            }),
        }
    }
}

impl Recorder {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Counts> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One exchange succeeded after `latency`.
    pub fn exchange_ok(&self, latency: Duration) {
        let us = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        let mut c = self.lock();
        c.messages_ok += 1;
        c.latency_us.saturating_record(us);
    }

    /// One exchange failed.
    pub fn exchange_failed(&self, e: &LoadError) {
        let mut c = self.lock();
        c.messages_failed += 1;
        *c.errors.entry(e.label()).or_default() += 1;
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
