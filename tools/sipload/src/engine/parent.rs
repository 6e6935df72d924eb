//! The parent process: check the flags against the machine's limits, start the workers, run the
//! barriers (`up`, hold, `go`), sample the watched server, merge the workers' reports.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::child::ChildLine;
use super::progress::Bars;
use super::{ProcReport, Report};
use crate::cli::EngineArgs;
use crate::error::RunError;
use crate::procfs::{self, Sample};

/// Descriptors a worker keeps for itself beside its connections.
const FD_RESERVE: u64 = 100;

/// The soft limit on open files of this process (inherited by the workers).
fn nofile_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.get("Max open files".len()..)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Ports in the kernel's ephemeral range (each source address has its own).
fn ephemeral_ports() -> Option<u64> {
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let mut it = range.split_whitespace().map(str::parse::<u64>);
    let (lo, hi) = (it.next()?.ok()?, it.next()?.ok()?);
    Some(hi.saturating_sub(lo) + 1)
}

/// Refuses runs this machine cannot carry, naming the flag to change.
pub(crate) fn check_limits(args: &EngineArgs) -> Result<(), RunError> {
    let bad = |m: String| Err(RunError::BadFlag(m));
    if args.connections == 0 {
        return bad("--connections must be at least 1".into());
    }
    if args.procs == 0 || args.procs as u64 > args.connections {
        return bad(format!(
            "--procs must be between 1 and --connections ({})",
            args.connections
        ));
    }
    if args.threads == 0 {
        return bad("--threads must be at least 1".into());
    }
    let per_proc = args.connections.div_ceil(args.procs as u64);
    if let Some(limit) = nofile_limit() {
        let budget = limit.saturating_sub(FD_RESERVE);
        if per_proc > budget {
            return bad(format!(
                "{per_proc} connections per process exceed the open-file limit ({limit}, {budget} usable): \
                 use --procs {} or more",
                args.connections.div_ceil(budget.max(1))
            ));
        }
    }
    if let Some(ports) = ephemeral_ports() {
        let sources = args.sources.map_or(1, |r| r.len() as u64);
        // Each worker spreads over its own slice of the addresses.
        let per_source = args
            .connections
            .div_ceil(sources.min(args.connections).max(1));
        if per_source > ports {
            return bad(format!(
                "{} connections need more than the {ports} ephemeral ports of {sources} source address(es): \
                 give --sources with at least {} addresses",
                args.connections,
                args.connections.div_ceil(ports)
            ));
        }
    }
    Ok(())
}

/// The workers; killed and reaped if the parent gives up early.
struct Workers {
    children: Vec<Child>,
    stdins: Vec<Option<ChildStdin>>,
}

impl Drop for Workers {
    fn drop(&mut self) {
        for c in &mut self.children {
            if matches!(c.try_wait(), Ok(None)) {
                let _ = c.kill();
            }
            let _ = c.wait();
        }
    }
}

enum Heard {
    Line(ChildLine),
    Eof,
}

fn spawn_workers(
    args: &EngineArgs,
    tx: &mpsc::Sender<(usize, Heard)>,
) -> Result<Workers, RunError> {
    let exe = std::env::current_exe().map_err(|e| RunError::Worker {
        index: 0,
        what: format!("cannot find own executable: {e}"),
    })?;
    let argv: Vec<OsString> = std::env::args_os().skip(1).collect();
    let mut w = Workers {
        children: Vec::new(),
        stdins: Vec::new(),
    };
    for index in 0..args.procs {
        let mut child = Command::new(&exe)
            .args(&argv)
            .arg("--child")
            .arg(format!("{index}/{}", args.procs))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| RunError::Worker {
                index,
                what: format!("cannot start: {e}"),
            })?;
        let stdout = child.stdout.take();
        w.stdins.push(child.stdin.take());
        w.children.push(child);
        let tx = tx.clone();
        std::thread::spawn(move || {
            if let Some(out) = stdout {
                for line in BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    match serde_json::from_str::<ChildLine>(&line) {
                        Ok(l) => {
                            let _ = tx.send((index, Heard::Line(l)));
                        }
                        Err(e) => {
                            eprintln!("sipload: worker {index} said something odd ({e}): {line}")
                        }
                    }
                }
            }
            let _ = tx.send((index, Heard::Eof));
        });
    }
    Ok(w)
}

fn sample(pid: Option<u32>) -> Sample {
    pid.and_then(procfs::sample).unwrap_or_default()
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Refuses a run before any worker starts: flags beyond the machine's limits, a target that does
/// not accept TCP, a `--watch-pid` that cannot be sampled.
fn preflight(args: &EngineArgs) -> Result<(), RunError> {
    check_limits(args)?;
    std::net::TcpStream::connect_timeout(&args.target.addr, Duration::from_secs(3)).map_err(
        |source| RunError::Unreachable {
            target: args.target.url.clone(),
            source,
        },
    )?;
    if let Some(pid) = args.watch_pid
        && procfs::sample(pid).is_none()
    {
        return Err(RunError::BadFlag(format!(
            "--watch-pid {pid}: no such process (or /proc/{pid}/smaps_rollup unreadable)"
        )));
    }
    Ok(())
}

/// The parent listening to its workers: their lines, the run's time bound and the progress bars.
struct Listener {
    rx: mpsc::Receiver<(usize, Heard)>,
    deadline: Instant,
    /// The time bound in seconds, for the error.
    bound: u64,
    bars: Bars,
}

impl Listener {
    /// Barrier 1: waits until every worker tried all its connections; returns (up, failed).
    fn wait_up(&mut self, procs: usize) -> Result<(u64, u64), RunError> {
        let mut up = vec![false; procs];
        let (mut ok, mut failed) = (0u64, 0u64);
        while up.iter().any(|u| !u) {
            let left = self.deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok((i, Heard::Line(ChildLine::Up { ok: o, failed: f }))) => {
                    if let Some(u) = up.get_mut(i) {
                        *u = true;
                    }
                    ok += o;
                    failed += f;
                }
                Ok((i, Heard::Line(ChildLine::Progress(p)))) => self.bars.update(i, p),
                Ok((i, Heard::Eof)) => {
                    return Err(RunError::Worker {
                        index: i,
                        what: "exited before its connections were up".into(),
                    });
                }
                Ok((_, Heard::Line(ChildLine::Done(_)))) => {}
                Err(_) => return Err(RunError::TimeBound(self.bound)),
            }
        }
        Ok((ok, failed))
    }

    /// Holds every connection open for `secs`, failing if a worker exits meanwhile.
    fn hold(&mut self, workers: &mut Workers, secs: u64) -> Result<(), RunError> {
        let hold_start = Instant::now();
        let hold_end = hold_start + Duration::from_secs(secs);
        while Instant::now() < hold_end {
            if Instant::now() >= self.deadline {
                return Err(RunError::TimeBound(self.bound));
            }
            if let Some(i) = workers
                .children
                .iter_mut()
                .position(|c| !matches!(c.try_wait(), Ok(None)))
            {
                return Err(RunError::Worker {
                    index: i,
                    what: "exited during the hold".into(),
                });
            }
            let wait = hold_end
                .saturating_duration_since(Instant::now())
                .min(Duration::from_millis(250));
            if let Ok((i, Heard::Line(ChildLine::Progress(p)))) = self.rx.recv_timeout(wait) {
                self.bars.update(i, p);
            }
            self.bars.tick(hold_start.elapsed());
        }
        Ok(())
    }

    /// Waits for every worker's report of the traffic phase that began at `go_at`.
    fn collect_reports(
        &mut self,
        procs: usize,
        go_at: Instant,
    ) -> Result<Vec<ProcReport>, RunError> {
        let mut parts: Vec<Option<ProcReport>> = vec![None; procs];
        while parts.iter().any(Option::is_none) {
            let left = self.deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left.min(Duration::from_millis(250))) {
                Ok((i, Heard::Line(ChildLine::Done(r)))) => {
                    if let Some(p) = parts.get_mut(i) {
                        *p = Some(r);
                    }
                }
                Ok((i, Heard::Line(ChildLine::Progress(p)))) => self.bars.update(i, p),
                Ok((i, Heard::Eof)) => {
                    if parts.get(i).is_some_and(Option::is_none) {
                        return Err(RunError::Worker {
                            index: i,
                            what: "exited without a report".into(),
                        });
                    }
                }
                Ok(_) => {}
                Err(mpsc::RecvTimeoutError::Timeout) if !left.is_zero() => {}
                Err(_) => return Err(RunError::TimeBound(self.bound)),
            }
            self.bars.tick(go_at.elapsed());
        }
        Ok(parts.into_iter().flatten().collect())
    }
}

/// Barrier 2: tells every worker to start its traffic.
fn send_go(workers: &mut Workers) -> Result<(), RunError> {
    for (i, stdin) in workers.stdins.iter_mut().enumerate() {
        let sent = stdin
            .as_mut()
            .map(|s| s.write_all(b"go\n").and_then(|()| s.flush()));
        if !matches!(sent, Some(Ok(()))) {
            return Err(RunError::Worker {
                index: i,
                what: "cannot write `go`".into(),
            });
        }
    }
    Ok(())
}

/// Runs the parent side of a run and returns the merged report.
pub fn run_parent(args: &EngineArgs, scenario: &str, drain: Duration) -> Result<Report, RunError> {
    preflight(args)?;
    let bound = args.time_bound(drain);
    let deadline = Instant::now() + Duration::from_secs(bound);
    let before = sample(args.watch_pid);
    let (tx, rx) = mpsc::channel();
    let mut workers = spawn_workers(args, &tx)?;
    drop(tx);
    let mut listener = Listener {
        rx,
        deadline,
        bound,
        bars: Bars::new(args.connections, args.procs),
    };
    let (ok, failed) = listener.wait_up(args.procs)?;
    let up_at = unix_now();
    listener.bars.phase("hold", args.hold);
    listener.bars.println(format!(
        "sipload: {ok} connections up, {failed} failed; holding {} s",
        args.hold
    ));
    listener.hold(&mut workers, args.hold)?;
    let held = sample(args.watch_pid);
    send_go(&mut workers)?;
    let at_go = sample(args.watch_pid);
    let go_at = Instant::now();
    let go_unix = unix_now();
    listener.bars.phase("traffic", args.duration);
    let parts = listener.collect_reports(args.procs, go_at)?;
    let traffic_secs = go_at.elapsed().as_secs_f64();
    let done_unix = unix_now();
    let after = sample(args.watch_pid);
    listener.bars.clear();
    workers.stdins.clear();
    drop(workers);
    let report = Report::merge(
        scenario,
        &args.target.url,
        args.connections,
        &parts,
        (traffic_secs, args.duration as f64),
        [up_at, go_unix, done_unix],
    );
    Ok(match args.watch_pid {
        Some(pid) => report.with_server(pid, before, held, at_go, after),
        None => report,
    })
}
