//! Stage two: the rules between an attribute's keys, and between the attributes of one stack.
//! Each value was checked on its own as it was read (stage one, `parse`); a key written with a
//! bad value still counts as written, so a rule about it is not reported again as if it were
//! missing.

use crate::breaker;
use crate::errors::Errors;
use crate::parse::{Settings, Window};
use crate::stack::{Kind, Layer};
use std::time::Duration;

/// A key that takes the whole policy from an expression: no other key but `crate` may be given.
struct Whole {
    key: &'static str,
    what: &'static str,
}

/// Two keys that cannot be given together; the error goes on the later one.
struct Exclusive {
    keys: [&'static str; 2],
    message: &'static str,
}

/// A key that needs another.
struct Needs {
    key: &'static str,
    needs: &'static str,
    message: &'static str,
}

const BREAKER_WHOLE: Whole = Whole {
    key: "breaker",
    what: "the breaker's own configuration applies",
};

const BREAKER_EXCLUSIVE: &[Exclusive] = &[Exclusive {
    keys: ["failure_threshold", "failure_rate"],
    message: "`failure_threshold` (consecutive mode) and `failure_rate` (rate mode) are exclusive: give one",
}];

const BREAKER_NEEDS: &[Needs] = &[
    Needs {
        key: "window",
        needs: "failure_rate",
        message: "`window` belongs to rate mode: give `failure_rate` too, or remove it",
    },
    Needs {
        key: "minimum_calls",
        needs: "failure_rate",
        message: "`minimum_calls` belongs to rate mode: give `failure_rate` too, or remove it",
    },
    Needs {
        key: "slow_call_rate",
        needs: "slow_call",
        message: "`slow_call_rate` needs `slow_call`, the duration above which a call is slow",
    },
    Needs {
        key: "slow_call_rate",
        needs: "failure_rate",
        message: "`slow_call_rate` belongs to rate mode: in consecutive mode every slow call counts as a failure",
    },
];

const BULKHEAD_WHOLE: Whole = Whole {
    key: "bulkhead",
    what: "the bulkhead's own configuration applies",
};

const RATE_LIMIT_WHOLE: Whole = Whole {
    key: "limiter",
    what: "the limiter's own settings apply",
};

const HEDGE_WHOLE: Whole = Whole {
    key: "policy",
    what: "the policy's own settings apply",
};

const RETRY_WHOLE: Whole = Whole {
    key: "policy",
    what: "the policy's own settings apply",
};

/// Checks one attribute's keys against each other.
pub(crate) fn layer(layer: &Layer, errors: &mut Errors) {
    let settings = &layer.settings;
    match layer.kind {
        Kind::CircuitBreaker => {
            if whole(settings, &BREAKER_WHOLE, errors) {
                return;
            }
            exclusive(settings, BREAKER_EXCLUSIVE, errors);
            needs(settings, BREAKER_NEEDS, errors);
            minimum_calls_within_window(settings, errors);
            if let Some(backoff) = settings.backoff("recovery_backoff") {
                if !settings.written("recovery_timeout")
                    || settings.duration("recovery_timeout").is_some()
                {
                    backoff.validate(breaker::recovery_timeout(settings), errors);
                }
                recovery_backoff_grows(backoff, errors);
            }
        }
        Kind::Retry => {
            if whole(settings, &RETRY_WHOLE, errors) {
                return;
            }
            if let Some(backoff) = settings.backoff("backoff") {
                backoff.validate(Duration::from_secs(1), errors);
            }
        }
        Kind::RateLimit => {
            whole(settings, &RATE_LIMIT_WHOLE, errors);
        }
        Kind::Bulkhead => {
            whole(settings, &BULKHEAD_WHOLE, errors);
        }
        Kind::Hedge => {
            whole(settings, &HEDGE_WHOLE, errors);
        }
        Kind::Timeout | Kind::Fallback | Kind::Atomic => {}
    }
}

/// Checks the attributes of one stack together: they name one crate.
pub(crate) fn stack(layers: &[Layer], errors: &mut Errors) {
    let mut named = layers
        .iter()
        .filter_map(|layer| Some((layer, layer.settings.crate_path()?)));
    let Some((first, path)) = named.next() else {
        return;
    };
    let shown = |path: &syn::Path| {
        quote::ToTokens::to_token_stream(path)
            .to_string()
            .replace(' ', "")
    };
    for (layer, other) in named.filter(|(_, other)| shown(other) != shown(path)) {
        let setting = layer.settings.get("crate").expect("it has a crate path");
        errors.at_span(
            setting.span,
            format_args!(
                "`crate = \"{}\"` differs from `crate = \"{}\"` on `#[{}]`: the attributes of one function use one crate",
                shown(other),
                shown(path),
                first.kind.name()
            ),
        );
    }
}

/// `breaker = ...` or `policy = ...` with other keys: each error on the later key of the two
/// (the keys written before it are named together, on it). Whether it was given.
fn whole(settings: &Settings, rule: &Whole, errors: &mut Errors) -> bool {
    let Some(at) = settings.written.iter().position(|s| s.key == rule.key) else {
        return false;
    };
    let others = |range: &[crate::parse::Setting]| -> Vec<String> {
        range
            .iter()
            .filter(|s| s.key != rule.key && s.key != "crate")
            .map(|s| format!("`{}`", s.key))
            .collect()
    };
    let before = others(&settings.written[..at]);
    if !before.is_empty() {
        errors.at(
            &settings.written[at].key,
            format_args!(
                "`{} = ...` cannot be given with {}: {}",
                rule.key,
                before.join(", "),
                rule.what
            ),
        );
    }
    let after = settings.written[at + 1..]
        .iter()
        .filter(|s| s.key != "crate");
    for other in after {
        let key = &other.key;
        errors.at(
            key,
            format_args!(
                "`{key}` cannot be given with `{} = ...`: {}",
                rule.key, rule.what
            ),
        );
    }
    true
}

fn exclusive(settings: &Settings, rules: &[Exclusive], errors: &mut Errors) {
    for rule in rules {
        if let (Some(a), Some(b)) = (settings.get(rule.keys[0]), settings.get(rule.keys[1])) {
            errors.at(&settings.later(a, b).key, rule.message);
        }
    }
}

/// A key without what it needs; one error per key (the first rule it breaks).
fn needs(settings: &Settings, rules: &[Needs], errors: &mut Errors) {
    let mut reported: Vec<&str> = Vec::new();
    for rule in rules {
        let Some(setting) = settings.get(rule.key) else {
            continue;
        };
        if !settings.written(rule.needs) && !reported.contains(&rule.key) {
            reported.push(rule.key);
            errors.at(&setting.key, rule.message);
        }
    }
}

fn minimum_calls_within_window(settings: &Settings, errors: &mut Errors) {
    let (Some(minimum), Some(Window::Calls(size))) =
        (settings.get("minimum_calls"), settings.window("window"))
    else {
        return;
    };
    if let Some(n) = settings.count("minimum_calls").filter(|n| *n > size) {
        errors.at_span(
            minimum.span,
            format_args!(
                "`minimum_calls` = {n} exceeds the `window` of {size} calls: it can never be reached"
            ),
        );
    }
}

/// A recovery backoff that grows needs its `max`: without one it could only grow to the default
/// (less than many recovery timeouts), which would silently do nothing.
fn recovery_backoff_grows(backoff: &crate::backoff::Backoff, errors: &mut Errors) {
    use crate::backoff::Kind;
    let grows = matches!(
        backoff.kind,
        Kind::Exponential | Kind::Linear | Kind::Decorrelated
    );
    if grows && !backoff.max_written {
        let kind = &backoff.kind_name;
        errors.at(
            kind,
            format_args!(
                "`recovery_backoff = {kind}` needs its `max`, the longest wait: `{kind}(max = \"10m\")`"
            ),
        );
    }
}
