//! What every attribute's arguments are made of: `key = value` settings with their spans, the
//! value parsers (counts, fractions, durations, names, predicates) and the error collector that
//! lets independent mistakes be reported together.

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use std::time::Duration;
use syn::meta::ParseNestedMeta;
use syn::parse::{ParseStream, Parser as _};
use syn::spanned::Spanned;
use syn::{Expr, Lit, LitStr};

/// Errors found so far; each stays on its own token.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(errors) => errors.combine(error),
            None => self.0 = Some(error),
        }
    }

    pub(crate) fn at(&mut self, tokens: impl ToTokens, message: impl std::fmt::Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    pub(crate) fn at_span(&mut self, span: Span, message: impl std::fmt::Display) {
        self.push(syn::Error::new(span, message));
    }

    pub(crate) fn into_result(self) -> Result<(), syn::Error> {
        self.0.map_or(Ok(()), Err)
    }
}

/// A value given for a key, with where the key and the value were written.
#[derive(Clone)]
pub(crate) struct Setting<T> {
    pub(crate) value: T,
    pub(crate) key: syn::Ident,
    pub(crate) span: Span,
    /// Settings are parsed in the order they are written: a conflict's error goes on the later.
    order: usize,
}

static WRITTEN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Stores a setting, or reports that the key was given twice.
pub(crate) fn set<T>(
    slot: &mut Option<Setting<T>>,
    key: &syn::Ident,
    value: Option<(T, Span)>,
    errors: &mut Errors,
) {
    let Some((value, span)) = value else { return };
    if slot.is_some() {
        errors.at(key, format_args!("`{key}` is given twice; give it once"));
    } else {
        let order = WRITTEN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        *slot = Some(Setting {
            value,
            key: key.clone(),
            span,
            order,
        });
    }
}

/// The later of two settings in the attribute, where an error about both belongs.
pub(crate) fn later<'a, A, B>(a: &'a Setting<A>, b: &'a Setting<B>) -> &'a syn::Ident {
    if a.order > b.order { &a.key } else { &b.key }
}

/// The key being parsed, as an identifier (`crate` included).
pub(crate) fn key_of(meta: &ParseNestedMeta<'_>) -> syn::Result<syn::Ident> {
    match meta.path.get_ident() {
        Some(ident) => Ok(ident.clone()),
        None => {
            let last = meta.path.segments.last().map(|s| s.ident.to_string());
            Err(meta.error(format_args!(
                "a key is a plain name, not a path: write `{} = ...`",
                last.as_deref().unwrap_or("key")
            )))
        }
    }
}

/// Reports an unknown key with the nearest valid one, and skips its value.
pub(crate) fn unknown_key(
    meta: &ParseNestedMeta<'_>,
    key: &syn::Ident,
    attribute: &str,
    valid: &[&str],
    errors: &mut Errors,
) -> syn::Result<()> {
    let name = key.to_string();
    let hint = match nearest(&name, valid) {
        Some(close) => format!("; did you mean `{close}`?"),
        None => String::new(),
    };
    errors.at(
        key,
        format_args!(
            "unknown key `{name}` for `#[{attribute}]`{hint} (valid keys: {})",
            backticked(valid)
        ),
    );
    skip_value(meta)
}

/// Consumes whatever follows a key (`= value` or `(...)`), so parsing goes on after an error.
pub(crate) fn skip_value(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(syn::Token![=]) {
        meta.value()?.parse::<Expr>()?;
    } else if meta.input.peek(syn::token::Paren) {
        let content;
        syn::parenthesized!(content in meta.input);
        // Left unread, the parentheses' content would be reported as unexpected.
        content.parse::<TokenStream>()?;
    }
    Ok(())
}

/// The forms a backoff takes, for error messages.
pub(crate) fn backoff_forms() -> &'static str {
    "write `exponential(base = \"1s\", max = \"60s\", factor = 2.0, jitter = 0.25)`, `constant(\"500ms\")`, \
     `linear(base = \"1s\", max = \"10s\")`, `decorrelated(base = \"1s\", max = \"60s\")` or `none`"
}

pub(crate) fn backticked(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The valid name closest to `name` by edit distance, if it is close enough to be a typo.
pub(crate) fn nearest<'a>(name: &str, valid: &[&'a str]) -> Option<&'a str> {
    let (best, distance) = valid
        .iter()
        .map(|v| (*v, edit_distance(name, v)))
        .min_by_key(|(_, d)| *d)?;
    (distance <= name.len().max(3) / 3 + 1).then_some(best)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

/// The value after `key =`, as an expression (for error spans, parsed as a whole).
fn value_expr(meta: &ParseNestedMeta<'_>) -> syn::Result<Expr> {
    meta.value()?.parse::<Expr>()
}

fn literal(expr: &Expr) -> Option<&Lit> {
    match expr {
        Expr::Lit(lit) => Some(&lit.lit),
        _ => None,
    }
}

/// `key = <whole number ≥ 1>`.
pub(crate) fn count(
    meta: &ParseNestedMeta<'_>,
    key: &syn::Ident,
    errors: &mut Errors,
) -> syn::Result<Option<(u32, Span)>> {
    let expr = value_expr(meta)?;
    let value = match literal(&expr) {
        Some(Lit::Int(int)) => match int.base10_parse::<u32>() {
            Ok(0) => Err(format!("`{key}` must be at least 1")),
            Ok(n) => Ok(n),
            Err(_) => Err(format!(
                "`{key}` must be a whole number from 1 to {}",
                u32::MAX
            )),
        },
        _ if negative(&expr).is_some() => Err(format!(
            "`{key}` must be a whole number from 1 to {}",
            u32::MAX
        )),
        _ => Err(format!("`{key}` takes a whole number, like `{key} = 3`")),
    };
    Ok(report(value, &expr, errors))
}

/// The literal of a negative number, `-0.5` or `-1`.
fn negative(expr: &Expr) -> Option<&Lit> {
    match expr {
        Expr::Unary(syn::ExprUnary {
            op: syn::UnOp::Neg(_),
            expr,
            ..
        }) => literal(expr).filter(|lit| matches!(lit, Lit::Int(_) | Lit::Float(_))),
        _ => None,
    }
}

/// `key = <fraction>` within `range`, described as `rule`.
pub(crate) fn fraction(
    meta: &ParseNestedMeta<'_>,
    key: &syn::Ident,
    accept: fn(f64) -> bool,
    rule: &str,
    errors: &mut Errors,
) -> syn::Result<Option<(f64, Span)>> {
    let expr = value_expr(meta)?;
    let (lit, sign) = match negative(&expr) {
        Some(lit) => (Some(lit), -1.0),
        None => (literal(&expr), 1.0),
    };
    let number = match lit {
        Some(Lit::Float(float)) => float.base10_parse::<f64>().ok(),
        Some(Lit::Int(int)) => int.base10_parse::<u32>().ok().map(f64::from),
        _ => None,
    };
    let value = match number.map(|x| sign * x) {
        Some(x) if accept(x) => Ok(x),
        Some(_) => Err(format!(
            "`{key}` = {} is out of range: {rule}",
            expr.to_token_stream().to_string().replace(' ', "")
        )),
        None => Err(format!(
            "`{key}` takes a number, like `{key} = 0.5` ({rule})"
        )),
    };
    Ok(report(value, &expr, errors))
}

/// `key = "<duration>"`, longer than zero.
pub(crate) fn duration(
    meta: &ParseNestedMeta<'_>,
    key: &syn::Ident,
    errors: &mut Errors,
) -> syn::Result<Option<(Duration, Span)>> {
    let expr = value_expr(meta)?;
    Ok(report(duration_of(&expr, key), &expr, errors))
}

/// A duration literal, longer than zero; the error names `key`.
pub(crate) fn duration_of(expr: &Expr, key: &dyn std::fmt::Display) -> Result<Duration, String> {
    match literal(expr) {
        Some(Lit::Str(text)) => match resilient_duration::parse(&text.value()) {
            Ok(d) if d.is_zero() => Err(format!("`{key}` must be longer than zero")),
            Ok(d) => Ok(d),
            Err(message) => Err(message),
        },
        _ => Err(format!(
            "`{key}` takes a duration in quotes: {}",
            resilient_duration::EXPECTED
        )),
    }
}

/// `key = "<text>"`.
pub(crate) fn string(
    meta: &ParseNestedMeta<'_>,
    key: &syn::Ident,
    errors: &mut Errors,
) -> syn::Result<Option<(LitStr, Span)>> {
    let expr = value_expr(meta)?;
    let value = match literal(&expr) {
        Some(Lit::Str(text)) if !text.value().is_empty() => Ok(text.clone()),
        Some(Lit::Str(_)) => Err(format!("`{key}` must not be empty")),
        _ => Err(format!(
            "`{key}` takes a string, like `{key} = \"payments\"`"
        )),
    };
    Ok(report(value, &expr, errors))
}

/// `crate = "path"`: where the `resilient` crate is, for a renamed dependency.
pub(crate) fn crate_path(
    meta: &ParseNestedMeta<'_>,
    key: &syn::Ident,
    errors: &mut Errors,
) -> syn::Result<Option<(syn::Path, Span)>> {
    let expr = value_expr(meta)?;
    let value = match literal(&expr) {
        Some(Lit::Str(text)) => text
            .parse::<syn::Path>()
            .map_err(|_| format!("`{key}` takes a path, like `crate = \"my_resilient\"`")),
        _ => Err(format!(
            "`{key}` takes a path in quotes, like `crate = \"my_resilient\"`"
        )),
    };
    Ok(report(value, &expr, errors))
}

/// `key = path` or `key = |arg| ...`: a predicate or a fallback.
pub(crate) fn callable(
    meta: &ParseNestedMeta<'_>,
    key: &syn::Ident,
    errors: &mut Errors,
) -> syn::Result<Option<(Expr, Span)>> {
    let expr = value_expr(meta)?;
    let span = expr.span();
    match callable_of(expr, key) {
        Ok(expr) => Ok(Some((expr, span))),
        Err(message) => {
            errors.at_span(span, message);
            Ok(None)
        }
    }
}

/// A path or a closure; the error names `what`.
pub(crate) fn callable_of(expr: Expr, what: &dyn std::fmt::Display) -> Result<Expr, String> {
    match expr {
        Expr::Path(_) | Expr::Closure(_) => Ok(expr),
        _ => Err(format!(
            "`{what}` takes a function path or a closure, like `{what} = is_transient` or `{what} = |err| ...`"
        )),
    }
}

/// `key = EXPR`: an expression evaluated at each call.
pub(crate) fn expression(meta: &ParseNestedMeta<'_>) -> syn::Result<Option<(Expr, Span)>> {
    let expr = value_expr(meta)?;
    let span = expr.span();
    Ok(Some((expr, span)))
}

/// Turns a parsed value into a setting, or its message into an error on the value's tokens.
fn report<T>(value: Result<T, String>, expr: &Expr, errors: &mut Errors) -> Option<(T, Span)> {
    match value {
        Ok(value) => Some((value, expr.span())),
        Err(message) => {
            errors.at(expr, message);
            None
        }
    }
}

/// The first positional argument of `#[timeout(...)]` or `#[fallback(...)]`, then its keys.
pub(crate) fn positional_then_keys(
    input: ParseStream<'_>,
    keys: impl FnMut(ParseNestedMeta<'_>) -> syn::Result<()>,
) -> syn::Result<Option<Expr>> {
    if input.is_empty() {
        return Ok(None);
    }
    let first: Expr = input.parse()?;
    if !input.is_empty() {
        input.parse::<syn::Token![,]>()?;
        syn::meta::parser(keys).parse2(input.parse::<TokenStream>()?)?;
    }
    Ok(Some(first))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_finds_typos_but_not_strangers() {
        let keys = [
            "failure_threshold",
            "recovery_timeout",
            "half_open_calls",
            "window",
        ];
        assert_eq!(
            nearest("failure_treshold", &keys),
            Some("failure_threshold")
        );
        assert_eq!(nearest("recovery_timout", &keys), Some("recovery_timeout"));
        assert_eq!(nearest("windw", &keys), Some("window"));
        assert_eq!(nearest("colour", &keys), None);
    }
}
