//! `#[circuit_breaker(...)]`: its key table and the breaker's constant expression.

use crate::backoff::duration;
use crate::parse::{Builder, Key, Settings, Value, ValueKind, Window};
use proc_macro2::{Span, TokenStream};
use quote::quote;
use std::time::Duration;
use syn::Ident;

/// Every key, in the order the configuration is written.
pub(crate) const KEYS: &[Key] = &[
    Key::new(
        "failure_threshold",
        ValueKind::Count,
        Builder::Method("failure_threshold"),
    ),
    Key::new(
        "recovery_timeout",
        ValueKind::Duration,
        Builder::Method("recovery_timeout"),
    ),
    Key::new(
        "half_open_calls",
        ValueKind::SmallCount,
        Builder::Method("half_open_calls"),
    ),
    Key::new(
        "success_threshold",
        ValueKind::SmallCount,
        Builder::Method("success_threshold"),
    ),
    Key::new(
        "failure_rate",
        ValueKind::Rate,
        Builder::Method("failure_rate"),
    ),
    Key::new("window", ValueKind::Window, Builder::Window),
    Key::new(
        "minimum_calls",
        ValueKind::Count,
        Builder::Method("minimum_calls"),
    ),
    Key::new(
        "slow_call",
        ValueKind::Duration,
        Builder::Method("slow_call"),
    ),
    Key::new(
        "slow_call_rate",
        ValueKind::Rate,
        Builder::Method("slow_call_rate"),
    ),
    // Its first wait is the recovery timeout: see `config`.
    Key::new("recovery_backoff", ValueKind::Backoff, Builder::Expansion),
    Key::new("when", ValueKind::Predicate, Builder::Expansion),
    Key::new("name", ValueKind::Name, Builder::Expansion),
    Key::new("breaker", ValueKind::Expr, Builder::Expansion),
    Key::new("crate", ValueKind::CratePath, Builder::Expansion),
];

/// The recovery timeout when none is given.
pub(crate) const DEFAULT_RECOVERY: Duration = Duration::from_secs(30);

pub(crate) fn recovery_timeout(settings: &Settings) -> Duration {
    settings
        .duration("recovery_timeout")
        .unwrap_or(DEFAULT_RECOVERY)
}

/// `BreakerConfig::new()` with every setting given, as a constant expression.
pub(crate) fn config(settings: &Settings, root: &TokenStream) -> TokenStream {
    let mut config = quote!(#root::BreakerConfig::new());
    for key in KEYS {
        let Some(value) = settings.value(key.name) else {
            continue;
        };
        let (method, value) = match (key.builder, value) {
            (Builder::Method(method), value) => (method, value_tokens(root, value)),
            (Builder::Window, Value::Window(Window::Calls(n))) => ("window", lit_u32(*n)),
            (Builder::Window, Value::Window(Window::Period(d))) => {
                ("time_window", duration(root, *d))
            }
            (_, Value::Backoff(backoff)) => {
                let first = recovery_timeout(settings);
                ("recovery_backoff", backoff.tokens(root, Some(first)))
            }
            _ => continue,
        };
        let method = Ident::new(method, Span::call_site());
        config = quote!(#config.#method(#value));
    }
    config
}

/// A count, rate or duration as a constant expression.
/// `policy` with a call of its builder method for each key of `keys` given in `settings`, in the
/// keys' order: what every policy's constant expression ends with.
pub(crate) fn with_methods(
    mut policy: TokenStream,
    keys: &[Key],
    settings: &Settings,
    root: &TokenStream,
) -> TokenStream {
    for key in keys {
        let (Builder::Method(method), Some(value)) = (key.builder, settings.value(key.name)) else {
            continue;
        };
        let method = Ident::new(method, Span::call_site());
        let value = value_tokens(root, value);
        policy = quote!(#policy.#method(#value));
    }
    policy
}

pub(crate) fn value_tokens(root: &TokenStream, value: &Value) -> TokenStream {
    match value {
        Value::Count(n) => lit_u32(*n),
        Value::Rate(x) => {
            let lit = proc_macro2::Literal::f64_suffixed(*x);
            quote!(#lit)
        }
        Value::Duration(d) => duration(root, *d),
        Value::Backoff(backoff) => backoff.tokens(root, None),
        _ => unreachable!("only counts, rates, durations and backoffs are given to a builder"),
    }
}

fn lit_u32(n: u32) -> TokenStream {
    let lit = proc_macro2::Literal::u32_unsuffixed(n);
    quote!(#lit)
}
