//! The live view in the terminal: the policies' table, redrawn in place twice a second with ANSI
//! escapes, under the lines that stay (the script's phases, as they begin). The whole screen is
//! drawn again each time, in one write: a line that wraps in a narrow terminal cannot throw the
//! table off. When stdout is not a terminal (a pipe, a CI log), it prints those lines and a
//! summary line every few seconds instead.

use super::record::{COLUMNS, Sample, cells};
use resilient::BreakerState;
use resilient::registry::PolicyKind;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write};

/// Without a terminal, a line every this many samples (5 s).
const QUIET: usize = 10;

/// The lines that stay on screen above the table, the newest (older ones scroll away).
const KEPT: usize = 16;

pub(crate) struct Live {
    terminal: bool,
    /// The lines that stay, drawn above the table.
    said: Vec<String>,
    frames: usize,
}

impl Live {
    /// A view of stdout.
    pub(crate) fn new() -> Self {
        Self {
            terminal: std::io::stdout().is_terminal(),
            said: Vec::new(),
            frames: 0,
        }
    }

    /// A line that stays: above the table in a terminal, at once otherwise.
    pub(crate) fn say(&mut self, line: String) {
        if self.terminal {
            self.said.push(line);
            let old = self.said.len().saturating_sub(KEPT);
            self.said.drain(..old);
        } else {
            println!("{line}");
        }
    }

    /// The next frame, with the last sample.
    pub(crate) fn show(&mut self, sample: Option<&Sample>) {
        let mut frame = String::new();
        if self.terminal {
            // Home, clear the screen, draw.
            frame.push_str("\x1b[H\x1b[J");
            for line in &self.said {
                let _ = writeln!(frame, "{line}");
            }
            frame.push_str(&sample.map(table).unwrap_or_default());
        } else if let Some(sample) = sample.filter(|_| self.frames % QUIET == 0) {
            let _ = writeln!(frame, "{}", line(sample));
        }
        self.frames += 1;
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(frame.as_bytes());
        let _ = stdout.flush();
    }

    /// Leaves the screen as it was last drawn: what follows is printed under it.
    pub(crate) fn stop(&mut self) {
        self.terminal = false;
    }
}

/// The table: a heading, then a line per policy, the columns aligned, the states coloured.
fn table(sample: &Sample) -> String {
    let rows: Vec<[String; 10]> = sample.rows.iter().map(|row| cells(sample, row)).collect();
    let width = |i: usize| {
        (rows.iter().map(|r| r[i].chars().count()))
            .chain([COLUMNS[i].len()])
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..COLUMNS.len()).map(width).collect();
    let line = |cells: &[String], states: Option<BreakerState>| {
        let mut out = String::from("  ");
        for (i, text) in cells.iter().enumerate() {
            // Names to the left, numbers to the right.
            let padded = if !(3..8).contains(&i) {
                format!("{text:<w$}  ", w = widths[i])
            } else {
                format!("{text:>w$}  ", w = widths[i])
            };
            match (i, states) {
                (2, Some(state)) => out.push_str(&paint(&padded, state)),
                _ => out.push_str(&padded),
            }
        }
        out.trim_end().to_owned() + "\n"
    };
    let mut out = format!(
        "\n  {:.1} s · phase {} · /health {}\n",
        sample.t, sample.phase, sample.health
    );
    let heading: Vec<String> = COLUMNS.iter().map(|c| (*c).to_owned()).collect();
    out.push_str(&line(&heading, None));
    for (row, cells) in sample.rows.iter().zip(&rows) {
        out.push_str(&line(cells, row.state));
    }
    out
}

/// `text` in the colour of `state`.
fn paint(text: &str, state: BreakerState) -> String {
    let colour = match state {
        BreakerState::Closed => "32",
        BreakerState::HalfOpen => "33",
        _ => "31;1",
    };
    format!("\x1b[{colour}m{text}\x1b[0m")
}

/// One line for a log: time, phase, health, the breaker, and what the clients got.
fn line(sample: &Sample) -> String {
    let mut out = format!(
        "{:>6.1} s  {:<8}  /health {}",
        sample.t, sample.phase, sample.health
    );
    if let Some(breaker) = sample.row(PolicyKind::CircuitBreaker) {
        let state = breaker.state.map_or("-", BreakerState::as_str);
        let rejected = sample.per_second(breaker.counts.rejected);
        let _ = write!(out, "  breaker {state}, {rejected:.0} rejected/s");
    }
    if let Some(fallback) = sample.row(PolicyKind::Fallback) {
        let calls = sample.per_second(fallback.counts.calls);
        let answered = sample.per_second(fallback.counts.answered);
        let _ = write!(out, "  {calls:.0} calls/s, {answered:.0} by the fallback");
        if let Some(latency) = fallback.latency {
            let _ = write!(out, ", p99 {:.1} ms", latency.p99_ms);
        }
    }
    out
}
