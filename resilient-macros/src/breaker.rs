//! `#[circuit_breaker(...)]`: the model of its settings and their checks.

use crate::args::{self, Errors, Setting, set};
use proc_macro2::TokenStream;
use quote::quote;
use std::time::Duration;
use syn::{Expr, LitStr};

const KEYS: &[&str] = &[
    "failure_threshold",
    "recovery_timeout",
    "half_open_calls",
    "success_threshold",
    "recovery_backoff",
    "failure_rate",
    "window",
    "minimum_calls",
    "slow_call",
    "slow_call_rate",
    "when",
    "name",
    "breaker",
    "crate",
];

#[derive(Default)]
pub(crate) struct BreakerArgs {
    failure_threshold: Option<Setting<u32>>,
    recovery_timeout: Option<Setting<Duration>>,
    half_open_calls: Option<Setting<u32>>,
    success_threshold: Option<Setting<u32>>,
    recovery_backoff: Option<Setting<crate::retry::BackoffSpec>>,
    failure_rate: Option<Setting<f64>>,
    window: Option<Setting<Window>>,
    minimum_calls: Option<Setting<u32>>,
    slow_call: Option<Setting<Duration>>,
    slow_call_rate: Option<Setting<f64>>,
    pub(crate) when: Option<Setting<Expr>>,
    pub(crate) name: Option<Setting<LitStr>>,
    pub(crate) breaker: Option<Setting<Expr>>,
    pub(crate) krate: Option<Setting<syn::Path>>,
    /// Every key written, with a valid value or not: a rule about a key given with a bad value
    /// (already reported) is not reported again as if the key were missing.
    written: Vec<String>,
}

#[derive(Clone, Copy)]
enum Window {
    Calls(u32),
    Period(Duration),
}

fn is_rate(x: f64) -> bool {
    x > 0.0 && x <= 1.0
}

const RATE_RULE: &str = "a rate is above 0 and at most 1";

impl BreakerArgs {
    pub(crate) fn parse(tokens: TokenStream, errors: &mut Errors) -> Self {
        let mut this = Self::default();
        let parser = syn::meta::parser(|meta| {
            let key = args::key_of(&meta)?;
            this.written.push(key.to_string());
            match key.to_string().as_str() {
                "failure_threshold" => set(
                    &mut this.failure_threshold,
                    &key,
                    args::count(&meta, &key, errors)?,
                    errors,
                ),
                "recovery_timeout" => set(
                    &mut this.recovery_timeout,
                    &key,
                    args::duration(&meta, &key, errors)?,
                    errors,
                ),
                "half_open_calls" => set(
                    &mut this.half_open_calls,
                    &key,
                    args::count(&meta, &key, errors)?,
                    errors,
                ),
                "success_threshold" => set(
                    &mut this.success_threshold,
                    &key,
                    args::count(&meta, &key, errors)?,
                    errors,
                ),
                "recovery_backoff" => {
                    let spec = crate::retry::BackoffSpec::parse(&meta, &key, errors)?;
                    set(&mut this.recovery_backoff, &key, spec, errors);
                }
                "failure_rate" => set(
                    &mut this.failure_rate,
                    &key,
                    args::fraction(&meta, &key, is_rate, RATE_RULE, errors)?,
                    errors,
                ),
                "window" => set(&mut this.window, &key, window(&meta, &key, errors)?, errors),
                "minimum_calls" => set(
                    &mut this.minimum_calls,
                    &key,
                    args::count(&meta, &key, errors)?,
                    errors,
                ),
                "slow_call" => set(
                    &mut this.slow_call,
                    &key,
                    args::duration(&meta, &key, errors)?,
                    errors,
                ),
                "slow_call_rate" => {
                    let rate = args::fraction(&meta, &key, is_rate, RATE_RULE, errors)?;
                    set(&mut this.slow_call_rate, &key, rate, errors);
                }
                "when" => set(
                    &mut this.when,
                    &key,
                    args::callable(&meta, &key, errors)?,
                    errors,
                ),
                "name" => set(
                    &mut this.name,
                    &key,
                    args::string(&meta, &key, errors)?,
                    errors,
                ),
                "breaker" => set(&mut this.breaker, &key, args::expression(&meta)?, errors),
                "crate" => set(
                    &mut this.krate,
                    &key,
                    args::crate_path(&meta, &key, errors)?,
                    errors,
                ),
                _ => args::unknown_key(&meta, &key, "circuit_breaker", KEYS, errors)?,
            }
            Ok(())
        });
        if let Err(err) = syn::parse::Parser::parse2(parser, tokens) {
            errors.push(err);
        }
        this
    }

    /// The checks between settings; each value was checked on its own as it was parsed.
    pub(crate) fn validate(&self, errors: &mut Errors) {
        if self.breaker.is_some() {
            for key in self.keys_besides_breaker() {
                let message = format!(
                    "`{key}` cannot be given with `breaker = ...`: the breaker's own configuration applies"
                );
                errors.at(key, message);
            }
            return;
        }
        if let (Some(threshold), Some(rate)) = (&self.failure_threshold, &self.failure_rate) {
            errors.at(
                args::later(threshold, rate),
                "`failure_threshold` (consecutive mode) and `failure_rate` (rate mode) are exclusive: give one",
            );
        }
        if !self.written("failure_rate") {
            for key in [
                self.window.as_ref().map(|s| &s.key),
                self.minimum_calls.as_ref().map(|s| &s.key),
            ]
            .into_iter()
            .flatten()
            {
                errors.at(
                    key,
                    format_args!(
                        "`{key}` belongs to rate mode: give `failure_rate` too, or remove it"
                    ),
                );
            }
        }
        if let (Some(rate), false) = (&self.slow_call_rate, self.written("slow_call")) {
            errors.at(
                &rate.key,
                "`slow_call_rate` needs `slow_call`, the duration above which a call is slow",
            );
        } else if let (Some(rate), false) = (&self.slow_call_rate, self.written("failure_rate")) {
            errors.at(&rate.key, "`slow_call_rate` belongs to rate mode: in consecutive mode every slow call counts as a failure");
        }
        if let (
            Some(minimum),
            Some(Setting {
                value: Window::Calls(size),
                ..
            }),
        ) = (&self.minimum_calls, &self.window)
        {
            if minimum.value > *size {
                errors.at_span(
                    minimum.span,
                    format_args!("`minimum_calls` = {} exceeds the `window` of {size} calls: it can never be reached", minimum.value),
                );
            }
        }
        for count in [&self.half_open_calls, &self.success_threshold]
            .into_iter()
            .flatten()
        {
            if count.value > u32::from(u16::MAX) {
                errors.at_span(
                    count.span,
                    format_args!("`{}` must be at most 65535", count.key),
                );
            }
        }
        if let Some(backoff) = &self.recovery_backoff {
            if self.recovery_timeout.is_some() || !self.written("recovery_timeout") {
                backoff.value.validate(self.recovery_timeout(), errors);
            }
        }
    }

    fn written(&self, key: &str) -> bool {
        self.written.iter().any(|k| k == key)
    }

    fn recovery_timeout(&self) -> Duration {
        self.recovery_timeout
            .as_ref()
            .map_or(Duration::from_secs(30), |s| s.value)
    }

    fn keys_besides_breaker(&self) -> impl Iterator<Item = &syn::Ident> {
        [
            key(&self.failure_threshold),
            key(&self.recovery_timeout),
            key(&self.half_open_calls),
            key(&self.success_threshold),
            key(&self.recovery_backoff),
            key(&self.failure_rate),
            key(&self.window),
            key(&self.minimum_calls),
            key(&self.slow_call),
            key(&self.slow_call_rate),
            key(&self.when),
            key(&self.name),
        ]
        .into_iter()
        .flatten()
    }

    /// `BreakerConfig::new()` with every setting given, as a constant expression.
    pub(crate) fn config(&self, root: &TokenStream) -> TokenStream {
        let mut config = quote!(#root::BreakerConfig::new());
        let mut call = |method: &str, value: TokenStream| {
            let method = syn::Ident::new(method, proc_macro2::Span::call_site());
            config = quote!(#config.#method(#value));
        };
        if let Some(s) = &self.failure_threshold {
            call("failure_threshold", lit_u32(s.value));
        }
        let recovery = self.recovery_timeout();
        if self.recovery_timeout.is_some() {
            call("recovery_timeout", duration(root, recovery));
        }
        if let Some(s) = &self.half_open_calls {
            call("half_open_calls", lit_u32(s.value));
        }
        if let Some(s) = &self.success_threshold {
            call("success_threshold", lit_u32(s.value));
        }
        if let Some(s) = &self.failure_rate {
            call("failure_rate", lit_f64(s.value));
        }
        match self.window.as_ref().map(|s| s.value) {
            Some(Window::Calls(n)) => call("window", lit_u32(n)),
            Some(Window::Period(d)) => call("time_window", duration(root, d)),
            None => {}
        }
        if let Some(s) = &self.minimum_calls {
            call("minimum_calls", lit_u32(s.value));
        }
        if let Some(s) = &self.slow_call {
            call("slow_call", duration(root, s.value));
        }
        if let Some(s) = &self.slow_call_rate {
            call("slow_call_rate", lit_f64(s.value));
        }
        if let Some(s) = &self.recovery_backoff {
            // The first wait is the recovery timeout, unless the backoff says otherwise.
            call("recovery_backoff", s.value.tokens(root, Some(recovery)));
        }
        config
    }
}

/// `window = 20` (the last N calls) or `window = "60s"` (a period).
fn window(
    meta: &syn::meta::ParseNestedMeta<'_>,
    key: &syn::Ident,
    errors: &mut Errors,
) -> syn::Result<Option<(Window, proc_macro2::Span)>> {
    let expr: Expr = meta.value()?.parse()?;
    let span = syn::spanned::Spanned::span(&expr);
    let value = match &expr {
        Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Int(int),
            ..
        }) => match int.base10_parse::<u32>() {
            Ok(0) => Err("`window` must hold at least 1 call".to_owned()),
            Ok(n) => Ok(Window::Calls(n)),
            Err(_) => Err(format!(
                "`window` must be a whole number of calls from 1 to {}",
                u32::MAX
            )),
        },
        Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(_),
            ..
        }) => args::duration_of(&expr, key).map(Window::Period),
        _ => Err(
            "`window` takes a number of calls (`window = 20`) or a period (`window = \"60s\"`)"
                .to_owned(),
        ),
    };
    match value {
        Ok(window) => Ok(Some((window, span))),
        Err(message) => {
            errors.at(&expr, message);
            Ok(None)
        }
    }
}

fn key<T>(setting: &Option<Setting<T>>) -> Option<&syn::Ident> {
    setting.as_ref().map(|s| &s.key)
}

pub(crate) fn lit_u32(n: u32) -> TokenStream {
    let lit = proc_macro2::Literal::u32_unsuffixed(n);
    quote!(#lit)
}

pub(crate) fn lit_f64(x: f64) -> TokenStream {
    let lit = proc_macro2::Literal::f64_suffixed(x);
    quote!(#lit)
}

/// A duration as a constant expression, in the largest unit that writes it exactly.
pub(crate) fn duration(root: &TokenStream, d: Duration) -> TokenStream {
    let nanos = d.as_nanos();
    let (constructor, count) = [
        ("from_secs", 1_000_000_000),
        ("from_millis", 1_000_000),
        ("from_micros", 1_000),
    ]
    .into_iter()
    .find(|(_, unit)| nanos % unit == 0)
    .map_or(("from_nanos", nanos), |(constructor, unit)| {
        (constructor, nanos / unit)
    });
    let constructor = syn::Ident::new(constructor, proc_macro2::Span::call_site());
    let count = proc_macro2::Literal::u64_unsuffixed(u64::try_from(count).unwrap_or(u64::MAX));
    quote!(#root::Duration::#constructor(#count))
}
