//! Latency histograms with fixed buckets, one per worker and measure (relaxed atomics written by their worker
//! only), summed over the workers and rendered as Prometheus histograms.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the buckets, in microseconds: 10 µs to 10 s (a forward takes microseconds, a handshake
/// milliseconds, a stalled one seconds). Above the last one: `+Inf`.
pub const BOUNDS_US: [u64; 19] = [
    10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000,
    500_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000,
];

/// One histogram: counts per bucket (not cumulative; the last is `+Inf`), and the sum of what was observed.
#[derive(Debug)]
pub struct Histogram {
    buckets: [AtomicU64; BOUNDS_US.len() + 1],
    sum_us: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_us: AtomicU64::new(0),
        }
    }
}

impl Histogram {
    /// Count one observation of `d`.
    pub fn observe(&self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let i = BOUNDS_US.partition_point(|&b| b < us);
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
    }

    /// The bucket counts (not cumulative, `+Inf` last) and the sum in microseconds.
    pub fn snapshot(&self) -> ([u64; BOUNDS_US.len() + 1], u64) {
        (
            std::array::from_fn(|i| self.buckets[i].load(Ordering::Relaxed)),
            self.sum_us.load(Ordering::Relaxed),
        )
    }
}

/// Several workers' histograms of one measure summed: bucket counts and the sum in microseconds.
pub fn sum<'a>(hs: impl IntoIterator<Item = &'a Histogram>) -> ([u64; BOUNDS_US.len() + 1], u64) {
    let mut total = ([0u64; BOUNDS_US.len() + 1], 0u64);
    for h in hs {
        let (b, s) = h.snapshot();
        for (t, x) in total.0.iter_mut().zip(b) {
            *t += x;
        }
        total.1 += s;
    }
    total
}

/// Appends `name` as a Prometheus histogram (`_bucket` with cumulative `le` in seconds, `_sum`, `_count`),
/// with `labels` (`key="value"`, possibly empty) on every line.
pub fn render(
    out: &mut String,
    name: &str,
    labels: &str,
    total: &([u64; BOUNDS_US.len() + 1], u64),
) {
    use std::fmt::Write as _;
    let sep = if labels.is_empty() { "" } else { "," };
    let mut cumulative = 0;
    for (i, n) in total.0.iter().enumerate() {
        cumulative += n;
        let le = BOUNDS_US
            .get(i)
            .map_or_else(|| "+Inf".to_owned(), |us| format!("{}", *us as f64 / 1e6));
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {cumulative}"
        );
    }
    let braces = if labels.is_empty() {
        String::new()
    } else {
        format!("{{{labels}}}")
    };
    let _ = writeln!(out, "{name}_sum{braces} {}", total.1 as f64 / 1e6);
    let _ = writeln!(out, "{name}_count{braces} {cumulative}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_the_first_bucket_that_holds_them() {
        let h = Histogram::default();
        for us in [0, 10, 11, 900, 20_000_000] {
            h.observe(Duration::from_micros(us));
        }
        let (b, sum) = h.snapshot();
        assert_eq!((b[0], b[1], b[6], b[BOUNDS_US.len()]), (2, 1, 1, 1));
        assert_eq!(b.iter().sum::<u64>(), 5);
        assert_eq!(sum, 20_000_921);
    }

    #[test]
    fn rendered_as_a_cumulative_prometheus_histogram() {
        let (a, b) = (Histogram::default(), Histogram::default());
        a.observe(Duration::from_micros(30));
        b.observe(Duration::from_micros(30));
        b.observe(Duration::from_secs(60));
        let mut out = String::new();
        render(&mut out, "x_seconds", "way=\"in\"", &sum([&a, &b]));
        assert!(
            out.contains("x_seconds_bucket{way=\"in\",le=\"0.00001\"} 0\n"),
            "{out}"
        );
        assert!(
            out.contains("x_seconds_bucket{way=\"in\",le=\"0.00005\"} 2\n"),
            "{out}"
        );
        assert!(
            out.contains("x_seconds_bucket{way=\"in\",le=\"10\"} 2\n"),
            "{out}"
        );
        assert!(
            out.contains("x_seconds_bucket{way=\"in\",le=\"+Inf\"} 3\n"),
            "{out}"
        );
        assert!(out.contains("x_seconds_count{way=\"in\"} 3\n"), "{out}");
        assert!(
            out.contains("x_seconds_sum{way=\"in\"} 60.00006\n"),
            "{out}"
        );
        let mut bare = String::new();
        render(&mut bare, "y_seconds", "", &sum([&a]));
        assert!(bare.contains("y_seconds_bucket{le=\"+Inf\"} 1\n"), "{bare}");
        assert!(bare.contains("y_seconds_count 1\n"), "{bare}");
    }
}
