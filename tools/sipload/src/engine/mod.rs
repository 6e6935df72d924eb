//! The shared load engine: worker processes, connection ramp, hold, traffic phase, statistics.
//!
//! A run is one parent process and `--procs` worker processes (the same binary re-executed with a hidden
//! `--child INDEX/COUNT`). Each worker opens its share of the connections at its share of the ramp rate,
//! from its slice of the source addresses, and reports `up` on stdout. Once every worker is up, the
//! parent samples the watched server, waits `--hold` seconds, samples again and writes `go` to every
//! worker's stdin; the workers then run the scenario's traffic for `--duration` seconds on every
//! connection and print their statistics as one JSON line, which the parent merges.
//!
//! A scenario (echo; the SIP register/message/call/mix) plugs in through [`Scenario`]: it turns the
//! opened WebSocket into its session (a SIP scenario registers here), keeps the session alive through
//! the hold (answering pings, re-registering), and drives the traffic phase, recording each transaction
//! in the [`Recorder`].

mod child;
mod failures;
mod parent;
mod plot;
mod progress;
mod record;
mod report;

use std::future::Future;
use std::time::{Duration, Instant};

pub use child::run_child;
pub use parent::run_parent;
pub use record::{HANDSHAKE, Recorder};
pub use report::{ProcReport, Report};

use tokio::sync::watch;

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
    /// How long the ramp took (connections / --ramp): a scenario may spread its one exchange of
    /// `--duration 0` over it, by index, so the server sees it at the rate it saw the connections.
    pub spread: Duration,
}

/// The parent's `go`: when the traffic phase starts.
#[derive(Debug)]
pub struct Go(watch::Receiver<Option<Instant>>);

impl Go {
    pub(crate) fn new(rx: watch::Receiver<Option<Instant>>) -> Self {
        Self(rx)
    }

    /// Waits for `go` and returns its instant; `None` if the run is over without one (the parent gave
    /// up). Cancel-safe: a `select!` may drop it and call it again.
    pub async fn wait(&mut self) -> Option<Instant> {
        loop {
            if let Some(at) = *self.0.borrow_and_update() {
                return Some(at);
            }
            if self.0.changed().await.is_err() {
                return *self.0.borrow();
            }
        }
    }
}

/// One kind of load: what happens on each connection.
pub trait Scenario: Send + Sync + 'static {
    /// One connection's state from setup to close (the WebSocket, and e.g. a SIP user agent).
    type Session: Send + 'static;

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

    /// How long a worker waits after the traffic phase for the last transactions to end (a call that
    /// began at the end: its INVITE and its BYE may each take the transaction time-out).
    fn drain_limit(&self) -> Duration {
        DRAIN_LIMIT
    }

    /// Runs once per connection right after the WebSocket opened, before the hold (a SIP scenario
    /// registers here). An error counts the connection as failed.
    fn setup(
        &self,
        ws: WsClient,
        index: u64,
        rec: &Recorder,
    ) -> impl Future<Output = Result<Self::Session, LoadError>> + Send;

    /// Keeps the session alive until `go` (answering the server, re-registering) and returns `go`'s
    /// instant, `None` if the run ended without one. An error counts as a broken session. The default
    /// just waits.
    fn hold(
        &self,
        session: &mut Self::Session,
        go: &mut Go,
        rec: &Recorder,
    ) -> impl Future<Output = Result<Option<Instant>, LoadError>> + Send {
        let _ = (session, rec);
        async move { Ok(go.wait().await) }
    }

    /// The traffic phase on one connection until `plan.end` (or once), recording each transaction in
    /// `rec`. An error ends this connection's traffic and counts as a broken session.
    fn traffic(
        &self,
        session: &mut Self::Session,
        plan: &Plan,
        rec: &Recorder,
    ) -> impl Future<Output = Result<(), LoadError>> + Send;

    /// Closes the session.
    fn close(&self, session: Self::Session) -> impl Future<Output = ()> + Send;
}

/// How long one connection may take to connect and upgrade.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long one exchange may take.
pub const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a worker waits at least after the traffic phase for its last transactions (and calls) to end
/// ([`Scenario::drain_limit`] may ask for more).
pub const DRAIN_LIMIT: Duration = Duration::from_secs(40);
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
    // Refuse a bad --ca, token file or cookie before starting workers.
    crate::connector::Connector::from_args(args)?;
    let report = run_parent(args, scenario.name(), scenario.drain_limit())?;
    print!("{}", report.summary());
    if let Some(path) = &args.plot {
        plot::write_svg(&report, path).map_err(|e| crate::error::RunError::Report {
            path: path.display().to_string(),
            source: std::io::Error::other(e),
        })?;
    }
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
