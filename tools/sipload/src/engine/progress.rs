//! Progress bars on stderr while a run goes (only when stderr is a terminal): connections opened, then
//! the hold and the traffic phase with the transactions so far.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::child::Progress;

/// The bars of one run, fed with every worker's latest counters.
#[derive(Debug)]
pub struct Bars {
    multi: MultiProgress,
    shown: bool,
    connections: ProgressBar,
    phase: ProgressBar,
    latest: Vec<Progress>,
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}

impl Bars {
    /// Bars for `connections` over `procs` workers; hidden unless stderr is a terminal.
    pub fn new(connections: u64, procs: usize) -> Self {
        let shown = std::io::stderr().is_terminal();
        let target = if shown {
            ProgressDrawTarget::stderr_with_hz(4)
        } else {
            ProgressDrawTarget::hidden()
        };
        let multi = MultiProgress::with_draw_target(target);
        let connections = multi.add(ProgressBar::new(connections));
        connections.set_style(style(
            "connections {bar:40} {pos}/{len} ({per_sec}) {msg} [{elapsed}]",
        ));
        let phase = multi.add(ProgressBar::new(1));
        phase.set_style(style("{prefix:8} {bar:40} {pos}/{len} s {msg}"));
        phase.set_prefix("ramp");
        Self {
            multi,
            shown,
            connections,
            phase,
            latest: vec![Progress::default(); procs],
        }
    }

    /// Worker `index` reported `p`.
    pub fn update(&mut self, index: usize, p: Progress) {
        if let Some(slot) = self.latest.get_mut(index) {
            *slot = p;
        }
        let sum = self
            .latest
            .iter()
            .fold(Progress::default(), |a, b| Progress {
                up: a.up + b.up,
                failed: a.failed + b.failed,
                tx_ok: a.tx_ok + b.tx_ok,
                tx_failed: a.tx_failed + b.tx_failed,
            });
        self.connections.set_position(sum.up + sum.failed);
        self.connections
            .set_message(format!("{} failed", sum.failed));
        self.phase.set_message(format!(
            "transactions {} ok, {} failed",
            sum.tx_ok, sum.tx_failed
        ));
    }

    /// A phase (`hold`, `traffic`) of `secs` seconds began.
    pub fn phase(&self, name: &str, secs: u64) {
        self.connections.finish();
        self.phase.set_prefix(name.to_owned());
        self.phase.set_length(secs.max(1));
        self.phase.set_position(0);
    }

    /// `elapsed` of the current phase went by.
    pub fn tick(&self, elapsed: Duration) {
        self.phase
            .set_position(elapsed.as_secs().min(self.phase.length().unwrap_or(0)));
    }

    /// Prints a line above the bars (plainly on stderr when they are hidden).
    pub fn println(&self, line: String) {
        if !self.shown || self.multi.println(&line).is_err() {
            eprintln!("{line}");
        }
    }

    /// The run is over: remove the bars.
    pub fn clear(&self) {
        self.connections.finish_and_clear();
        self.phase.finish_and_clear();
    }
}
