//! The picture of a run, as one SVG: the script's phases, the breaker's state, each policy's
//! error rate against the alert thresholds, the latencies, and the traffic (calls, retries,
//! rejections); under it, what the policies saved. The dashboard shows the same picture live.

use super::record::{Row, Sample};
use super::service::TIMEOUT;
use super::upstream::{SLOW, SLOW_PHASE};
use resilient::BreakerState;
use resilient::registry::PolicyKind;
use std::fmt::Write as _;

const WIDTH: f64 = 1100.0;
/// Room for the axes' labels on the left, the legends on the right.
const LEFT: f64 = 64.0;
const RIGHT: f64 = 830.0;
/// Where the summary's lines begin, under the charts.
const SUMMARY: f64 = 560.0;

/// A chart's place on the picture, and how its values map to heights.
struct Panel {
    top: f64,
    height: f64,
    scale: Scale,
}

#[derive(Clone, Copy)]
enum Scale {
    /// Square root from 0 to 1: small rates such as the alert thresholds stay visible.
    Rate,
    /// Logarithmic, from 0.1 ms to 2 s.
    Millis,
    /// Linear, from 0 to the given maximum.
    Linear(f64),
}

impl Panel {
    /// The height of `value`, from 0 (bottom) to 1 (top).
    fn fraction(&self, value: f64) -> f64 {
        let f = match self.scale {
            Scale::Rate => value.max(0.0).sqrt(),
            Scale::Millis => (value.max(0.1) * 10.0).log10() / 20_000f64.log10(),
            Scale::Linear(max) => value / max,
        };
        f.clamp(0.0, 1.0)
    }

    fn y(&self, value: f64) -> f64 {
        self.top + self.height * (1.0 - self.fraction(value))
    }
}

/// Maps seconds to the horizontal axis.
struct Time {
    start: f64,
    end: f64,
}

impl Time {
    fn x(&self, t: f64) -> f64 {
        LEFT + (RIGHT - LEFT) * (t - self.start) / (self.end - self.start).max(1e-9)
    }
}

/// The SVG of `history`; a picture that says so when there is nothing yet.
pub(crate) fn svg(history: &[Sample]) -> String {
    let summary = summary(history);
    let height = SUMMARY + 18.0 * summary.len() as f64;
    let mut out = String::new();
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" font-family="system-ui, sans-serif" font-size="12">
<rect width="100%" height="100%" fill="#ffffff"/>
<text x="{LEFT}" y="22" font-size="16" font-weight="bold">A service through fallback › retry › circuit breaker › bulkhead › timeout, in front of a failing upstream</text>
"##
    );
    let (Some(first), Some(last)) = (history.first(), history.last()) else {
        out.push_str(r#"<text x="64" y="60">No sample yet.</text></svg>"#);
        return out;
    };
    let time = Time {
        start: first.t - first.dt,
        end: last.t,
    };
    phases(&mut out, &time, history);
    states(&mut out, &time, history);

    errors(&mut out, &time, history);
    latencies(&mut out, &time, history);
    let bottom = traffic(&mut out, &time, history);
    seconds(&mut out, &time, bottom);
    for (i, line) in summary.iter().enumerate() {
        let _ = writeln!(
            out,
            r#"<text x="{LEFT}" y="{}" class="summary">{}</text>"#,
            SUMMARY + 18.0 * i as f64,
            escape(line)
        );
    }
    out.push_str("</svg>\n");
    out
}

/// Each policy's error rate, against the alert thresholds.
fn errors(out: &mut String, time: &Time, history: &[Sample]) {
    let errors = Panel {
        top: 110.0,
        height: 120.0,
        scale: Scale::Rate,
    };
    let ticks = [(0.01, "1%"), (0.05, "5%"), (0.25, "25%"), (1.0, "100%")];
    axis(out, &errors, "errors", &ticks);
    // The registry's alert monitors judge every policy with the default thresholds
    // (`AlertThresholds::new()`): these rates, over these windows.
    threshold(out, &errors, time, 0.01, "warning > 1% (5 min)", "#f9a825");
    threshold(out, &errors, time, 0.05, "critical > 5% (1 min)", "#c62828");
    // Where they coincide (every call failing), the lines drawn first show around the later.
    let error_rate = |_: &Sample, row: &Row| row.counts.error_rate();
    let thick = |width, line: Line| Line { width, ..line };
    draw(
        out,
        &errors,
        time,
        history,
        &[
            thick(
                5.0,
                Line::new(
                    PolicyKind::CircuitBreaker,
                    "breaker: failed or rejected",
                    "#c62828",
                    error_rate,
                ),
            ),
            thick(
                3.0,
                Line::new(
                    PolicyKind::Retry,
                    "retry: calls failed",
                    "#ef6c00",
                    error_rate,
                ),
            ),
            Line::new(
                PolicyKind::Timeout,
                "timeout: attempts cut",
                "#6a1b9a",
                error_rate,
            ),
            Line::new(
                PolicyKind::Bulkhead,
                "bulkhead: attempts refused",
                "#8d6e63",
                error_rate,
            ),
            Line::new(
                PolicyKind::Fallback,
                "fallback: left unanswered",
                "#1565c0",
                error_rate,
            ),
        ],
    );
}

/// The latencies of the calls and of the attempts, against the timeout.
fn latencies(out: &mut String, time: &Time, history: &[Sample]) {
    let latency = Panel {
        top: 260.0,
        height: 120.0,
        scale: Scale::Millis,
    };
    let ticks = [
        (0.1, "0.1 ms"),
        (1.0, "1 ms"),
        (10.0, "10 ms"),
        (100.0, "100 ms"),
        (1000.0, "1 s"),
    ];
    axis(out, &latency, "latency", &ticks);
    let timeout_ms = TIMEOUT.as_secs_f64() * 1000.0;
    threshold(out, &latency, time, timeout_ms, "timeout", "#6a1b9a");
    let p50 = |_: &Sample, row: &Row| row.latency.map(|p| p.p50_ms);
    let p99 = |_: &Sample, row: &Row| row.latency.map(|p| p.p99_ms);
    let dashed = |line: Line| Line {
        dash: "5 3",
        ..line
    };
    draw(
        out,
        &latency,
        time,
        history,
        &[
            Line::new(PolicyKind::Fallback, "calls p50", "#1565c0", p50),
            dashed(Line::new(PolicyKind::Fallback, "calls p99", "#1565c0", p99)),
            Line::new(PolicyKind::Timeout, "attempts p50", "#2e7d32", p50),
            dashed(Line::new(
                PolicyKind::Timeout,
                "attempts p99",
                "#2e7d32",
                p99,
            )),
        ],
    );
}

/// Calls, fallback answers, rejections and retries, a second. Returns where it ends.
fn traffic(out: &mut String, time: &Time, history: &[Sample]) -> f64 {
    let traffic_lines = [
        Line::new(PolicyKind::Fallback, "calls/s", "#1565c0", |s, r| {
            Some(s.per_second(r.counts.calls))
        }),
        Line::new(
            PolicyKind::Fallback,
            "fallback answers/s",
            "#00838f",
            |s, r| Some(s.per_second(r.counts.answered)),
        ),
        Line::new(
            PolicyKind::CircuitBreaker,
            "rejected/s",
            "#c62828",
            |s, r| Some(s.per_second(r.counts.rejected)),
        ),
        Line::new(PolicyKind::Retry, "retries/s", "#ef6c00", |s, r| {
            Some(s.per_second(r.counts.retries))
        }),
        Line::new(
            PolicyKind::Retry,
            "retries withheld/s",
            "#8d6e63",
            |s, r| Some(s.per_second(r.counts.withheld)),
        ),
    ];
    let highest = (history.iter())
        .flat_map(|s| traffic_lines.iter().filter_map(move |line| line.value(s)))
        .fold(10.0, f64::max);
    let top = (highest / 20.0).ceil() * 20.0;
    let traffic = Panel {
        top: 410.0,
        height: 100.0,
        scale: Scale::Linear(top),
    };
    let (half, full) = (format!("{}", top / 2.0), format!("{top}"));
    axis(
        out,
        &traffic,
        "per second",
        &[(0.0, "0"), (top / 2.0, &half), (top, &full)],
    );
    draw(out, &traffic, time, history, &traffic_lines);

    traffic.top + traffic.height
}

/// One line of a chart: the value it takes from each sample's row of a kind of policy.
struct Line {
    kind: PolicyKind,
    label: &'static str,
    colour: &'static str,
    dash: &'static str,
    width: f64,
    from_row: fn(&Sample, &Row) -> Option<f64>,
}

impl Line {
    fn new(
        kind: PolicyKind,
        label: &'static str,
        colour: &'static str,
        from_row: fn(&Sample, &Row) -> Option<f64>,
    ) -> Self {
        Self {
            kind,
            label,
            colour,
            dash: "",
            width: 1.6,
            from_row,
        }
    }

    fn value(&self, sample: &Sample) -> Option<f64> {
        (self.from_row)(sample, sample.row(self.kind)?)
    }
}

/// `lines` on `panel`, each named in the panel's legend.
fn draw(out: &mut String, panel: &Panel, time: &Time, history: &[Sample], lines: &[Line]) {
    let mut legend = Legend::new(panel);
    for line in lines {
        let points = history.iter().map(|s| (s.t, line.value(s)));
        series(out, panel, time, points, line);
        legend.add(out, line);
    }
}

/// The script's phases as a band of named spans, from when each began, and a faint line there.
fn phases(out: &mut String, time: &Time, history: &[Sample]) {
    let mut began: Vec<(&str, f64)> = Vec::new();
    for sample in history {
        if began.last() != Some(&(sample.phase, sample.phase_began)) {
            began.push((sample.phase, sample.phase_began));
        }
    }
    for (i, (phase, start)) in began.iter().enumerate() {
        let end = began.get(i + 1).map_or(time.end, |next| next.1);
        let (x0, x1) = (time.x(start.max(time.start)), time.x(end));
        let shade = if i % 2 == 0 { "#eceff1" } else { "#cfd8dc" };
        let _ = writeln!(
            out,
            r##"<rect class="phase" x="{x0:.1}" y="36" width="{:.1}" height="20" fill="{shade}"/><text x="{:.1}" y="50" text-anchor="middle">{}</text><line x1="{x0:.1}" y1="36" x2="{x0:.1}" y2="510" stroke="#b0bec5" stroke-dasharray="2 3"/>"##,
            x1 - x0,
            (x0 + x1) / 2.0,
            escape(phase)
        );
    }
    let _ = writeln!(
        out,
        r#"<text x="{:.1}" y="50" text-anchor="end">phase</text>"#,
        LEFT - 6.0
    );
}

/// Each breaker's state (the first two), a span per sample, coloured (the class names the
/// state), under the phases.
fn states(out: &mut String, time: &Time, history: &[Sample]) {
    let Some(last) = history.last() else { return };
    let breakers = last
        .rows
        .iter()
        .filter(|r| r.kind == PolicyKind::CircuitBreaker);
    for (n, breaker) in breakers.take(2).enumerate() {
        let y = 62.0 + 24.0 * n as f64;
        for sample in history {
            let state = (sample.rows.iter())
                .filter(|r| r.kind == PolicyKind::CircuitBreaker)
                .nth(n)
                .and_then(|r| r.state);
            let Some(state) = state else { continue };
            let (x0, x1) = (time.x(sample.t - sample.dt), time.x(sample.t));
            let _ = writeln!(
                out,
                r#"<rect class="state-{}" x="{x0:.1}" y="{y}" width="{:.1}" height="18" fill="{}"/>"#,
                state.as_str(),
                x1 - x0 + 0.3,
                colour(state)
            );
        }
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{}" text-anchor="end">{}</text>"#,
            LEFT - 6.0,
            y + 13.0,
            escape(breaker.policy)
        );
        let mut x = RIGHT + 10.0;
        for state in [
            BreakerState::Closed,
            BreakerState::Open,
            BreakerState::HalfOpen,
        ] {
            let _ = writeln!(
                out,
                r#"<rect x="{x}" y="{}" width="12" height="12" fill="{}"/><text x="{}" y="{}">{}</text>"#,
                y + 3.0,
                colour(state),
                x + 16.0,
                y + 13.0,
                state.as_str()
            );
            x += 24.0 + 7.0 * state.as_str().len() as f64;
        }
    }
}

fn colour(state: BreakerState) -> &'static str {
    match state {
        BreakerState::Closed => "#66bb6a",
        BreakerState::Open => "#e53935",
        BreakerState::HalfOpen => "#fbc02d",
        _ => "#9e9e9e",
    }
}

/// The panel's frame, its name and its ticks.
fn axis(out: &mut String, panel: &Panel, name: &str, ticks: &[(f64, &str)]) {
    let bottom = panel.top + panel.height;
    let _ = writeln!(
        out,
        r##"<rect x="{LEFT}" y="{}" width="{}" height="{}" fill="none" stroke="#90a4ae"/><text x="{}" y="{}" font-weight="bold">{}</text>"##,
        panel.top,
        RIGHT - LEFT,
        panel.height,
        LEFT + 6.0,
        panel.top + 14.0,
        escape(name)
    );
    for (value, label) in ticks {
        let y = panel.y(*value);
        let _ = writeln!(
            out,
            r##"<line x1="{}" y1="{y:.1}" x2="{LEFT}" y2="{y:.1}" stroke="#90a4ae"/><text x="{}" y="{:.1}" text-anchor="end" font-size="10">{label}</text>"##,
            LEFT - 4.0,
            LEFT - 6.0,
            (y + 3.0).min(bottom)
        );
    }
}

/// A dashed horizontal line at `value`, named at its right end.
fn threshold(out: &mut String, panel: &Panel, time: &Time, value: f64, label: &str, colour: &str) {
    let y = panel.y(value);
    let _ = writeln!(
        out,
        r#"<line class="threshold" x1="{LEFT}" y1="{y:.1}" x2="{RIGHT}" y2="{y:.1}" stroke="{colour}" stroke-dasharray="6 4" opacity="0.7"/><text x="{:.1}" y="{:.1}" text-anchor="end" font-size="10" fill="{colour}">{}</text>"#,
        time.x(time.end) - 4.0,
        y - 3.0,
        escape(label)
    );
}

/// A polyline through the points that have a value.
fn series(
    out: &mut String,
    panel: &Panel,
    time: &Time,
    points: impl Iterator<Item = (f64, Option<f64>)>,
    line: &Line,
) {
    let mut coordinates = String::new();
    for (t, value) in points {
        if let Some(value) = value {
            let _ = write!(coordinates, "{:.1},{:.1} ", time.x(t), panel.y(value));
        }
    }
    let _ = writeln!(
        out,
        r#"<polyline class="series" points="{}" fill="none" stroke="{}" stroke-width="{}" stroke-dasharray="{}" stroke-linejoin="round"/>"#,
        coordinates.trim_end(),
        line.colour,
        line.width,
        line.dash
    );
}

/// The names of a panel's lines, on its right.
struct Legend {
    y: f64,
}

impl Legend {
    fn new(panel: &Panel) -> Self {
        Self {
            y: panel.top + 10.0,
        }
    }

    fn add(&mut self, out: &mut String, line: &Line) {
        let (label, colour, dash) = (line.label, line.colour, line.dash);
        let _ = writeln!(
            out,
            r#"<line x1="{}" y1="{:.1}" x2="{}" y2="{:.1}" stroke="{colour}" stroke-width="2" stroke-dasharray="{dash}"/><text x="{}" y="{:.1}">{}</text>"#,
            RIGHT + 10.0,
            self.y - 4.0,
            RIGHT + 30.0,
            self.y - 4.0,
            RIGHT + 36.0,
            self.y,
            escape(label)
        );
        self.y += 16.0;
    }
}

/// Ticks of the time axis, every 10 s (every 30 s past two minutes).
fn seconds(out: &mut String, time: &Time, y: f64) {
    let step = if time.end - time.start > 120.0 {
        30.0
    } else {
        10.0
    };
    let mut t = (time.start / step).ceil() * step;
    while t <= time.end {
        let x = time.x(t);
        let _ = writeln!(
            out,
            r##"<line x1="{x:.1}" y1="{y}" x2="{x:.1}" y2="{}" stroke="#90a4ae"/><text x="{x:.1}" y="{}" text-anchor="middle" font-size="10">{t:.0} s</text>"##,
            y + 4.0,
            y + 15.0
        );
        t += step;
    }
}

/// What the policies saved over the run, in a few sentences.
pub(crate) fn summary(history: &[Sample]) -> Vec<String> {
    let Some(last) = history.last() else {
        return Vec::new();
    };
    let total = |kind: PolicyKind| last.row(kind).map(|row| row.totals).unwrap_or_default();
    let (calls, breaker, timeout, retry) = (
        total(PolicyKind::Fallback),
        total(PolicyKind::CircuitBreaker),
        total(PolicyKind::Timeout),
        total(PolicyKind::Retry),
    );
    let bulkhead = total(PolicyKind::Bulkhead);
    let during_slow: u64 = (history.iter())
        .filter(|s| s.phase == SLOW_PHASE)
        .filter_map(|s| s.row(PolicyKind::CircuitBreaker))
        .map(|row| row.counts.rejected)
        .sum();
    let saved = timeout.failed as f64 * (SLOW - TIMEOUT).as_secs_f64()
        + during_slow as f64 * SLOW.as_secs_f64();
    let unhealthy: f64 = (history.iter())
        .filter(|s| s.health != 200)
        .map(|s| s.dt)
        .sum();
    let share = |n: u64, of: u64| {
        if of == 0 {
            0.0
        } else {
            100.0 * n as f64 / of as f64
        }
    };
    vec![
        format!(
            "{} requests in {:.0} s: {:.1}% answered with a price ({} of them the last known one, by the fallback); {} left unanswered (502).",
            calls.calls,
            last.t,
            share(calls.calls - calls.failed, calls.calls),
            calls.answered,
            calls.failed
        ),
        format!(
            "The breaker opened {} and rejected {} calls at once: calls not sent to a failing upstream{}.",
            times(breaker.openings),
            breaker.rejected,
            if bulkhead.rejected > 0 {
                format!("; the bulkhead refused {} more", bulkhead.rejected)
            } else {
                String::new()
            }
        ),
        format!(
            "Waiting saved: {} attempts cut at {} ms where the slow upstream took {:.1} s, and {} calls rejected at once while it was slow: {:.0} s ({:.1} minutes) in all.",
            timeout.failed,
            TIMEOUT.as_millis(),
            SLOW.as_secs_f64(),
            during_slow,
            saved,
            saved / 60.0
        ),
        format!(
            "The retry made {} retries ({:.1}% more calls than the clients made) and withheld {} that the retry ratio did not allow.",
            retry.retries,
            share(retry.retries, retry.calls),
            retry.withheld
        ),
        format!(
            "/health answered 503 for {unhealthy:.1} s, while the breaker was not closed: a load balancer would have sent the clients elsewhere."
        ),
    ]
}

/// `once`, `twice`, `3 times`.
fn times(n: u64) -> String {
    match n {
        1 => "once".to_owned(),
        2 => "twice".to_owned(),
        n => format!("{n} times"),
    }
}

/// Text as XML wants it.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
