//! What a worker process reports, and the merged report of a run.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::failures::{self, FailureBegan};
use super::record::{Counts, HANDSHAKE, new_histogram, new_second_histogram};
use crate::procfs::Sample;
use crate::wire::{Bytes, DeflateCount};

/// One kind of transaction in one worker's report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KindPart {
    /// Succeeded.
    pub ok: u64,
    /// Failed (an error answer, a broken connection).
    pub failed: u64,
    /// No answer in time.
    pub timed_out: u64,
    /// Succeeded during the traffic phase.
    pub traffic_ok: u64,
    /// Latency histogram as (value µs, count) pairs.
    pub latency_us: Vec<(u64, u64)>,
}

/// One second of one kind on a worker's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecondPart {
    /// Unix time, seconds.
    pub t: u64,
    /// Transaction kind.
    pub kind: String,
    /// Succeeded in this second.
    pub ok: u64,
    /// Failed or timed out in this second.
    pub failed: u64,
    /// Latency histogram as (value µs, count) pairs.
    pub latency_us: Vec<(u64, u64)>,
}

/// One worker process's statistics (one JSON line on its stdout).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProcReport {
    /// Connections that opened (WebSocket upgraded and scenario setup done).
    pub connections_ok: u64,
    /// Connections that did not.
    pub connections_failed: u64,
    /// Sessions that broke after they opened.
    pub sessions_failed: u64,
    /// `wss://`: full TLS handshakes.
    #[serde(default)]
    pub tls_full: u64,
    /// `wss://`: TLS handshakes that resumed an earlier session.
    #[serde(default)]
    pub tls_resumed: u64,
    /// permessage-deflate offered and agreed.
    #[serde(default)]
    pub deflate: DeflateCount,
    /// Wire and payload bytes each way.
    #[serde(default)]
    pub bytes: Bytes,
    /// Failures by kind.
    pub errors: BTreeMap<String, u64>,
    /// Length of this worker's traffic phase.
    pub traffic_secs: f64,
    /// Transactions by kind.
    pub kinds: BTreeMap<String, KindPart>,
    /// Per-second counts and latencies.
    pub timeline: Vec<SecondPart>,
    /// Failures by the moment their transaction began.
    #[serde(default)]
    pub failures: Vec<FailureBegan>,
}

fn pairs<T: hdrhistogram::Counter>(h: &Histogram<T>) -> Vec<(u64, u64)> {
    h.iter_recorded()
        .map(|v| (v.value_iterated_to(), v.count_at_value().as_u64()))
        .collect()
}

impl ProcReport {
    pub(crate) fn from_counts(c: &Counts, traffic_secs: f64) -> Self {
        Self {
            connections_ok: c.connections_ok,
            connections_failed: c.connections_failed,
            sessions_failed: c.sessions_failed,
            tls_full: c.tls_full,
            tls_resumed: c.tls_resumed,
            deflate: DeflateCount::default(),
            bytes: Bytes::default(),
            errors: c.errors.clone(),
            traffic_secs,
            kinds: c
                .kinds
                .iter()
                .map(|(k, v)| {
                    let part = KindPart {
                        ok: v.ok,
                        failed: v.failed,
                        timed_out: v.timed_out,
                        traffic_ok: v.traffic_ok,
                        latency_us: pairs(&v.latency_us),
                    };
                    ((*k).to_owned(), part)
                })
                .collect(),
            timeline: c
                .timeline
                .iter()
                .map(|(&(t, kind), s)| SecondPart {
                    t,
                    kind: kind.to_owned(),
                    ok: s.ok,
                    failed: s.failed,
                    latency_us: pairs(&s.latency_us),
                })
                .collect(),
            failures: failures::from_map(&c.failures),
        }
    }

    /// Transactions that succeeded (every kind but the handshake).
    pub fn transactions_ok(&self) -> u64 {
        self.kinds
            .iter()
            .filter(|(k, _)| *k != HANDSHAKE)
            .map(|(_, v)| v.ok)
            .sum()
    }

    /// Transactions that failed or timed out, plus broken sessions.
    pub fn transactions_failed(&self) -> u64 {
        self.kinds
            .values()
            .map(|v| v.failed + v.timed_out)
            .sum::<u64>()
            + self.sessions_failed
    }
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Latency {
    /// Median.
    pub p50_us: u64,
    /// 90th percentile.
    pub p90_us: u64,
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
    fn of<T: hdrhistogram::Counter>(h: &Histogram<T>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        Self {
            p50_us: h.value_at_quantile(0.50),
            p90_us: h.value_at_quantile(0.90),
            p99_us: h.value_at_quantile(0.99),
            p999_us: h.value_at_quantile(0.999),
            max_us: h.max(),
            mean_us: h.mean(),
        }
    }
}

/// One kind of transaction over the whole run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct KindReport {
    /// Succeeded.
    pub ok: u64,
    /// Failed.
    pub failed: u64,
    /// Timed out.
    pub timed_out: u64,
    /// Succeeded during the traffic phase.
    pub traffic_ok: u64,
    /// `traffic_ok` per second of the traffic phase.
    pub per_sec: f64,
    /// Latency.
    pub latency: Latency,
}

/// One second of one kind on the run's timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimelinePoint {
    /// Seconds since the first second of the run.
    pub t: u64,
    /// Transaction kind.
    pub kind: String,
    /// Succeeded in this second.
    pub ok: u64,
    /// Failed or timed out in this second.
    pub failed: u64,
    /// Latency of this second.
    pub latency: Latency,
}

/// When the phases began, seconds since the first second of the timeline.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Phases {
    /// Every connection was up (the hold began).
    pub up: f64,
    /// The traffic phase began.
    pub go: f64,
    /// The last worker reported.
    pub done: f64,
    /// The timeline's first second (unix time): `t` on the timeline is counted from it.
    pub start: u64,
}

/// The watched server during the run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServerReport {
    /// The watched pid.
    pub pid: u32,
    /// Processes summed (the pid and its descendants, e.g. Kamailio's children).
    pub processes: usize,
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
    /// Transactions that succeeded (whole run, every kind but the handshake).
    pub messages_ok: u64,
    /// Transactions that failed or timed out, plus sessions that broke.
    pub messages_failed: u64,
    /// `wss://`: full TLS handshakes.
    pub tls_full: u64,
    /// `wss://`: TLS handshakes that resumed an earlier session (the worker's session cache).
    pub tls_resumed: u64,
    /// permessage-deflate (`--deflate`): connections that offered it and that the server agreed on.
    pub deflate: DeflateCount,
    /// Bytes on the wire against message payload bytes, sent and received (the compression ratio with
    /// `--deflate`), over the whole run.
    pub bytes: Bytes,
    /// Failures by kind.
    pub errors: BTreeMap<String, u64>,
    /// Seconds from `go` until the last worker finished.
    pub traffic_secs: f64,
    /// Transactions completed in the traffic phase per second of --duration (of `traffic_secs` when
    /// it is 0).
    pub msgs_per_sec: f64,
    /// Latency of every transaction kind but the handshake, together.
    pub latency: Latency,
    /// By transaction kind (`handshake`, `REGISTER`, `MESSAGE`, `INVITE` (to its 200), ...).
    pub transactions: BTreeMap<String, KindReport>,
    /// Per-second timeline.
    pub timeline: Vec<TimelinePoint>,
    /// Failed transactions by the moment they began (tenths of a second, unix time), kind and error.
    pub failures: Vec<FailureBegan>,
    /// Phase marks on the timeline.
    pub phases: Phases,
    /// The watched server, with `--watch-pid`.
    pub server: Option<ServerReport>,
}

fn record_pairs(h: &mut Histogram<u64>, pairs: &[(u64, u64)]) {
    for &(value, count) in pairs {
        let _ = h.record_n(value.max(1), count);
    }
}

/// The workers' transactions and timelines summed, before percentiles and rates are taken.
struct Sums {
    /// Latency of every kind but the handshake.
    all: Histogram<u64>,
    /// By kind: counts and latency.
    kinds: BTreeMap<String, (KindReport, Histogram<u64>)>,
    /// By (unix second, kind): ok, failed and latency.
    seconds: BTreeMap<(u64, String), (u64, u64, Histogram<u32>)>,
    /// Traffic-phase successes of every kind but the handshake.
    traffic_ok: u64,
}

impl Sums {
    fn new() -> Self {
        Self {
            all: new_histogram(),
            kinds: BTreeMap::new(),
            seconds: BTreeMap::new(),
            traffic_ok: 0,
        }
    }

    /// Adds one worker's transactions by kind.
    fn add_kinds(&mut self, kinds: &BTreeMap<String, KindPart>) {
        for (name, k) in kinds {
            let (rep, h) = self
                .kinds
                .entry(name.clone())
                .or_insert_with(|| (KindReport::default(), new_histogram()));
            rep.ok += k.ok;
            rep.failed += k.failed;
            rep.timed_out += k.timed_out;
            rep.traffic_ok += k.traffic_ok;
            record_pairs(h, &k.latency_us);
            if name != HANDSHAKE {
                record_pairs(&mut self.all, &k.latency_us);
                self.traffic_ok += k.traffic_ok;
            }
        }
    }

    /// Adds one worker's timeline.
    fn add_timeline(&mut self, timeline: &[SecondPart]) {
        for s in timeline {
            let (ok, failed, h) = self
                .seconds
                .entry((s.t, s.kind.clone()))
                .or_insert_with(|| (0, 0, new_second_histogram()));
            *ok += s.ok;
            *failed += s.failed;
            for &(value, count) in &s.latency_us {
                let _ = h.record_n(value.max(1), u32::try_from(count).unwrap_or(u32::MAX));
            }
        }
    }
}

/// Each kind with its latency percentiles and its traffic-phase rate per second of `rate_secs`.
fn kind_reports(
    kinds: BTreeMap<String, (KindReport, Histogram<u64>)>,
    rate_secs: f64,
) -> BTreeMap<String, KindReport> {
    kinds
        .into_iter()
        .map(|(name, (mut rep, h))| {
            rep.latency = Latency::of(&h);
            if rate_secs > 0.0 {
                rep.per_sec = rep.traffic_ok as f64 / rate_secs;
            }
            (name, rep)
        })
        .collect()
}

/// The timeline in seconds since its first second, and that first second (unix time).
fn timeline(
    seconds: BTreeMap<(u64, String), (u64, u64, Histogram<u32>)>,
) -> (Vec<TimelinePoint>, u64) {
    let t0 = seconds.keys().map(|(t, _)| *t).min().unwrap_or(0);
    let points = seconds
        .into_iter()
        .map(|((t, kind), (ok, failed, h))| TimelinePoint {
            t: t - t0,
            kind,
            ok,
            failed,
            latency: Latency::of(&h),
        })
        .collect();
    (points, t0)
}

impl Report {
    /// A report of `procs` workers with nothing counted yet.
    fn empty(
        scenario: &str,
        target: &str,
        connections: u64,
        procs: usize,
        traffic_secs: f64,
    ) -> Self {
        Self {
            scenario: scenario.to_owned(),
            target: target.to_owned(),
            connections,
            procs,
            connections_ok: 0,
            connections_failed: 0,
            messages_ok: 0,
            messages_failed: 0,
            tls_full: 0,
            tls_resumed: 0,
            deflate: DeflateCount::default(),
            bytes: Bytes::default(),
            errors: BTreeMap::new(),
            traffic_secs,
            msgs_per_sec: 0.0,
            latency: Latency::default(),
            transactions: BTreeMap::new(),
            timeline: Vec::new(),
            failures: Vec::new(),
            phases: Phases::default(),
            server: None,
        }
    }

    /// Adds one worker's connection, transaction, TLS and error counts.
    fn add_counts(&mut self, p: &ProcReport) {
        self.connections_ok += p.connections_ok;
        self.connections_failed += p.connections_failed;
        self.messages_ok += p.transactions_ok();
        self.messages_failed += p.transactions_failed();
        self.tls_full += p.tls_full;
        self.tls_resumed += p.tls_resumed;
        self.deflate.add(p.deflate);
        self.bytes.add(p.bytes);
        for (k, v) in &p.errors {
            *self.errors.entry(k.clone()).or_insert(0) += v;
        }
    }

    /// Merges the workers' reports; `phases` holds the unix times (seconds) of up, go and done. Rates
    /// are per second of `rate_secs` (the paced traffic window; 0: all of `traffic_secs`).
    pub fn merge(
        scenario: &str,
        target: &str,
        connections: u64,
        parts: &[ProcReport],
        (traffic_secs, rate_secs): (f64, f64),
        phases: [f64; 3],
    ) -> Self {
        let rate_secs = if rate_secs > 0.0 {
            rate_secs
        } else {
            traffic_secs
        };
        let mut r = Self::empty(scenario, target, connections, parts.len(), traffic_secs);
        let mut sums = Sums::new();
        for p in parts {
            r.add_counts(p);
            sums.add_kinds(&p.kinds);
            sums.add_timeline(&p.timeline);
        }
        r.latency = Latency::of(&sums.all);
        if rate_secs > 0.0 {
            r.msgs_per_sec = sums.traffic_ok as f64 / rate_secs;
        }
        r.transactions = kind_reports(sums.kinds, rate_secs);
        r.failures = failures::merge(parts.iter().map(|p| p.failures.as_slice()));
        let (points, t0) = timeline(sums.seconds);
        r.timeline = points;
        let rel = |x: f64| (x - t0 as f64).max(0.0);
        r.phases = Phases {
            up: rel(phases[0]),
            go: rel(phases[1]),
            done: rel(phases[2]),
            start: t0,
        };
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
        let traffic_ok: u64 = self
            .transactions
            .iter()
            .filter(|(k, _)| *k != HANDSHAKE)
            .map(|(_, v)| v.traffic_ok)
            .sum();
        let traffic_ok = traffic_ok as f64;
        self.server = Some(ServerReport {
            pid,
            processes: held.processes.max(before.processes),
            before,
            held,
            after,
            traffic_cpu_secs: cpu,
            msgs_per_server_cpu_sec: if cpu > 0.0 { traffic_ok / cpu } else { 0.0 },
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

    /// The summary's lines on permessage-deflate and bytes.
    fn bytes_summary(&self) -> String {
        let mut s = String::new();
        if self.deflate.offered > 0 {
            s.push_str(&format!(
                "  permessage-deflate: agreed on {} of {} connections offering it\n",
                self.deflate.agreed, self.deflate.offered
            ));
        }
        let (sent, got) = (self.bytes.sent, self.bytes.received);
        s.push_str(&format!(
            "  bytes sent: {} on the wire for {} of payload ({:.3}); received: {} for {} ({:.3})\n",
            sent.wire,
            sent.payload,
            sent.ratio(),
            got.wire,
            got.payload,
            got.ratio()
        ));
        s
    }

    /// A human summary.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{} against {}: {} procs\n\
             connections:  {} ok, {} failed (of {})\n\
             transactions: {} ok, {} failed; traffic phase {:.2} s = {:.0} tx/s\n",
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
        );
        s.push_str(&format!(
            "  {:<10} {:>9} {:>7} {:>7} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8}\n",
            "kind",
            "ok",
            "failed",
            "t/o",
            "tx/s",
            "p50 µs",
            "p90 µs",
            "p99 µs",
            "p99.9 µs",
            "max µs"
        ));
        for (name, k) in &self.transactions {
            s.push_str(&format!(
                "  {:<10} {:>9} {:>7} {:>7} {:>9.0} {:>8} {:>8} {:>8} {:>8} {:>8}\n",
                name,
                k.ok,
                k.failed,
                k.timed_out,
                k.per_sec,
                k.latency.p50_us,
                k.latency.p90_us,
                k.latency.p99_us,
                k.latency.p999_us,
                k.latency.max_us
            ));
        }
        if self.tls_full + self.tls_resumed > 0 {
            s.push_str(&format!(
                "  TLS handshakes: {} full, {} resumed\n",
                self.tls_full, self.tls_resumed
            ));
        }
        s.push_str(&self.bytes_summary());
        for (k, v) in &self.errors {
            s.push_str(&format!("  error {k}: {v}\n"));
        }
        if let Some(srv) = &self.server {
            s.push_str(&format!(
                "server pid {} ({} processes): {:.2} CPU-s in traffic = {:.0} tx per server CPU-second\n\
                 server Rss {} -> {} (held) -> {} KiB, Pss {} -> {} -> {} KiB\n\
                 growth per connection: Rss {:.0} B, Pss {:.0} B\n",
                srv.pid,
                srv.processes,
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
            sessions_failed: 0,
            tls_full: 1,
            tls_resumed: 2,
            deflate: DeflateCount {
                offered: 10,
                agreed: 4,
            },
            bytes: Bytes {
                sent: crate::wire::Flow {
                    wire: 300,
                    payload: 1000,
                },
                received: crate::wire::Flow {
                    wire: 500,
                    payload: 1000,
                },
            },
            errors: [("connect: refused".to_owned(), 1)].into(),
            traffic_secs: 2.0,
            kinds: [
                (
                    "MESSAGE".to_owned(),
                    KindPart {
                        ok,
                        failed: 0,
                        timed_out: 1,
                        traffic_ok: ok,
                        latency_us: lat.to_vec(),
                    },
                ),
                (
                    HANDSHAKE.to_owned(),
                    KindPart {
                        ok: 10,
                        latency_us: vec![(5000, 10)],
                        ..KindPart::default()
                    },
                ),
            ]
            .into(),
            timeline: vec![SecondPart {
                t: 1000,
                kind: "MESSAGE".into(),
                ok,
                failed: 0,
                latency_us: lat.to_vec(),
            }],
            failures: vec![FailureBegan {
                began_ms: 1_000_500,
                kind: "MESSAGE".into(),
                error: "timeout".into(),
                count: 1,
            }],
        }
    }

    #[test]
    fn merges_counts_errors_latency_and_timeline() {
        let r = Report::merge(
            "message",
            "ws://x:1/",
            22,
            &[part(100, &[(10, 98), (1000, 2)]), part(50, &[(20, 50)])],
            (2.0, 0.0),
            [1001.0, 1002.5, 1005.0],
        );
        assert_eq!(
            (r.connections_ok, r.connections_failed, r.messages_ok),
            (20, 2, 150)
        );
        assert_eq!(r.messages_failed, 2, "timeouts count as failed");
        assert_eq!(r.failures.len(), 1, "one moment, kind and error");
        assert_eq!(
            (r.failures[0].began_ms, r.failures[0].count),
            (1_000_500, 2)
        );
        assert_eq!((r.tls_full, r.tls_resumed), (2, 4));
        assert!(r.summary().contains("2 full, 4 resumed"));
        assert_eq!((r.deflate.offered, r.deflate.agreed), (20, 8));
        assert_eq!((r.bytes.sent.wire, r.bytes.received.payload), (600, 2000));
        assert!(
            r.summary()
                .contains("permessage-deflate: agreed on 8 of 20 connections"),
            "{}",
            r.summary()
        );
        assert!(
            r.summary()
                .contains("600 on the wire for 2000 of payload (0.300)")
        );
        assert_eq!(r.errors.get("connect: refused"), Some(&2));
        assert_eq!(r.msgs_per_sec, 75.0);
        assert_eq!(
            r.latency.p50_us, 10,
            "the handshake is not in the overall latency"
        );
        let m = &r.transactions["MESSAGE"];
        assert_eq!((m.ok, m.timed_out, m.per_sec), (150, 2, 75.0));
        assert!(m.latency.max_us >= 1000 && m.latency.max_us < 1001);
        let hs = r.transactions[HANDSHAKE].latency.p50_us;
        assert!((5000..5010).contains(&hs), "{hs}");
        assert_eq!(r.timeline.len(), 1);
        assert_eq!((r.timeline[0].t, r.timeline[0].ok), (0, 150));
        assert_eq!(r.phases.go, 2.5);
        assert!(!r.clean());
        let before = Sample {
            cpu_secs: 1.0,
            rss_kib: 1000,
            pss_kib: 900,
            processes: 1,
        };
        let held = Sample {
            cpu_secs: 1.5,
            rss_kib: 1020,
            pss_kib: 910,
            processes: 1,
        };
        let after = Sample {
            cpu_secs: 4.0,
            ..held
        };
        let r = r.with_server(7, before, held, held, after);
        let srv = r.server.clone().unwrap();
        assert_eq!(srv.traffic_cpu_secs, 2.5);
        assert_eq!(srv.msgs_per_server_cpu_sec, 60.0);
        assert_eq!(srv.rss_growth_per_conn_bytes, 1024.0);
        assert!(r.summary().contains("tx per server CPU-second"));
        assert!(r.summary().contains("MESSAGE"));
    }

    #[test]
    fn proc_report_round_trips_through_json() {
        let p = part(5, &[(3, 5)]);
        let line = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<ProcReport>(&line).unwrap(), p);
    }
}
