//! sipload: sipedge's load generator.
//!
//! One engine (worker processes, source addresses, ramp, hold, traffic phase, merged statistics and the
//! watched server's CPU and memory) and scenarios plugged into it (`echo` today). See `sipload --help`
//! and `tools/scale/` for the runs it serves.
//!
//! ```text
//! sipload echo --target ws://127.0.0.1:9001 --connections 500 --flat-out --duration 10 --watch-pid PID
//! ```
#![forbid(unsafe_code)]

mod cli;
mod engine;
mod error;
mod procfs;
mod scenario;
mod target;
mod ws;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::error::RunError;

fn run(cli: Cli) -> Result<ExitCode, RunError> {
    match cli.command {
        Command::Echo(cmd) => {
            if cmd.engine.duration > 0 && cmd.echo.rate.is_none() && !cmd.echo.flat_out {
                return Err(RunError::BadFlag(
                    "echo with --duration > 0 needs --rate N/s or --flat-out".into(),
                ));
            }
            engine::run(&cmd.engine, scenario::echo::Echo::new(&cmd.echo))
        }
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sipload: {e}");
            ExitCode::from(2)
        }
    }
}
