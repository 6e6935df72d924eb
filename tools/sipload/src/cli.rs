//! Command line: one subcommand per scenario, the engine's flags shared by all.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::target::{ChildSpec, Rate, SourceRange, Target};

/// sipedge's load generator: many WebSocket connections from several processes and source addresses,
/// a scenario on each, merged statistics (connections, msgs/s, latency percentiles) and, with
/// --watch-pid, the server's CPU time and memory.
#[derive(Debug, Parser)]
#[command(name = "sipload", version, about, long_about = None)]
pub struct Cli {
    /// The scenario to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Scenarios.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// WebSocket echo: every connection sends messages of --size bytes and checks each echo.
    Echo(EchoCmd),
}

/// `sipload echo`.
#[derive(Debug, Args)]
pub struct EchoCmd {
    /// Engine flags.
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Echo flags.
    #[command(flatten)]
    pub echo: EchoArgs,
}

/// Flags of the shared engine.
#[derive(Debug, Clone, Args)]
pub struct EngineArgs {
    /// WebSocket URL of the server (ws://HOST:PORT[/PATH]).
    #[arg(long, default_value = "ws://127.0.0.1:9001/")]
    pub target: Target,
    /// Connections to open in total.
    #[arg(long, default_value_t = 100)]
    pub connections: u64,
    /// Worker processes sharing the connections (each one is limited by its own fd limit, ~19,900 here).
    #[arg(long, default_value_t = 1)]
    pub procs: usize,
    /// Source addresses to connect from, A.B.C.D-E.F.G.H (split between the processes; each address
    /// has its own ephemeral port range). Default: the kernel's choice.
    #[arg(long)]
    pub sources: Option<SourceRange>,
    /// Connection opening rate for the whole run, N/s.
    #[arg(long, default_value = "2000/s")]
    pub ramp: Rate,
    /// Seconds to hold every connection open (idle) once all are up, before the traffic phase.
    #[arg(long, default_value_t = 0, value_name = "SECS")]
    pub hold: u64,
    /// Seconds of traffic. 0: every connection does exactly one exchange.
    #[arg(long, default_value_t = 10, value_name = "SECS")]
    pub duration: u64,
    /// Tokio threads per worker process.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Server process to watch: CPU seconds (utime+stime) and Rss/Pss before, held and after.
    #[arg(long, value_name = "PID")]
    pub watch_pid: Option<u32>,
    /// Write the merged report as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Hard time bound for the whole run in seconds (default: ramp time + hold + duration + 60).
    #[arg(long, value_name = "SECS")]
    pub time_limit: Option<u64>,
    /// Internal: run as worker process INDEX/COUNT (set by the parent when it re-executes itself).
    #[arg(long, hide = true)]
    pub child: Option<ChildSpec>,
}

impl EngineArgs {
    /// Seconds the ramp takes at the configured rate.
    pub fn ramp_secs(&self) -> f64 {
        self.connections as f64 / self.ramp.0
    }

    /// The run's hard time bound, seconds.
    pub fn time_bound(&self) -> u64 {
        self.time_limit.unwrap_or_else(|| {
            self.ramp_secs().ceil() as u64
                + self.hold
                + self.duration
                + super::engine::SLACK.as_secs()
        })
    }
}

/// Flags of the echo scenario.
#[derive(Debug, Clone, Args)]
pub struct EchoArgs {
    /// Message size in bytes (text made of printable ASCII).
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub size: u32,
    /// Send binary messages instead of text.
    #[arg(long)]
    pub binary: bool,
    /// Messages per second for the whole run, spread evenly over the connections (one in flight each).
    #[arg(long, conflicts_with = "flat_out")]
    pub rate: Option<Rate>,
    /// Every connection sends its next message as soon as the previous echo arrived.
    #[arg(long)]
    pub flat_out: bool,
}
