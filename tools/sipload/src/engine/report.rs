//! What a worker process reports, and the merged report of a run.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::record::{Counts, new_histogram};
use crate::procfs::Sample;

/// One worker process's statistics (one JSON line on its stdout).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProcReport {
    /// Connections that opened (WebSocket upgraded and scenario setup done).
    pub connections_ok: u64,
    /// Connections that did not.
    pub connections_failed: u64,
    /// Exchanges that succeeded.
    pub messages_ok: u64,
    /// Exchanges that failed.
    pub messages_failed: u64,
    /// Failures by kind.
    pub errors: BTreeMap<String, u64>,
    /// Length of this worker's traffic phase.
    pub traffic_secs: f64,
    /// Latency histogram as (value µs, count) pairs.
    pub latency_us: Vec<(u64, u64)>,
}

impl ProcReport {
    pub(crate) fn from_counts(c: &Counts, traffic_secs: f64) -> Self {
        Self {
            connections_ok: c.connections_ok,
            connections_failed: c.connections_failed,
            messages_ok: c.messages_ok,
            messages_failed: c.messages_failed,
            errors: c.errors.clone(),
            traffic_secs,
            latency_us: c
                .latency_us
                .iter_recorded()
                .map(|v| (v.value_iterated_to(), v.count_at_value()))
                .collect(),
        }
    }
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Latency {
    /// Median.
    pub p50_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// 99.9th percentile.
    pub p999_us: u64,
    /// Largest.
    pub max_us: u64,
    /// Mean.
    pub mean_us: f64,
}

impl Latency {
    fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        Self {
            p50_us: h.value_at_quantile(0.50),
            p99_us: h.value_at_quantile(0.99),
            p999_us: h.value_at_quantile(0.999),
            max_us: h.max(),
            mean_us: h.mean(),
        }
    }
}

/// The watched server during the run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ServerReport {
    /// The watched pid.
    pub pid: u32,
    /// Before any connection.
    pub before: Sample,
    /// With every connection open, at the end of the hold.
    pub held: Sample,
    /// After the traffic phase.
    pub after: Sample,
    /// Server CPU seconds spent during the traffic phase.
    pub traffic_cpu_secs: f64,
    /// Successful exchanges per server CPU-second of the traffic phase.
    pub msgs_per_server_cpu_sec: f64,
    /// (held − before) Rss per open connection, bytes.
    pub rss_growth_per_conn_bytes: f64,
    /// (held − before) Pss per open connection, bytes.
    pub pss_growth_per_conn_bytes: f64,
}

/// The merged result of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Scenario name.
    pub scenario: String,
    /// Target URL.
    pub target: String,
    /// Connections asked for.
    pub connections: u64,
    /// Worker processes.
    pub procs: usize,
    /// Connections that opened.
    pub connections_ok: u64,
    /// Connections that did not.
    pub connections_failed: u64,
    /// Exchanges that succeeded.
    pub messages_ok: u64,
    /// Exchanges that failed.
    pub messages_failed: u64,
    /// Failures by kind.
    pub errors: BTreeMap<String, u64>,
    /// Seconds from `go` until the last worker finished.
    pub traffic_secs: f64,
    /// Successful exchanges per second of the traffic phase.
    pub msgs_per_sec: f64,
    /// Exchange round-trip latency.
    pub latency: Latency,
    /// The watched server, with `--watch-pid`.
    pub server: Option<ServerReport>,
}

impl Report {
    /// Merges the workers' reports.
    pub fn merge(
        scenario: &str,
        target: &str,
        connections: u64,
        parts: &[ProcReport],
        traffic_secs: f64,
    ) -> Self {
        let mut h = new_histogram();
        let mut errors = BTreeMap::new();
        let mut r = Self {
            scenario: scenario.to_owned(),
            target: target.to_owned(),
            connections,
            procs: parts.len(),
            connections_ok: 0,
            connections_failed: 0,
            messages_ok: 0,
            messages_failed: 0,
            errors: BTreeMap::new(),
            traffic_secs,
            msgs_per_sec: 0.0,
            latency: Latency::default(),
            server: None,
        };
        for p in parts {
            r.connections_ok += p.connections_ok;
            r.connections_failed += p.connections_failed;
            r.messages_ok += p.messages_ok;
            r.messages_failed += p.messages_failed;
            for (k, v) in &p.errors {
                *errors.entry(k.clone()).or_insert(0) += v;
            }
            for &(value, count) in &p.latency_us {
                let _ = h.record_n(value.max(1), count);
            }
        }
        r.errors = errors;
        r.latency = Latency::of(&h);
        if traffic_secs > 0.0 {
            r.msgs_per_sec = r.messages_ok as f64 / traffic_secs;
        }
        r
    }

    /// Adds the server's samples.
    pub fn with_server(
        mut self,
        pid: u32,
        before: Sample,
        held: Sample,
        at_go: Sample,
        after: Sample,
    ) -> Self {
        let cpu = (after.cpu_secs - at_go.cpu_secs).max(0.0);
        let conns = self.connections_ok.max(1) as f64;
        self.server = Some(ServerReport {
            pid,
            before,
            held,
            after,
            traffic_cpu_secs: cpu,
            msgs_per_server_cpu_sec: if cpu > 0.0 {
                self.messages_ok as f64 / cpu
            } else {
                0.0
            },
            rss_growth_per_conn_bytes: (held.rss_kib as f64 - before.rss_kib as f64) * 1024.0
                / conns,
            pss_growth_per_conn_bytes: (held.pss_kib as f64 - before.pss_kib as f64) * 1024.0
                / conns,
        });
        self
    }

    /// `true` when nothing failed.
    pub fn clean(&self) -> bool {
        self.connections_failed == 0 && self.messages_failed == 0
    }

    /// A human summary.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{} against {}: {} procs\n\
             connections: {} ok, {} failed (of {})\n\
             messages:    {} ok, {} failed in {:.2} s = {:.0} msgs/s\n\
             latency:     p50 {} µs, p99 {} µs, p99.9 {} µs, max {} µs\n",
            self.scenario,
            self.target,
            self.procs,
            self.connections_ok,
            self.connections_failed,
            self.connections,
            self.messages_ok,
            self.messages_failed,
            self.traffic_secs,
            self.msgs_per_sec,
            self.latency.p50_us,
            self.latency.p99_us,
            self.latency.p999_us,
            self.latency.max_us,
        );
        for (k, v) in &self.errors {
            s.push_str(&format!("  error {k}: {v}\n"));
        }
        if let Some(srv) = &self.server {
            s.push_str(&format!(
                "server pid {}: {:.2} CPU-s in traffic = {:.0} msgs per server CPU-second\n\
                 server Rss {} -> {} (held) -> {} KiB, Pss {} -> {} -> {} KiB\n\
                 growth per connection: Rss {:.0} B, Pss {:.0} B\n",
                srv.pid,
                srv.traffic_cpu_secs,
                srv.msgs_per_server_cpu_sec,
                srv.before.rss_kib,
                srv.held.rss_kib,
                srv.after.rss_kib,
                srv.before.pss_kib,
                srv.held.pss_kib,
                srv.after.pss_kib,
                srv.rss_growth_per_conn_bytes,
                srv.pss_growth_per_conn_bytes,
            ));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(ok: u64, lat: &[(u64, u64)]) -> ProcReport {
        ProcReport {
            connections_ok: 10,
            connections_failed: 1,
            messages_ok: ok,
            messages_failed: 0,
            errors: [("connect: refused".to_owned(), 1)].into(),
            traffic_secs: 2.0,
            latency_us: lat.to_vec(),
        }
    }

    #[test]
    fn merges_counts_errors_and_latency() {
        let r = Report::merge(
            "echo",
            "ws://x:1/",
            22,
            &[part(100, &[(10, 98), (1000, 2)]), part(50, &[(20, 50)])],
            2.0,
        );
        assert_eq!(
            (r.connections_ok, r.connections_failed, r.messages_ok),
            (20, 2, 150)
        );
        assert_eq!(r.errors.get("connect: refused"), Some(&2));
        assert_eq!(r.msgs_per_sec, 75.0);
        assert_eq!(r.latency.p50_us, 10);
        assert!(r.latency.max_us >= 1000 && r.latency.max_us < 1001);
        assert!(!r.clean());
        let before = Sample {
            cpu_secs: 1.0,
            rss_kib: 1000,
            pss_kib: 900,
        };
        let held = Sample {
            cpu_secs: 1.5,
            rss_kib: 1020,
            pss_kib: 910,
        };
        let after = Sample {
            cpu_secs: 4.0,
            rss_kib: 1020,
            pss_kib: 910,
        };
        let r = r.with_server(7, before, held, held, after);
        let srv = r.server.unwrap();
        assert_eq!(srv.traffic_cpu_secs, 2.5);
        assert_eq!(srv.msgs_per_server_cpu_sec, 60.0);
        assert_eq!(srv.rss_growth_per_conn_bytes, 1024.0);
        assert!(r.summary().contains("msgs per server CPU-second"));
    }

    #[test]
    fn proc_report_round_trips_through_json() {
        let p = part(5, &[(3, 5)]);
        let line = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<ProcReport>(&line).unwrap(), p);
    }
}
