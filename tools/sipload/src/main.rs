//! sipload: sipedge's load generator.
//!
//! One engine (worker processes, source addresses, ramp, hold, traffic phase, merged statistics and the
//! watched server's CPU and memory) and scenarios plugged into it: WebSocket `echo`, and the SIP
//! scenarios `register`, `message`, `call` and `mix` (JsSIP-like user agents, see [`sip`]). See
//! `sipload --help`, `tools/scale/` and `tools/compare/` for the runs it serves.
//!
//! ```text
//! sipload echo --target ws://127.0.0.1:9001 --connections 500 --flat-out --duration 10 --watch-pid PID
//! sipload message --target ws://127.0.0.1:8080 --connections 1000 --rate 2000/s --duration 20 \
//!     --watch-pid PID --json out.json --plot out.svg
//! sipload mint-token --secret S --aud sipedge --count 1000 > tokens.txt
//! sipload register --target wss://edge.test:8443 --ca ca.pem --token-file tokens.txt --connections 1000
//! ```
#![forbid(unsafe_code)]

mod cli;
mod connector;
mod engine;
mod error;
mod mint;
mod procfs;
mod scenario;
mod sip;
mod target;
mod tls;
mod wire;
mod ws;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{CallArgs, Cli, Command, EngineArgs, PaceArgs};
use crate::error::RunError;
use crate::scenario::sip::{Mode, Sip};

fn run(cli: Cli) -> Result<ExitCode, RunError> {
    match cli.command {
        Command::Echo(cmd) => {
            if cmd.engine.duration > 0 && cmd.echo.rate.is_none() && !cmd.echo.flat_out {
                return Err(RunError::BadFlag(
                    "echo with --duration > 0 needs --rate N/s or --flat-out".into(),
                ));
            }
            if cmd.echo.window > 1 && !cmd.echo.flat_out {
                return Err(RunError::BadFlag(
                    "echo --window applies to --flat-out only".into(),
                ));
            }
            engine::run(&cmd.engine, scenario::echo::Echo::new(&cmd.echo))
        }
        Command::Register(cmd) => {
            let n = cmd.engine.connections;
            let s = Sip::new(Mode::Register, &cmd.sip, None, None, None, n);
            engine::run(&cmd.engine, s)
        }
        Command::Message(cmd) => {
            check_pace(&cmd.engine, &cmd.pace)?;
            let n = cmd.engine.connections;
            let s = Sip::new(
                Mode::Message,
                &cmd.sip,
                Some(&cmd.pace),
                Some(&cmd.message),
                None,
                n,
            );
            engine::run(&cmd.engine, s)
        }
        Command::Call(cmd) => {
            check_pace(&cmd.engine, &cmd.pace)?;
            check_call(&cmd.call)?;
            let n = cmd.engine.connections;
            let s = Sip::new(
                Mode::Call,
                &cmd.sip,
                Some(&cmd.pace),
                None,
                Some(&cmd.call),
                n,
            );
            engine::run(&cmd.engine, s)
        }
        Command::Mix(cmd) => {
            check_pace(&cmd.engine, &cmd.pace)?;
            check_call(&cmd.call)?;
            let n = cmd.engine.connections;
            let s = Sip::new(
                Mode::Mix(cmd.blend),
                &cmd.sip,
                Some(&cmd.pace),
                Some(&cmd.message),
                Some(&cmd.call),
                n,
            );
            engine::run(&cmd.engine, s)
        }
        Command::Connect(cmd) => engine::run(&cmd.engine, scenario::connect::Connect::new(&cmd)),
        Command::MintToken(args) => {
            mint::run(&args)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A traffic phase longer than one exchange needs a pace.
fn check_pace(engine: &EngineArgs, pace: &PaceArgs) -> Result<(), RunError> {
    if engine.duration > 0 && pace.rate.is_none() && !pace.flat_out {
        return Err(RunError::BadFlag(
            "--duration > 0 needs --rate N/s or --flat-out".into(),
        ));
    }
    Ok(())
}

/// A call's length must be a number of seconds.
fn check_call(call: &CallArgs) -> Result<(), RunError> {
    if !(call.call_secs.is_finite() && call.call_secs >= 0.0) {
        return Err(RunError::BadFlag("--call-secs must be 0 or more".into()));
    }
    Ok(())
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
