//! The backoff grammar of `backoff = ...` (`#[retry]`) and `recovery_backoff = ...`
//! (`#[circuit_breaker]`): `exponential(base = "1s", max = "60s", factor = 2.0, jitter = 0.25)`,
//! `constant("500ms")`, `linear(base = "1s", max = "10s")`, `decorrelated(base = "1s", max = "60s")`
//! or `none`.

use crate::errors::{Errors, nearest};
use crate::parse::{duration_of, fraction_of, key_of, report_unknown, skip_value};
use proc_macro2::{Span, TokenStream};
use quote::quote;
use std::time::Duration;
use syn::parse::ParseStream;
use syn::punctuated::Punctuated;
use syn::{Expr, Ident};

/// The kinds of backoff, as written.
pub(crate) const KINDS: &[&str] = &["exponential", "constant", "linear", "decorrelated", "none"];

/// The longest wait when `max` is not given.
pub(crate) const DEFAULT_MAX: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Exponential,
    Constant,
    Linear,
    Decorrelated,
    None,
}

impl Kind {
    /// The keys it takes in parentheses.
    fn keys(self) -> &'static [&'static str] {
        match self {
            Kind::Exponential => &["base", "max", "factor", "jitter"],
            Kind::Linear => &["base", "max", "jitter"],
            // Decorrelated jitter is random by its nature: no `jitter` to set.
            Kind::Decorrelated => &["base", "max"],
            Kind::Constant | Kind::None => &[],
        }
    }
}

/// A backoff as written; every value checked on its own.
#[derive(Clone)]
pub(crate) struct Backoff {
    pub(crate) kind: Kind,
    /// The kind's name, where errors about the whole backoff go.
    pub(crate) kind_name: Ident,
    pub(crate) base: Option<(Duration, Span)>,
    pub(crate) max: Option<(Duration, Span)>,
    factor: Option<f64>,
    jitter: Option<f64>,
    /// `base` or `max` was written, with a valid value or not (a bad one is already reported).
    pub(crate) base_written: bool,
    pub(crate) max_written: bool,
}

const FORMS: &str = "write `exponential(base = \"1s\", max = \"60s\", factor = 2.0, jitter = 0.25)`, \
     `constant(\"500ms\")`, `linear(base = \"1s\", max = \"10s\")`, \
     `decorrelated(base = \"1s\", max = \"60s\")` or `none`";

impl Backoff {
    /// Parses the value after `key =` of `#[attribute]`, which messages name.
    pub(crate) fn parse(
        input: ParseStream<'_>,
        key: &Ident,
        attribute: &str,
        errors: &mut Errors,
    ) -> syn::Result<Option<Self>> {
        let kind_name: Ident = match input.parse() {
            Ok(ident) => ident,
            Err(_) => {
                let expr: Expr = input.parse()?;
                errors.at(&expr, format_args!("`{key}` takes a backoff: {FORMS}"));
                return Ok(None);
            }
        };
        let kind = match kind_name.to_string().as_str() {
            "exponential" => Kind::Exponential,
            "constant" => Kind::Constant,
            "linear" => Kind::Linear,
            "decorrelated" => Kind::Decorrelated,
            "none" => Kind::None,
            other => {
                let hint = nearest(other, KINDS)
                    .map(|k| format!("did you mean `{k}`? "))
                    .unwrap_or_default();
                errors.at(
                    &kind_name,
                    format_args!("unknown backoff `{other}`: {hint}{FORMS}"),
                );
                skip_parens(input)?;
                return Ok(None);
            }
        };
        let mut backoff = Backoff {
            kind,
            kind_name: kind_name.clone(),
            base: None,
            max: None,
            factor: None,
            jitter: None,
            base_written: false,
            max_written: false,
        };
        if !input.peek(syn::token::Paren) {
            if kind == Kind::Constant {
                errors.at(
                    &kind_name,
                    "`constant` takes its delay: `constant(\"500ms\")`",
                );
                return Ok(None);
            }
            return Ok(Some(backoff));
        }
        let content;
        syn::parenthesized!(content in input);
        match kind {
            Kind::None => {
                content.parse::<TokenStream>()?;
                errors.at(&kind_name, "`none` takes no settings: write `none`");
                Ok(None)
            }
            Kind::Constant => {
                let delays = Punctuated::<Expr, syn::Token![,]>::parse_terminated(&content)?;
                let mut delays = delays.into_iter();
                let Some(delay) = delays.next() else {
                    errors.at(
                        &kind_name,
                        "`constant` takes its delay: `constant(\"500ms\")`",
                    );
                    return Ok(None);
                };
                if let Some(extra) = delays.next() {
                    errors.at(&extra, "`constant` takes one delay: `constant(\"500ms\")`");
                }
                match duration_of(&delay, &"constant") {
                    Ok(d) => backoff.base = Some((d, syn::spanned::Spanned::span(&delay))),
                    Err(message) => errors.at(&delay, message),
                }
                Ok(Some(backoff))
            }
            _ => {
                let context = format!("#[{attribute}({key} = {kind_name}(...))]");
                let parser = syn::meta::parser(|meta| backoff.read_key(meta, &context, errors));
                syn::parse::Parser::parse2(parser, content.parse::<TokenStream>()?)?;
                Ok(Some(backoff))
            }
        }
    }

    fn read_key(
        &mut self,
        meta: syn::meta::ParseNestedMeta<'_>,
        context: &str,
        errors: &mut Errors,
    ) -> syn::Result<()> {
        let key = key_of(&meta)?;
        let name = key.to_string();
        if !self.kind.keys().contains(&name.as_str()) {
            report_unknown(&key, context, self.kind.keys(), errors);
            return skip_value(&meta);
        }
        let expr: Expr = meta.value()?.parse()?;
        let span = syn::spanned::Spanned::span(&expr);
        let twice = match name.as_str() {
            "base" => std::mem::replace(&mut self.base_written, true),
            "max" => std::mem::replace(&mut self.max_written, true),
            "factor" => self.factor.is_some(),
            _ => self.jitter.is_some(),
        };
        if twice {
            errors.at(&key, format_args!("`{key}` is given twice; give it once"));
            return Ok(());
        }
        let value = match name.as_str() {
            "base" => duration_of(&expr, &key).map(|d| self.base = Some((d, span))),
            "max" => duration_of(&expr, &key).map(|d| self.max = Some((d, span))),
            "factor" => fraction_of(
                &expr,
                &key,
                |f| (1.0..=1e6).contains(&f),
                "the factor is at least 1.0",
            )
            .map(|f| self.factor = Some(f)),
            _ => fraction_of(
                &expr,
                &key,
                |j| (0.0..=1.0).contains(&j),
                "jitter is between 0.0 and 1.0",
            )
            .map(|j| self.jitter = Some(j)),
        };
        if let Err(message) = value {
            errors.at(&expr, message);
        }
        Ok(())
    }

    /// Checks the delays against each other: `default_base` is the first delay when `base` is
    /// not given. Without `max`, the longest wait is [`DEFAULT_MAX`].
    pub(crate) fn validate(&self, default_base: Duration, errors: &mut Errors) {
        if matches!(self.kind, Kind::None | Kind::Constant) {
            return;
        }
        let (max, max_span) = match self.max {
            Some((max, span)) => (max, Some(span)),
            None if self.max_written => return,
            None => (DEFAULT_MAX, None),
        };
        match (self.base, max_span) {
            (Some((base, span)), Some(_)) if base > max => errors.at_span(
                span,
                format_args!("`base` ({base:?}) is longer than `max` ({max:?}): no delay may exceed `max`"),
            ),
            (Some((base, span)), None) if base > max => errors.at_span(
                span,
                format_args!("`base` ({base:?}) is longer than the default `max` ({max:?}): give a `max` of at least `base`"),
            ),
            (None, Some(span)) if default_base > max && !self.base_written => errors.at_span(
                span,
                format_args!("`max` ({max:?}) is shorter than the first delay ({default_base:?}): give a `base` of at most `max`"),
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
            .map(|(d, _)| d)
            .or(default_base)
            .unwrap_or(Duration::from_secs(1));
        let max = self.max.map_or(DEFAULT_MAX, |(d, _)| d);
        let (base_tokens, max_tokens) = (duration(root, base), duration(root, max));
        let mut tokens = match self.kind {
            Kind::Exponential => quote!(#backoff::exponential(#base_tokens, #max_tokens)),
            Kind::Constant => quote!(#backoff::constant(#base_tokens)),
            Kind::Linear => quote!(#backoff::linear(#base_tokens, #max_tokens)),
            Kind::Decorrelated => quote!(#backoff::decorrelated(#base_tokens, #max_tokens)),
            Kind::None => return quote!(#backoff::none()),
        };
        if let Some(factor) = self.factor {
            let factor = proc_macro2::Literal::f64_suffixed(factor);
            tokens = quote!(#tokens.factor(#factor));
        }
        if let Some(jitter) = self.jitter.or(default_base.map(|_| 0.0)) {
            let jitter = proc_macro2::Literal::f64_suffixed(jitter);
            tokens = quote!(#tokens.jitter(#jitter));
        }
        tokens
    }
}

/// Skips the parentheses after an unknown kind, so parsing goes on.
fn skip_parens(input: ParseStream<'_>) -> syn::Result<()> {
    if input.peek(syn::token::Paren) {
        let skipped;
        syn::parenthesized!(skipped in input);
        skipped.parse::<TokenStream>()?;
    }
    Ok(())
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
    let constructor = Ident::new(constructor, Span::call_site());
    let count = proc_macro2::Literal::u64_unsuffixed(u64::try_from(count).unwrap_or(u64::MAX));
    quote!(#root::Duration::#constructor(#count))
}
