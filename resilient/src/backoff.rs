//! [`Backoff`]: how long to wait between attempts.

use crate::config::{ConfigError, ConfigValue};
use resilient_duration as duration;
use std::time::Duration;

/// How long to wait after each failed attempt: `delay(1)` after the first, `delay(2)` after the
/// second, and so on.
///
/// No delay ever exceeds `max`, jitter included. Jitter is symmetric: `jitter(0.25)` spreads each
/// delay uniformly over ±25 % of its nominal value (then caps it at `max`), so that clients that
/// failed together do not retry together.
///
/// ```
/// use resilient::Backoff;
/// use std::time::Duration;
///
/// let b = Backoff::exponential(Duration::from_millis(100), Duration::from_secs(1)).jitter(0.0);
/// let delays: Vec<_> = (1..=5).map(|n| b.delay(n).as_millis()).collect();
/// assert_eq!(delays, [100, 200, 400, 800, 1000]);
///
/// let spread = Backoff::exponential(Duration::from_secs(1), Duration::from_secs(60)); // ±25 %
/// assert!((750..=1250).contains(&spread.delay(1).as_millis()));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Backoff {
    kind: Kind,
    base: Duration,
    max: Duration,
    factor: f64,
    jitter: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Exponential,
    Constant,
    Linear,
    Decorrelated,
    None,
}

impl Backoff {
    /// `base`, then doubling (see [`factor`](Self::factor)) up to `max`, with ±25 % jitter (see
    /// [`jitter`](Self::jitter)).
    pub const fn exponential(base: Duration, max: Duration) -> Self {
        Self {
            kind: Kind::Exponential,
            base,
            max,
            factor: 2.0,
            jitter: 0.25,
        }
    }

    /// The same wait every time. It has no cap, so jitter, if set, spreads it both ways.
    pub const fn constant(delay: Duration) -> Self {
        Self {
            kind: Kind::Constant,
            base: delay,
            max: Duration::MAX,
            factor: 1.0,
            jitter: 0.0,
        }
    }

    /// `base`, `2 × base`, `3 × base`, … up to `max`.
    pub const fn linear(base: Duration, max: Duration) -> Self {
        Self {
            kind: Kind::Linear,
            base,
            max,
            factor: 1.0,
            jitter: 0.0,
        }
    }

    /// Random waits that spread out as attempts go on: `delay(n)` is uniform between `base` and
    /// `min(max, base × 3ⁿ)`, the range of AWS's "decorrelated jitter" without its dependence on
    /// the previous draw. Random by construction: [`jitter`](Self::jitter) does not apply.
    pub const fn decorrelated(base: Duration, max: Duration) -> Self {
        Self {
            kind: Kind::Decorrelated,
            base,
            max,
            factor: 3.0,
            jitter: 0.0,
        }
    }

    /// No wait at all.
    pub const fn none() -> Self {
        Self {
            kind: Kind::None,
            base: Duration::ZERO,
            max: Duration::ZERO,
            factor: 1.0,
            jitter: 0.0,
        }
    }

    /// The growth factor of an exponential backoff (default 2.0; at least 1). Other kinds ignore it.
    pub const fn factor(mut self, factor: f64) -> Self {
        if matches!(self.kind, Kind::Exponential) {
            self.factor = factor;
        }
        self
    }

    /// The symmetric jitter fraction, `0.0..=1.0`: 0.25 spreads each delay over ±25 %.
    /// Default 0.25 for exponential, 0 for the others; `decorrelated` ignores it.
    pub const fn jitter(mut self, jitter: f64) -> Self {
        if !matches!(self.kind, Kind::Decorrelated) {
            self.jitter = jitter;
        }
        self
    }

    /// Whether [`jitter`](Self::jitter) changes it: every kind that waits, but `decorrelated`.
    pub(crate) const fn takes_jitter(&self) -> bool {
        matches!(self.kind, Kind::Exponential | Kind::Constant | Kind::Linear)
    }

    /// Whether [`factor`](Self::factor) changes it: `exponential` only.
    pub(crate) const fn takes_factor(&self) -> bool {
        matches!(self.kind, Kind::Exponential)
    }

    /// The longest any delay can be.
    pub const fn max(&self) -> Duration {
        self.max
    }

    /// Checks the settings. [`delay`](Self::delay) never panics on bad ones (it treats a factor
    /// below 1 as 1, clamps jitter into `0..=1`, and `max` always wins over `base`), but a
    /// configuration built at run time should be checked with this first.
    pub const fn validate(&self) -> Result<(), ConfigError> {
        if !matches!(self.kind, Kind::Constant | Kind::None)
            && self.base.as_nanos() > self.max.as_nanos()
        {
            let rule = "`base` must not exceed `max`";
            return Err(ConfigError::new(
                "base",
                ConfigValue::Duration(self.base),
                rule,
            ));
        }
        if !(self.factor >= 1.0 && self.factor.is_finite()) {
            let rule = "`factor` must be a finite number of at least 1.0";
            return Err(ConfigError::new(
                "factor",
                ConfigValue::Fraction(self.factor),
                rule,
            ));
        }
        if !(self.jitter >= 0.0 && self.jitter <= 1.0) {
            let rule = "`jitter` must be between 0.0 and 1.0";
            return Err(ConfigError::new(
                "jitter",
                ConfigValue::Fraction(self.jitter),
                rule,
            ));
        }
        Ok(())
    }

    /// Reads a backoff written as run-time configuration: `none`, `constant(1s)`,
    /// `exponential(100ms, 5s)`, `linear(1s, 10s)` or `decorrelated(100ms, 5s)`, with the
    /// defaults of those constructors (set `jitter` and `factor` apart).
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        const EXPECTED: &str = "expected `none`, `constant(1s)`, `exponential(100ms, 5s)`, `linear(1s, 10s)` or `decorrelated(100ms, 5s)`";
        let text = text.trim();
        if text == "none" {
            return Ok(Self::none());
        }
        let (kind, args) = text
            .strip_suffix(')')
            .and_then(|t| t.split_once('('))
            .ok_or_else(|| format!("`{text}` is not a backoff: {EXPECTED}"))?;
        let durations = args
            .split(',')
            .map(|d| duration::parse(d.trim()))
            .collect::<Result<Vec<_>, _>>()?;
        match (kind.trim(), &durations[..]) {
            ("constant", &[delay]) => Ok(Self::constant(delay)),
            ("exponential", &[base, max]) => Ok(Self::exponential(base, max)),
            ("linear", &[base, max]) => Ok(Self::linear(base, max)),
            ("decorrelated", &[base, max]) => Ok(Self::decorrelated(base, max)),
            _ => Err(format!("`{text}` is not a backoff: {EXPECTED}")),
        }
    }

    /// Written the way [`parse`](Self::parse) reads it; [`refinements`](Self::refinements) apart.
    pub(crate) fn describe(&self) -> String {
        let (base, max) = (duration::write(self.base), duration::write(self.max));
        match self.kind {
            Kind::None => "none".to_owned(),
            Kind::Constant => format!("constant({base})"),
            Kind::Exponential => format!("exponential({base}, {max})"),
            Kind::Linear => format!("linear({base}, {max})"),
            Kind::Decorrelated => format!("decorrelated({base}, {max})"),
        }
    }

    /// Its `factor` and `jitter`, each where its kind takes it.
    pub(crate) fn refinements(&self) -> (Option<f64>, Option<f64>) {
        (
            self.takes_factor().then_some(self.factor),
            self.takes_jitter().then_some(self.jitter),
        )
    }

    /// The wait after the `n`-th failed attempt (`n = 1` is the first wait; 0 counts as 1).
    /// Always finite and at most `max`, for any `n`; a zero `base` never waits, whatever the kind
    /// (a decorrelated draw lies between `base` and `base × 3ⁿ`, so it is zero too).
    pub fn delay(&self, n: u32) -> Duration {
        let needs_randomness = self.jitter > 0.0 || matches!(self.kind, Kind::Decorrelated);
        self.delay_at(
            n,
            if needs_randomness {
                fastrand::f64()
            } else {
                0.5
            },
        )
    }

    /// [`delay`](Self::delay) with the random draw given: `unit` in `0.0..1.0`, 0.5 being the
    /// nominal value.
    pub(crate) fn delay_at(&self, n: u32, unit: f64) -> Duration {
        // Whatever it is multiplied by, zero stays zero; in floating point 0 × ∞ would be NaN.
        if self.base.is_zero() {
            return Duration::ZERO;
        }
        let n = n.max(1);
        let exponent = i32::try_from(n - 1).unwrap_or(i32::MAX);
        let base = self.base.as_nanos() as f64;
        let max = self.max.as_nanos() as f64;
        let nominal = match self.kind {
            Kind::Exponential => base * self.factor.max(1.0).powi(exponent),
            Kind::Constant => base,
            Kind::Linear => base * f64::from(n),
            Kind::Decorrelated => {
                let upper = (base * 3f64.powi(exponent.saturating_add(1))).min(max);
                let drawn = (base + unit * (upper - base).max(0.0)).min(max);
                return duration_from_nanos(drawn).min(self.max);
            }
            Kind::None => 0.0,
        };
        let jitter = if self.jitter.is_nan() {
            0.0
        } else {
            self.jitter.clamp(0.0, 1.0)
        };
        let capped = nominal.min(max);
        duration_from_nanos((capped * (1.0 + jitter * (2.0 * unit - 1.0))).min(max)).min(self.max)
    }
}

impl Default for Backoff {
    /// `exponential(1s, 60s)` with ±25 % jitter.
    fn default() -> Self {
        Self::exponential(Duration::from_secs(1), Duration::from_secs(60))
    }
}

/// Nanoseconds as a duration, rounding, for any input: NaN and anything not above zero are zero,
/// and anything beyond `u64::MAX` nanoseconds (about 584 years) is that, as a float-to-integer
/// `as` saturates and takes NaN to zero.
fn duration_from_nanos(nanos: f64) -> Duration {
    Duration::from_nanos(nanos.round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn nominal(b: Backoff, n: u32) -> u128 {
        b.delay_at(n, 0.5).as_millis()
    }

    #[test]
    fn exponential_doubles_from_base_and_stops_at_max() {
        let b = Backoff::exponential(ms(100), ms(1000));
        let delays: Vec<_> = (1..=6).map(|n| nominal(b, n)).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1000, 1000]);
    }

    #[test]
    fn exponential_uses_its_factor() {
        let b = Backoff::exponential(ms(10), ms(10_000)).factor(3.0);
        let delays: Vec<_> = (1..=4).map(|n| nominal(b, n)).collect();
        assert_eq!(delays, [10, 30, 90, 270]);
    }

    #[test]
    fn exponential_survives_huge_attempt_numbers() {
        let b = Backoff::exponential(ms(100), ms(5000));
        assert_eq!(b.delay_at(u32::MAX, 0.999), ms(5000));
        assert_eq!(b.delay_at(1000, 0.0), ms(3750));
    }

    #[test]
    fn jitter_bounds_are_exact_and_symmetric() {
        let b = Backoff::exponential(ms(1000), ms(60_000)); // ±25 %
        assert_eq!(b.delay_at(1, 0.0), ms(750));
        assert_eq!(b.delay_at(1, 0.5), ms(1000));
        assert_eq!(b.delay_at(1, 1.0), ms(1250));
        assert_eq!(b.delay_at(2, 0.0), ms(1500));
        assert_eq!(b.delay_at(2, 1.0), ms(2500));
    }

    #[test]
    fn jitter_never_exceeds_max() {
        let b = Backoff::exponential(ms(800), ms(1000)).jitter(0.5);
        assert_eq!(b.delay_at(1, 1.0), ms(1000)); // 800 + 50 % = 1200, capped
        assert_eq!(b.delay_at(2, 1.0), ms(1000));
        assert_eq!(b.delay_at(2, 0.0), ms(500)); // capped first, then jittered down
        for _ in 0..10_000 {
            assert!(b.delay(3) <= ms(1000));
        }
    }

    #[test]
    fn jitter_spreads_over_the_whole_range() {
        let b = Backoff::exponential(ms(1000), ms(60_000));
        let samples: Vec<u128> = (0..10_000).map(|_| b.delay(1).as_millis()).collect();
        let (lo, hi) = (
            *samples.iter().min().unwrap(),
            *samples.iter().max().unwrap(),
        );
        assert!((750..760).contains(&lo), "lowest {lo}");
        assert!((1240..=1250).contains(&hi), "highest {hi}");
        let mean = samples.iter().sum::<u128>() as f64 / samples.len() as f64;
        assert!((mean - 1000.0).abs() < 10.0, "mean {mean}");
        let below = samples.iter().filter(|&&d| d < 1000).count();
        assert!(
            (4_700..5_300).contains(&below),
            "{below} of 10000 below the nominal value"
        );
    }

    #[test]
    fn zero_jitter_is_deterministic() {
        let b = Backoff::exponential(ms(100), ms(1000)).jitter(0.0);
        assert!((0..100).all(|_| b.delay(2) == ms(200)));
    }

    #[test]
    fn constant_is_constant_and_jitters_both_ways() {
        let b = Backoff::constant(ms(500));
        assert_eq!(b.delay(1), ms(500));
        assert_eq!(b.delay(1000), ms(500));
        let j = b.jitter(0.2);
        assert_eq!(j.delay_at(7, 0.0), ms(400));
        assert_eq!(j.delay_at(7, 1.0), ms(600));
    }

    #[test]
    fn linear_grows_by_base_up_to_max() {
        let b = Backoff::linear(ms(1000), ms(3500));
        let delays: Vec<_> = (1..=5).map(|n| b.delay(n).as_millis()).collect();
        assert_eq!(delays, [1000, 2000, 3000, 3500, 3500]);
    }

    #[test]
    fn decorrelated_draws_between_base_and_a_growing_bound() {
        let b = Backoff::decorrelated(ms(100), ms(1000));
        assert_eq!(b.delay_at(1, 0.0), ms(100));
        assert_eq!(b.delay_at(1, 1.0), ms(300));
        assert_eq!(b.delay_at(2, 1.0), ms(900));
        assert_eq!(b.delay_at(3, 1.0), ms(1000));
        assert_eq!(b.jitter(0.5), b, "decorrelated ignores jitter");
        for n in 1..50 {
            let d = b.delay(n);
            assert!(d >= ms(100) && d <= ms(1000), "delay({n}) = {d:?}");
        }
        let distinct: std::collections::HashSet<_> = (0..100).map(|_| b.delay(3)).collect();
        assert!(
            distinct.len() > 50,
            "decorrelated should be random, got {} values",
            distinct.len()
        );
    }

    #[test]
    fn none_never_waits() {
        assert!((1..100).all(|n| Backoff::none().delay(n).is_zero()));
    }

    #[test]
    fn default_is_exponential_one_second_to_a_minute_with_quarter_jitter() {
        let b = Backoff::default();
        assert_eq!(b, Backoff::exponential(ms(1000), ms(60_000)).jitter(0.25));
        assert_eq!(b.delay_at(7, 0.5), ms(60_000));
        assert_eq!(b.delay_at(1, 0.0), ms(750));
    }

    #[test]
    fn validate_names_the_bad_setting() {
        let err = Backoff::exponential(ms(2000), ms(1000))
            .validate()
            .unwrap_err();
        assert_eq!(err.key(), "base");
        assert_eq!(err.to_string(), "`base` must not exceed `max` (got 2s)");
        assert_eq!(
            Backoff::default().jitter(1.5).validate().unwrap_err().key(),
            "jitter"
        );
        assert_eq!(
            Backoff::default().factor(0.5).validate().unwrap_err().key(),
            "factor"
        );
        assert_eq!(
            Backoff::default()
                .factor(f64::NAN)
                .validate()
                .unwrap_err()
                .key(),
            "factor"
        );
        assert!(Backoff::default().validate().is_ok());
        assert!(Backoff::constant(ms(5)).jitter(1.0).validate().is_ok());
    }

    const KINDS: [fn(Duration, Duration) -> Backoff; 5] = [
        Backoff::exponential,
        |base, max| Backoff::exponential(base, max).factor(1.0),
        |base, max| {
            Backoff::exponential(base, max)
                .factor(f64::INFINITY)
                .jitter(1.0)
        },
        Backoff::linear,
        Backoff::decorrelated,
    ];

    #[test]
    fn zero_base_never_waits_at_any_attempt() {
        let attempts = [0, 1, 2, 1024, 1025, 1100, u32::MAX];
        let constant = |base, _| Backoff::constant(base).jitter(0.5);
        for (i, kind) in KINDS
            .iter()
            .chain([&(constant as fn(_, _) -> _)])
            .enumerate()
        {
            let b = kind(Duration::ZERO, ms(5000));
            for n in attempts {
                for unit in [0.0, 0.5, 0.999] {
                    assert_eq!(b.delay_at(n, unit), Duration::ZERO, "kind {i}, attempt {n}");
                }
                assert_eq!(b.delay(n), Duration::ZERO, "kind {i}, attempt {n}");
            }
        }
    }

    #[test]
    fn huge_attempts_reach_max_and_stay_there() {
        for kind in [Backoff::exponential, Backoff::linear] {
            let b = kind(ms(10), ms(5000)).jitter(0.0);
            for n in [1024, 1025, u32::MAX] {
                assert_eq!(b.delay_at(n, 0.5), ms(5000), "attempt {n}");
            }
        }
        let d = Backoff::decorrelated(ms(1), ms(5000));
        assert_eq!(d.delay_at(1025, 1.0), ms(5000));
        assert_eq!(d.delay_at(u32::MAX, 0.0), ms(1));
    }

    #[test]
    fn nanoseconds_convert_for_any_float() {
        assert_eq!(duration_from_nanos(f64::NAN), Duration::ZERO);
        assert_eq!(duration_from_nanos(-1.0), Duration::ZERO);
        assert_eq!(duration_from_nanos(f64::NEG_INFINITY), Duration::ZERO);
        assert_eq!(
            duration_from_nanos(f64::INFINITY),
            Duration::from_nanos(u64::MAX)
        );
        assert_eq!(duration_from_nanos(1e30), Duration::from_nanos(u64::MAX));
        assert_eq!(duration_from_nanos(1.5), Duration::from_nanos(2));
    }

    proptest::proptest! {
        /// Every delay of every kind is at most `max`, and a zero base never waits.
        #[test]
        fn every_delay_is_within_max(
            kind in 0..6usize,
            base in proptest::prop_oneof![proptest::strategy::Just(0), 1..1_000_000u64, proptest::num::u64::ANY],
            max in proptest::prop_oneof![1..1_000_000_000u64, proptest::num::u64::ANY],
            factor in proptest::prop_oneof![1.0..1e6f64, proptest::strategy::Just(f64::INFINITY)],
            jitter in 0.0..=1.0f64,
            n in proptest::prop_oneof![0..40u32, 1000..1100u32, proptest::num::u32::ANY],
            unit in 0.0..1.0f64,
        ) {
            let (base, max) = (Duration::from_nanos(base), Duration::from_nanos(max));
            let b = match kind {
                0 => Backoff::exponential(base, max).factor(factor).jitter(jitter),
                1 => Backoff::linear(base, max).jitter(jitter),
                2 => Backoff::decorrelated(base, max),
                3 => Backoff::constant(base).jitter(jitter),
                4 => Backoff::none(),
                _ => Backoff::exponential(base, max).factor(factor),
            };
            for delay in [b.delay_at(n, unit), b.delay(n)] {
                proptest::prop_assert!(delay <= b.max(), "{b:?}: delay({n}) = {delay:?}");
                if base.is_zero() {
                    proptest::prop_assert_eq!(delay, Duration::ZERO);
                }
            }
        }
    }

    #[test]
    fn base_may_equal_max() {
        assert_eq!(Backoff::exponential(ms(5), ms(5)).validate(), Ok(()));
        assert_eq!(Backoff::linear(ms(5), ms(5)).validate(), Ok(()));
    }

    #[test]
    fn parse_reads_what_describe_writes() {
        let written = [
            (Backoff::none(), "none"),
            (Backoff::constant(ms(1500)), "constant(1s500ms)"),
            (
                Backoff::exponential(ms(100), ms(5000)),
                "exponential(100ms, 5s)",
            ),
            (Backoff::linear(ms(1000), ms(10_000)), "linear(1s, 10s)"),
            (
                Backoff::decorrelated(ms(100), ms(60_000)),
                "decorrelated(100ms, 1m)",
            ),
        ];
        for (backoff, text) in written {
            assert_eq!(backoff.describe(), text);
            assert_eq!(Backoff::parse(text), Ok(backoff));
            assert_eq!(Backoff::parse(&format!(" {text} ")), Ok(backoff));
        }
        for bad in [
            "",
            "nothing",
            "constant(1s, 2s)",
            "linear(1s)",
            "exponential(1s, soon)",
        ] {
            assert!(Backoff::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn refinements_are_those_the_kind_takes() {
        let exponential = Backoff::exponential(ms(1), ms(2)).factor(3.0).jitter(0.5);
        assert_eq!(exponential.refinements(), (Some(3.0), Some(0.5)));
        assert_eq!(
            Backoff::linear(ms(1), ms(2)).jitter(0.5).refinements(),
            (None, Some(0.5))
        );
        assert_eq!(Backoff::constant(ms(1)).refinements(), (None, Some(0.0)));
        assert_eq!(
            Backoff::decorrelated(ms(1), ms(2)).refinements(),
            (None, None)
        );
        assert_eq!(Backoff::none().refinements(), (None, None));
    }

    #[test]
    fn bad_settings_never_panic() {
        let b = Backoff::exponential(ms(2000), ms(1000))
            .factor(f64::NAN)
            .jitter(f64::INFINITY);
        assert_eq!(b.delay_at(3, 0.9), ms(1000));
        assert_eq!(
            Backoff::exponential(ms(10), ms(100))
                .factor(-1.0)
                .delay_at(5, 0.5),
            ms(10)
        );
    }
}
