//! The watched server's CPU time and memory, from `/proc`: the watched process and its descendants
//! summed (a multi-process server such as Kamailio forks its workers; Pss shares their common pages
//! fairly, so the sum is the user-space memory of the whole server).

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
    /// Processes summed.
    #[serde(default)]
    pub processes: usize,
}

/// utime + stime of `pid` in seconds.
pub fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    cpu_from_stat(&stat)
}

/// The parent pid from a `/proc/PID/stat` line.
fn ppid_from_stat(stat: &str) -> Option<u32> {
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// `pid` and every live descendant of it.
pub fn tree(pid: u32) -> Vec<u32> {
    let mut parent_of = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Some(p) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            if let Some(pp) = std::fs::read_to_string(format!("/proc/{p}/stat"))
                .ok()
                .as_deref()
                .and_then(ppid_from_stat)
            {
                parent_of.push((p, pp));
            }
        }
    }
    let mut out = vec![pid];
    let mut i = 0;
    while let Some(&p) = out.get(i) {
        out.extend(
            parent_of
                .iter()
                .filter(|&&(c, pp)| pp == p && c != p)
                .map(|&(c, _)| c),
        );
        i += 1;
    }
    out
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

/// CPU seconds, Rss and Pss of one process; `None` if it is gone.
fn sample_one(pid: u32) -> Option<Sample> {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    Some(Sample {
        cpu_secs: cpu_secs(pid)?,
        rss_kib: kib_field(&rollup, "Rss:")?,
        pss_kib: kib_field(&rollup, "Pss:")?,
        processes: 1,
    })
}

/// CPU seconds, Rss and Pss of `pid` and its descendants, summed; `None` if `pid` is gone.
pub fn sample(pid: u32) -> Option<Sample> {
    let mut total = sample_one(pid)?;
    for child in tree(pid).into_iter().skip(1) {
        if let Some(s) = sample_one(child) {
            total.cpu_secs += s.cpu_secs;
            total.rss_kib += s.rss_kib;
            total.pss_kib += s.pss_kib;
            total.processes += 1;
        }
    }
    Some(total)
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
        assert_eq!(ppid_from_stat(stat), Some(1));
    }

    #[test]
    fn the_tree_holds_a_spawned_child() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .expect("sleep runs");
        let t = tree(std::process::id());
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(t.first(), Some(&std::process::id()));
        assert!(t.contains(&child.id()), "{t:?}");
    }

    #[test]
    fn samples_this_process() {
        let s = sample(std::process::id()).expect("own /proc entry");
        assert!(s.rss_kib > 0 && s.pss_kib > 0 && s.pss_kib <= s.rss_kib);
        assert_eq!(sample(u32::MAX), None);
        assert!(s.processes >= 1);
        let rollup = "Rss:                1234 kB\nPss:                 567 kB\n";
        assert_eq!(kib_field(rollup, "Pss:"), Some(567));
    }
}
