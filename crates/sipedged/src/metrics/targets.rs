//! The core's targets in the Prometheus text: one series per target, labelled `target="udp:192.0.2.1:5060"`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::targets::{Registry, TargetStats};

type Read = fn(&TargetStats) -> f64;

fn count(c: &AtomicU64) -> f64 {
    c.load(Ordering::Relaxed) as f64
}

const SERIES: [(&str, &str, &str, Read); 6] = [
    (
        "sipedge_core_target_up",
        "Whether the target is up (1) or down (0), as its OPTIONS probes find it",
        "gauge",
        |t| f64::from(u8::from(t.up.load(Ordering::Relaxed))),
    ),
    (
        "sipedge_core_target_probe_seconds",
        "Round trip of the target's last answered OPTIONS probe",
        "gauge",
        |t| count(&t.probe_micros) / 1e6,
    ),
    (
        "sipedge_core_target_probes_failed_total",
        "Probes of the target that failed (no answer in time, a transport error, or 503)",
        "counter",
        |t| count(&t.probes_failed),
    ),
    (
        "sipedge_core_target_requests_total",
        "Requests sent to the target (retransmissions not counted)",
        "counter",
        |t| count(&t.requests),
    ),
    (
        "sipedge_core_target_failovers_total",
        "Requests that had gone to the target unanswered and were sent on to another one",
        "counter",
        |t| count(&t.failovers),
    ),
    (
        "sipedge_core_tls_failures_total",
        "TLS handshakes with the target that failed (certificate, name, protocol)",
        "counter",
        |t| count(&t.tls_failures),
    ),
];

/// Append every target's series to `out`.
pub fn render(out: &mut String, registry: &Registry) {
    let Ok(targets) = registry.lock() else {
        return;
    };
    for (name, help, kind, read) in SERIES {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (label, stats) in targets.iter() {
            let _ = writeln!(out, "{name}{{target=\"{label}\"}} {}", read(stats));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;
    use std::sync::{Arc, Mutex};

    use crate::targets::TargetStats;

    #[test]
    fn each_target_has_its_series() {
        let a = Arc::new(TargetStats::default());
        a.up.store(true, Ordering::Relaxed);
        a.probe_micros.store(1500, Ordering::Relaxed);
        a.requests.store(7, Ordering::Relaxed);
        let b = Arc::new(TargetStats::default());
        b.failovers.store(3, Ordering::Relaxed);
        let registry = Arc::new(Mutex::new(vec![
            ("udp:127.0.0.21:5060".to_string(), a),
            ("udp:127.0.0.22:5060".to_string(), b),
        ]));
        let mut out = String::new();
        super::render(&mut out, &registry);
        for line in [
            "sipedge_core_target_up{target=\"udp:127.0.0.21:5060\"} 1",
            "sipedge_core_target_up{target=\"udp:127.0.0.22:5060\"} 0",
            "sipedge_core_target_probe_seconds{target=\"udp:127.0.0.21:5060\"} 0.0015",
            "sipedge_core_target_requests_total{target=\"udp:127.0.0.21:5060\"} 7",
            "sipedge_core_target_failovers_total{target=\"udp:127.0.0.22:5060\"} 3",
            "# TYPE sipedge_core_tls_failures_total counter",
        ] {
            assert!(out.lines().any(|l| l == line), "{line} missing in:\n{out}");
        }
    }
}
