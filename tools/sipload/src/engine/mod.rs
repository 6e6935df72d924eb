//! The shared load engine: worker processes, connection ramp, hold, traffic phase, statistics.
//!
//! A run is one parent process and `--procs` worker processes (the same binary re-executed with a hidden
//! `--child INDEX/COUNT`). Each worker opens its share of the connections at its share of the ramp rate,
//! from its slice of the source addresses, and reports `up` on stdout. Once every worker is up, the
//! parent samples the watched server, waits `--hold` seconds, samples again and writes `go` to every
//! worker's stdin; the workers then run the scenario's traffic for `--duration` seconds on every
//! connection and print their statistics as one JSON line, which the parent merges.
//!
//! A scenario (echo today; SIP register/message/call later) plugs in through [`Scenario`]: it may do
//! per-connection setup after the WebSocket opens, and it drives the traffic phase on one connection,
//! recording each exchange in the [`Recorder`].

mod child;
mod parent;
mod record;
mod report;

use std::future::Future;
use std::time::{Duration, Instant};

pub use child::run_child;
pub use parent::run_parent;
pub use record::Recorder;
pub use report::{ProcReport, Report};

use crate::error::LoadError;
use crate::ws::WsClient;

/// What the traffic phase of one connection looks like.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// When the traffic phase ends.
    pub end: Instant,
    /// `--duration 0`: one exchange per connection, then stop.
    pub once: bool,
    /// This connection's index in the whole run (0..connections).
    pub index: u64,
    /// Connections in the whole run.
    pub connections: u64,
}

/// One kind of load: what happens on each connection.
pub trait Scenario: Send + Sync + 'static {
    /// Name in reports.
    fn name(&self) -> &'static str;

    /// WebSocket subprotocols to offer (`sip` for the SIP scenarios).
    fn subprotocols(&self) -> &'static [&'static str] {
        &[]
    }

    /// Read buffer per connection (the largest frame expected, plus headers).
    fn read_buffer(&self) -> usize {
        4096
    }

    /// Runs once per connection right after the WebSocket opened, before the hold (a SIP scenario
    /// registers here). An error counts the connection as failed.
    fn setup(
        &self,
        ws: &mut WsClient,
        index: u64,
    ) -> impl Future<Output = Result<(), LoadError>> + Send {
        let _ = (ws, index);
        std::future::ready(Ok(()))
    }

    /// The traffic phase on one connection: exchange messages until `plan.end` (or once), recording
    /// each success in `rec`. An error ends this connection's traffic and is counted as a failed message.
    fn traffic(
        &self,
        ws: &mut WsClient,
        plan: &Plan,
        rec: &Recorder,
    ) -> impl Future<Output = Result<(), LoadError>> + Send;
}

/// How long one connection may take to connect and upgrade.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long one exchange may take.
pub const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);
/// Extra time on top of ramp + hold + duration before a run is cut.
pub const SLACK: Duration = Duration::from_secs(60);

/// Runs `scenario` as the parent of a run or, with `--child`, as one of its workers. The parent prints
/// the summary, writes `--json` and returns success only if nothing failed.
pub fn run<S: Scenario>(
    args: &crate::cli::EngineArgs,
    scenario: S,
) -> Result<std::process::ExitCode, crate::error::RunError> {
    use std::process::ExitCode;
    if let Some(spec) = args.child {
        run_child(args, spec, scenario)?;
        return Ok(ExitCode::SUCCESS);
    }
    let report = run_parent(args, scenario.name())?;
    print!("{}", report.summary());
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report).unwrap_or_default();
        std::fs::write(path, text + "\n").map_err(|source| crate::error::RunError::Report {
            path: path.display().to_string(),
            source,
        })?;
    }
    Ok(if report.clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
