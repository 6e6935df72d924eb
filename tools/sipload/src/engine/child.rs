//! A worker process: open this worker's share of the connections, report `up`, wait for `go`, run the
//! traffic, report the statistics.

use std::io::{BufRead, Write};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;

use super::{CONNECT_TIMEOUT, Go, HANDSHAKE, Plan, ProcReport, Recorder, SLACK, Scenario};
use crate::cli::EngineArgs;
use crate::connector::Connector;
use crate::error::{LoadError, RunError};
use crate::target::ChildSpec;
use crate::ws::WsClient;

/// A line a worker prints on stdout for the parent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum ChildLine {
    /// Every connection of this worker was tried; this many opened and failed.
    Up {
        /// Opened.
        ok: u64,
        /// Failed.
        failed: u64,
    },
    /// Counters so far, every half second (for the parent's progress bars).
    Progress(Progress),
    /// The traffic phase is over.
    Done(ProcReport),
}

/// A worker's counters so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// Connections opened.
    pub up: u64,
    /// Connections that failed to open.
    pub failed: u64,
    /// Transactions that succeeded.
    pub tx_ok: u64,
    /// Transactions that failed or timed out, plus broken sessions.
    pub tx_failed: u64,
}

/// Prints this worker's counters every half second until aborted.
fn report_progress(rec: Arc<Recorder>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tick.tick().await;
            let p = {
                let c = rec.lock();
                Progress {
                    up: c.connections_ok,
                    failed: c.connections_failed,
                    tx_ok: c.transactions_ok(),
                    tx_failed: c.transactions_failed(),
                }
            };
            say(&ChildLine::Progress(p));
        }
    })
}

fn say(line: &ChildLine) {
    if let Ok(text) = serde_json::to_string(line) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    }
}

/// Runs worker `spec` of the run described by `args`.
pub fn run_child<S: Scenario>(
    args: &EngineArgs,
    spec: ChildSpec,
    scenario: S,
) -> Result<(), RunError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()
        .map_err(RunError::Runtime)?;
    rt.block_on(child_main(args.clone(), spec, Arc::new(scenario)))
}

/// Waits for the parent's `go` on stdin (`false` if stdin closed or said something else).
fn wait_for_go() -> oneshot::Receiver<bool> {
    let (tx, rx) = oneshot::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let go = matches!(std::io::stdin().lock().read_line(&mut line), Ok(n) if n > 0)
            && line.trim() == "go";
        let _ = tx.send(go);
    });
    rx
}

async fn child_main<S: Scenario>(
    args: EngineArgs,
    spec: ChildSpec,
    scenario: Arc<S>,
) -> Result<(), RunError> {
    let total = args.connections;
    let mine = spec.share(total);
    let first: u64 = (0..spec.index)
        .map(|index| ChildSpec { index, ..spec }.share(total))
        .sum();
    let sources: Vec<IpAddr> = args
        .sources
        .map(|r| r.slice(spec.index, spec.count))
        .unwrap_or_default();
    let rate = (args.ramp.0 / spec.count as f64).max(0.001);
    // One TLS client configuration (and session cache) for all of this worker's connections.
    let target = Arc::new(Connector::from_args(&args)?);
    let rec = Arc::new(Recorder::default());
    let (go_tx, go_rx) = watch::channel(None::<Instant>);
    let (up_tx, mut up_rx) = mpsc::unbounded_channel::<bool>();
    let mut tasks = JoinSet::new();

    let progress = report_progress(Arc::clone(&rec));
    let started = tokio::time::Instant::now();
    let go_deadline = Instant::now()
        + Duration::from_secs_f64(args.ramp_secs())
        + Duration::from_secs(args.hold)
        + SLACK;
    for k in 0..mine {
        tokio::time::sleep_until(started + Duration::from_secs_f64(k as f64 / rate)).await;
        let source = sources.get(k as usize % sources.len().max(1)).copied();
        tasks.spawn(connection(
            Arc::clone(&scenario),
            Arc::clone(&target),
            source,
            first + k,
            up_tx.clone(),
            go_rx.clone(),
            Arc::clone(&rec),
            (args.duration, total, args.ramp_secs(), args.reconnect),
        ));
    }
    drop(up_tx);
    let (ok, failed) = count_up(&mut up_rx, mine).await;
    say(&ChildLine::Up { ok, failed });

    let go = tokio::time::timeout_at(go_deadline.into(), wait_for_go()).await;
    if !matches!(go, Ok(Ok(true))) {
        // The parent is gone or gave up: stop quietly.
        tasks.abort_all();
        return Err(RunError::Worker {
            index: spec.index,
            what: "no `go` from the parent".into(),
        });
    }
    let traffic_start = Instant::now();
    rec.start_traffic();
    let _ = go_tx.send(Some(traffic_start));
    // --duration 0 spreads its exchanges over the ramp's length.
    let traffic_deadline = traffic_start
        + Duration::from_secs(args.duration)
        + Duration::from_secs_f64(args.ramp_secs().clamp(0.0, 600.0))
        + scenario.drain_limit();
    join_traffic(&mut tasks, traffic_deadline, &rec).await;
    let secs = traffic_start.elapsed().as_secs_f64();
    progress.abort();
    let (deflate, bytes) = target.totals().snapshot();
    let report = ProcReport {
        deflate,
        bytes,
        ..ProcReport::from_counts(&rec.lock(), secs)
    };
    say(&ChildLine::Done(report));
    Ok(())
}

/// Counts the connections that opened and failed until all `mine` were tried (or every task is gone).
async fn count_up(up_rx: &mut mpsc::UnboundedReceiver<bool>, mine: u64) -> (u64, u64) {
    let (mut ok, mut failed) = (0, 0);
    while let Some(up) = up_rx.recv().await {
        if up {
            ok += 1;
        } else {
            failed += 1;
        }
        if ok + failed == mine {
            break;
        }
    }
    (ok, failed)
}

/// Waits for every connection task until `deadline`; those still running then are aborted and counted
/// as broken sessions (`timeout: traffic phase overran`).
async fn join_traffic(tasks: &mut JoinSet<()>, deadline: Instant, rec: &Recorder) {
    loop {
        match tokio::time::timeout_at(deadline.into(), tasks.join_next()).await {
            Ok(Some(_)) => {}
            Ok(None) => return,
            Err(_) => {
                let left = tasks.len();
                tasks.abort_all();
                let mut c = rec.lock();
                c.sessions_failed += left as u64;
                *c.errors
                    .entry("timeout: traffic phase overran".into())
                    .or_default() += left as u64;
                return;
            }
        }
    }
}

/// The kind name of a reconnect (from the close of a broken session to the end of the new one's setup).
pub const RECONNECT: &str = "reconnect";

/// Opens one connection and runs the scenario's setup on it.
async fn open<S: Scenario>(
    scenario: &S,
    target: &Connector,
    source: Option<IpAddr>,
    index: u64,
    rec: &Recorder,
) -> Result<S::Session, LoadError> {
    let t0 = Instant::now();
    let ws = WsClient::connect(
        target,
        index,
        source,
        scenario.subprotocols(),
        scenario.read_buffer(),
        CONNECT_TIMEOUT,
    )
    .await?;
    rec.tx_ok(HANDSHAKE, t0.elapsed());
    if let Some(resumed) = ws.tls_resumed {
        rec.tls_handshake(resumed);
    }
    scenario.setup(ws, index, rec).await
}

/// After `broke` ended an open session: with attempts left (`--reconnect`), opens a new one and records
/// a `reconnect` transaction from now to the end of its setup; failed attempts are 100 ms apart, doubling
/// up to 1.6 s. Without attempts left, counts the broken session and returns `None`.
async fn reopen<S: Scenario>(
    scenario: &S,
    (target, source, index): (&Connector, Option<IpAddr>, u64),
    rec: &Recorder,
    broke: &LoadError,
    left: &mut u32,
) -> Option<S::Session> {
    let closed = Instant::now();
    let mut pause = Duration::from_millis(100);
    let mut last = None;
    while *left > 0 {
        *left -= 1;
        match open(scenario, target, source, index, rec).await {
            Ok(s) => {
                rec.tx_ok(RECONNECT, closed.elapsed());
                return Some(s);
            }
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(1600));
    }
    if let Some(e) = last {
        rec.tx_failed_after(RECONNECT, &e, closed.elapsed());
    }
    rec.session_failed(broke);
    None
}

#[allow(clippy::too_many_arguments)]
async fn connection<S: Scenario>(
    scenario: Arc<S>,
    target: Arc<Connector>,
    source: Option<IpAddr>,
    index: u64,
    up: mpsc::UnboundedSender<bool>,
    go: watch::Receiver<Option<Instant>>,
    rec: Arc<Recorder>,
    (duration, connections, ramp_secs, mut left): (u64, u64, f64, u32),
) {
    let mut session = match open(&*scenario, &target, source, index, &rec).await {
        Ok(s) => {
            rec.connection_ok();
            let _ = up.send(true);
            s
        }
        Err(e) => {
            rec.connection_failed(&e);
            let _ = up.send(false);
            return;
        }
    };
    drop(up);
    let whom = (&*target, source, index);
    let mut go = Go::new(go);
    let start = loop {
        match scenario.hold(&mut session, &mut go, &rec).await {
            Ok(Some(start)) => break start,
            Ok(None) => return,
            Err(e) => match reopen(&*scenario, whom, &rec, &e, &mut left).await {
                Some(s) => session = s,
                None => return,
            },
        }
    };
    let plan = Plan {
        end: start + Duration::from_secs(duration),
        once: duration == 0,
        index,
        connections,
        spread: Duration::from_secs_f64(ramp_secs.clamp(0.0, 600.0)),
    };
    loop {
        match scenario.traffic(&mut session, &plan, &rec).await {
            Ok(()) => break,
            // A break after the traffic phase (while lingering) is not worth a new session.
            Err(e) if plan.once || Instant::now() >= plan.end => {
                rec.session_failed(&e);
                break;
            }
            Err(e) => match reopen(&*scenario, whom, &rec, &e, &mut left).await {
                Some(s) => session = s,
                None => return,
            },
        }
    }
    scenario.close(session).await;
}
