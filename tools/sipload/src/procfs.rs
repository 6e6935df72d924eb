//! The watched server's CPU time and memory, from `/proc`.

use serde::{Deserialize, Serialize};

/// One look at a process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// utime + stime, in seconds (clock ticks at the usual 100 Hz).
    pub cpu_secs: f64,
    /// Resident set, KiB (`smaps_rollup` Rss).
    pub rss_kib: u64,
    /// Proportional set, KiB (`smaps_rollup` Pss).
    pub pss_kib: u64,
}

/// utime + stime of `pid` in seconds.
pub fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    cpu_from_stat(&stat)
}

fn cpu_from_stat(stat: &str) -> Option<f64> {
    // Fields after the command name (which may hold spaces and parentheses): state is field 3,
    // utime field 14, stime field 15.
    let rest = stat.rsplit_once(')')?.1;
    let mut fields = rest.split_whitespace();
    let utime: f64 = fields.nth(11)?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

fn kib_field(text: &str, name: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(name))?;
    line.get(name.len()..)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// CPU seconds, Rss and Pss of `pid`; `None` if the process is gone.
pub fn sample(pid: u32) -> Option<Sample> {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    Some(Sample {
        cpu_secs: cpu_secs(pid)?,
        rss_kib: kib_field(&rollup, "Rss:")?,
        pss_kib: kib_field(&rollup, "Pss:")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_odd_command_names() {
        let stat =
            "4242 (echo (x) y) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 3 0 1 2 3";
        assert_eq!(cpu_from_stat(stat), Some(3.25));
        assert_eq!(cpu_from_stat("garbage"), None);
    }

    #[test]
    fn samples_this_process() {
        let s = sample(std::process::id()).expect("own /proc entry");
        assert!(s.rss_kib > 0 && s.pss_kib > 0 && s.pss_kib <= s.rss_kib);
        assert_eq!(sample(u32::MAX), None);
        let rollup = "Rss:                1234 kB\nPss:                 567 kB\n";
        assert_eq!(kib_field(rollup, "Pss:"), Some(567));
    }
}
