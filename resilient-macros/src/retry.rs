//! `#[retry(...)]` and the backoff grammar it shares with `recovery_backoff`.

use crate::args::{self, Errors, Setting, set};
use crate::breaker::{duration, lit_f64, lit_u32};
use proc_macro2::{Span, TokenStream};
use quote::quote;
use std::time::Duration;
use syn::meta::ParseNestedMeta;
use syn::{Expr, LitStr};

const KEYS: &[&str] = &[
    "max_attempts",
    "backoff",
    "when",
    "budget",
    "name",
    "policy",
    "crate",
];

#[derive(Default)]
pub(crate) struct RetryArgs {
    max_attempts: Option<Setting<u32>>,
    backoff: Option<Setting<BackoffSpec>>,
    pub(crate) when: Option<Setting<Expr>>,
    budget: Option<Setting<Duration>>,
    pub(crate) name: Option<Setting<LitStr>>,
    pub(crate) policy: Option<Setting<Expr>>,
    pub(crate) krate: Option<Setting<syn::Path>>,
}

impl RetryArgs {
    pub(crate) fn parse(tokens: TokenStream, errors: &mut Errors) -> Self {
        let mut this = Self::default();
        let parser = syn::meta::parser(|meta| {
            let key = args::key_of(&meta)?;
            match key.to_string().as_str() {
                "max_attempts" => set(
                    &mut this.max_attempts,
                    &key,
                    args::count(&meta, &key, errors)?,
                    errors,
                ),
                "backoff" => set(
                    &mut this.backoff,
                    &key,
                    BackoffSpec::parse(&meta, &key, errors)?,
                    errors,
                ),
                "when" => set(
                    &mut this.when,
                    &key,
                    args::callable(&meta, &key, errors)?,
                    errors,
                ),
                "budget" => set(
                    &mut this.budget,
                    &key,
                    args::duration(&meta, &key, errors)?,
                    errors,
                ),
                "name" => set(
                    &mut this.name,
                    &key,
                    args::string(&meta, &key, errors)?,
                    errors,
                ),
                "policy" => set(&mut this.policy, &key, args::expression(&meta)?, errors),
                "crate" => set(
                    &mut this.krate,
                    &key,
                    args::crate_path(&meta, &key, errors)?,
                    errors,
                ),
                kind if KINDS.contains(&kind) => {
                    let args = if kind == "none" { "" } else { "(...)" };
                    errors.at(
                        &key,
                        format_args!("`{kind}` is a backoff: write `backoff = {kind}{args}`"),
                    );
                    args::skip_value(&meta)?;
                }
                _ => args::unknown_key(&meta, &key, "retry", KEYS, errors)?,
            }
            Ok(())
        });
        if let Err(err) = syn::parse::Parser::parse2(parser, tokens) {
            errors.push(err);
        }
        this
    }

    pub(crate) fn validate(&self, errors: &mut Errors) {
        if self.policy.is_some() {
            let others = [
                self.max_attempts.as_ref().map(|s| &s.key),
                self.backoff.as_ref().map(|s| &s.key),
                self.when.as_ref().map(|s| &s.key),
                self.budget.as_ref().map(|s| &s.key),
                self.name.as_ref().map(|s| &s.key),
            ];
            for key in others.into_iter().flatten() {
                errors.at(key, format_args!("`{key}` cannot be given with `policy = ...`: the policy's own settings apply"));
            }
        }
        if let Some(backoff) = &self.backoff {
            backoff.value.validate(Duration::from_secs(1), errors);
        }
    }

    /// `RetryPolicy::new()` with every setting given, named `name`, as a constant expression.
    pub(crate) fn policy(&self, root: &TokenStream, name: &TokenStream) -> TokenStream {
        let mut policy = quote!(#root::RetryPolicy::new().name(#name));
        if let Some(n) = &self.max_attempts {
            let n = lit_u32(n.value);
            policy = quote!(#policy.max_attempts(#n));
        }
        if let Some(backoff) = &self.backoff {
            let backoff = backoff.value.tokens(root, None);
            policy = quote!(#policy.backoff(#backoff));
        }
        if let Some(budget) = &self.budget {
            let budget = duration(root, budget.value);
            policy = quote!(#policy.budget(#budget));
        }
        policy
    }
}

/// `exponential(base = "1s", max = "60s", factor = 2.0, jitter = 0.25)`, `constant("500ms")`,
/// `linear(base = "1s", max = "10s")`, `decorrelated(base = "1s", max = "60s")` or `none`.
#[derive(Clone)]
pub(crate) struct BackoffSpec {
    kind: BackoffKind,
    base: Option<Setting<Duration>>,
    max: Option<Setting<Duration>>,
    factor: Option<Setting<f64>>,
    jitter: Option<Setting<f64>>,
    /// `base` was written, with a valid value or not (a bad one is already reported).
    base_written: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum BackoffKind {
    Exponential,
    Constant,
    Linear,
    Decorrelated,
    None,
}

const KINDS: &[&str] = &["exponential", "constant", "linear", "decorrelated", "none"];

impl BackoffSpec {
    /// Parses the value after `backoff =` (or `recovery_backoff =`).
    pub(crate) fn parse(
        meta: &ParseNestedMeta<'_>,
        key: &syn::Ident,
        errors: &mut Errors,
    ) -> syn::Result<Option<(Self, Span)>> {
        let input = meta.value()?;
        let kind_ident: syn::Ident = match input.parse() {
            Ok(ident) => ident,
            Err(_) => {
                let expr: Expr = input.parse()?;
                errors.at(
                    &expr,
                    format_args!("`{key}` takes a backoff: {}", args::backoff_forms()),
                );
                return Ok(None);
            }
        };
        let span = kind_ident.span();
        let kind = match kind_ident.to_string().as_str() {
            "exponential" => BackoffKind::Exponential,
            "constant" => BackoffKind::Constant,
            "linear" => BackoffKind::Linear,
            "decorrelated" => BackoffKind::Decorrelated,
            "none" => BackoffKind::None,
            other => {
                let hint = args::nearest(other, KINDS)
                    .map(|k| format!("did you mean `{k}`? "))
                    .unwrap_or_default();
                errors.at(
                    &kind_ident,
                    format_args!("unknown backoff `{other}`: {hint}{}", args::backoff_forms()),
                );
                if input.peek(syn::token::Paren) {
                    let skipped;
                    syn::parenthesized!(skipped in input);
                    skipped.parse::<TokenStream>()?;
                }
                return Ok(None);
            }
        };
        let mut spec = BackoffSpec {
            kind,
            base: None,
            max: None,
            factor: None,
            jitter: None,
            base_written: false,
        };
        if kind == BackoffKind::None {
            return Ok(Some((spec, span)));
        }
        if !input.peek(syn::token::Paren) {
            if kind == BackoffKind::Constant {
                errors.at(
                    &kind_ident,
                    "`constant` takes its delay: `constant(\"500ms\")`",
                );
                return Ok(None);
            }
            return Ok(Some((spec, span)));
        }
        let content;
        syn::parenthesized!(content in input);
        if kind == BackoffKind::Constant {
            let expr: Expr = content.parse()?;
            match args::duration_of(&expr, &"constant") {
                Ok(d) => set(
                    &mut spec.base,
                    &kind_ident,
                    Some((d, syn::spanned::Spanned::span(&expr))),
                    errors,
                ),
                Err(message) => errors.at(&expr, message),
            }
            return Ok(Some((spec, span)));
        }
        let valid: &[&str] = match kind {
            BackoffKind::Exponential => &["base", "max", "factor", "jitter"],
            _ => &["base", "max", "jitter"],
        };
        let parser = syn::meta::parser(|inner| {
            let inner_key = args::key_of(&inner)?;
            spec.base_written |= inner_key == "base";
            match inner_key.to_string().as_str() {
                "base" => set(
                    &mut spec.base,
                    &inner_key,
                    args::duration(&inner, &inner_key, errors)?,
                    errors,
                ),
                "max" => set(
                    &mut spec.max,
                    &inner_key,
                    args::duration(&inner, &inner_key, errors)?,
                    errors,
                ),
                "factor" if kind == BackoffKind::Exponential => {
                    let factor = args::fraction(
                        &inner,
                        &inner_key,
                        |f| (1.0..=1e6).contains(&f),
                        "the factor is at least 1.0",
                        errors,
                    )?;
                    set(&mut spec.factor, &inner_key, factor, errors);
                }
                "jitter" if kind != BackoffKind::Decorrelated => {
                    let jitter = args::fraction(
                        &inner,
                        &inner_key,
                        |j| (0.0..=1.0).contains(&j),
                        "jitter is between 0.0 and 1.0",
                        errors,
                    )?;
                    set(&mut spec.jitter, &inner_key, jitter, errors);
                }
                _ => args::unknown_key(
                    &inner,
                    &inner_key,
                    &format!("retry(backoff = {kind_ident}(...))"),
                    valid,
                    errors,
                )?,
            }
            Ok(())
        });
        syn::parse::Parser::parse2(parser, content.parse::<TokenStream>()?)?;
        Ok(Some((spec, span)))
    }

    /// Checks `base` against `max`; `default_base` is the first delay when `base` is not given.
    pub(crate) fn validate(&self, default_base: Duration, errors: &mut Errors) {
        let Some(max) = &self.max else { return };
        match &self.base {
            Some(base) if base.value > max.value => errors.at_span(
                base.span,
                format_args!("`base` ({:?}) is longer than `max` ({:?}): no delay may exceed `max`", base.value, max.value),
            ),
            None if default_base > max.value && !self.base_written => errors.at_span(
                max.span,
                format_args!("`max` ({:?}) is shorter than the first delay ({default_base:?}): give a `base` of at most `max`", max.value),
            ),
            _ => {}
        }
    }

    /// The `Backoff` as a constant expression; `default_base` replaces the usual 1 s first delay
    /// (a breaker's recovery backoff starts from its recovery timeout, and does not jitter unless
    /// told to).
    pub(crate) fn tokens(&self, root: &TokenStream, default_base: Option<Duration>) -> TokenStream {
        let backoff = quote!(#root::Backoff);
        let base = self
            .base
            .as_ref()
            .map(|s| s.value)
            .or(default_base)
            .unwrap_or(Duration::from_secs(1));
        let max = self
            .max
            .as_ref()
            .map_or(Duration::from_secs(60).max(base), |s| s.value);
        let (base_tokens, max_tokens) = (duration(root, base), duration(root, max));
        let mut tokens = match self.kind {
            BackoffKind::Exponential => quote!(#backoff::exponential(#base_tokens, #max_tokens)),
            BackoffKind::Constant => quote!(#backoff::constant(#base_tokens)),
            BackoffKind::Linear => quote!(#backoff::linear(#base_tokens, #max_tokens)),
            BackoffKind::Decorrelated => quote!(#backoff::decorrelated(#base_tokens, #max_tokens)),
            BackoffKind::None => return quote!(#backoff::none()),
        };
        if let Some(factor) = &self.factor {
            let factor = lit_f64(factor.value);
            tokens = quote!(#tokens.factor(#factor));
        }
        let jitter = self
            .jitter
            .as_ref()
            .map(|s| s.value)
            .or(default_base.map(|_| 0.0));
        if let Some(jitter) = jitter {
            let jitter = lit_f64(jitter);
            tokens = quote!(#tokens.jitter(#jitter));
        }
        tokens
    }
}
