//! Stage one: an attribute's arguments read into [`Settings`], by its key table. Each value is
//! checked on its own as it is read; the rules between keys are the next stage's (`validate`).

use crate::backoff::Backoff;
use crate::errors::{Errors, backticked, nearest};
use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use std::time::Duration;
use syn::meta::ParseNestedMeta;
use syn::parse::{ParseStream, Parser as _};
use syn::spanned::Spanned;
use syn::{Expr, Ident, Lit, LitStr};

/// One key of an attribute: its name, what its value is, and what the value becomes in the
/// policy's constant expression.
pub(crate) struct Key {
    pub(crate) name: &'static str,
    pub(crate) value: ValueKind,
    pub(crate) builder: Builder,
}

impl Key {
    pub(crate) const fn new(name: &'static str, value: ValueKind, builder: Builder) -> Self {
        Key {
            name,
            value,
            builder,
        }
    }
}

/// What a key's value is, and the rule it follows on its own.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum ValueKind {
    /// A whole number from 1 to `u32::MAX`.
    Count,
    /// A whole number from 1 to 65535 (trial counts).
    SmallCount,
    /// A fraction above 0 and at most 1.
    Rate,
    /// A duration literal, longer than zero.
    Duration,
    /// A duration literal that may be zero (a wait: zero waits not at all).
    Wait,
    /// A number of calls or a period.
    Window,
    /// The backoff grammar.
    Backoff,
    /// A non-empty string.
    Name,
    /// A function path or a closure.
    Predicate,
    /// Any expression, evaluated at each call.
    Expr,
    /// `crate = "path"`.
    CratePath,
}

/// What a key's value becomes in the policy's constant expression.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Builder {
    /// `.method(value)` on the configuration.
    Method(&'static str),
    /// `.window(n)` for a count, `.time_window(d)` for a period.
    Window,
    /// Used by the expansion in its own way (a name, a predicate, a policy given whole).
    Expansion,
}

/// A value read for a key.
#[derive(Clone)]
pub(crate) enum Value {
    Count(u32),
    Rate(f64),
    Duration(Duration),
    Window(Window),
    Backoff(Box<Backoff>),
    Name(LitStr),
    Expr(Expr),
    Path(syn::Path),
}

#[derive(Clone, Copy)]
pub(crate) enum Window {
    Calls(u32),
    Period(Duration),
}

/// A key as written, with its value if the value was valid (else it is already reported).
pub(crate) struct Setting {
    pub(crate) key: Ident,
    pub(crate) value: Option<Value>,
    /// Where the value was written.
    pub(crate) span: Span,
}

/// The keys of one attribute, in the order they were written.
pub(crate) struct Settings {
    pub(crate) written: Vec<Setting>,
}

impl Settings {
    pub(crate) fn get(&self, name: &str) -> Option<&Setting> {
        self.written.iter().find(|s| s.key == name)
    }

    pub(crate) fn value(&self, name: &str) -> Option<&Value> {
        self.get(name)?.value.as_ref()
    }

    /// Whether `name` was written, with a valid value or not.
    pub(crate) fn written(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Of two settings, the one written later, where an error about both belongs.
    pub(crate) fn later<'a>(&self, a: &'a Setting, b: &'a Setting) -> &'a Setting {
        let position = |s: &Setting| self.written.iter().position(|w| std::ptr::eq(w, s));
        if position(a) > position(b) { a } else { b }
    }

    pub(crate) fn count(&self, name: &str) -> Option<u32> {
        match self.value(name)? {
            Value::Count(n) => Some(*n),
            _ => None,
        }
    }

    pub(crate) fn duration(&self, name: &str) -> Option<Duration> {
        match self.value(name)? {
            Value::Duration(d) => Some(*d),
            _ => None,
        }
    }

    pub(crate) fn window(&self, name: &str) -> Option<Window> {
        match self.value(name)? {
            Value::Window(w) => Some(*w),
            _ => None,
        }
    }

    pub(crate) fn backoff(&self, name: &str) -> Option<&Backoff> {
        match self.value(name)? {
            Value::Backoff(b) => Some(b),
            _ => None,
        }
    }

    pub(crate) fn name(&self) -> Option<&LitStr> {
        match self.value("name")? {
            Value::Name(name) => Some(name),
            _ => None,
        }
    }

    pub(crate) fn expr(&self, name: &str) -> Option<&Expr> {
        match self.value(name)? {
            Value::Expr(expr) => Some(expr),
            _ => None,
        }
    }

    pub(crate) fn crate_path(&self) -> Option<&syn::Path> {
        match self.value("crate")? {
            Value::Path(path) => Some(path),
            _ => None,
        }
    }
}

/// `#[name(key = value, ...)]`.
pub(crate) fn settings(
    tokens: TokenStream,
    attribute: &str,
    keys: &[Key],
    errors: &mut Errors,
) -> Settings {
    let mut settings = Settings {
        written: Vec::new(),
    };
    let parser = syn::meta::parser(|meta| read_key(meta, attribute, keys, &mut settings, errors));
    if let Err(err) = parser.parse2(tokens) {
        errors.push(err);
    }
    settings
}

/// `#[name(first, key = value, ...)]`: the first argument (a timeout's limit, a fallback's
/// handler), then keys. A key written first (`#[timeout(name = "x")]`) is reported as such: the
/// first argument is not a key.
pub(crate) fn positional_then_settings(
    tokens: TokenStream,
    attribute: &str,
    first: &str,
    keys: &[Key],
    errors: &mut Errors,
) -> (First, Settings) {
    let mut settings = Settings {
        written: Vec::new(),
    };
    let parsed = (|input: ParseStream<'_>| {
        if input.is_empty() {
            return Ok(None);
        }
        let positional: Expr = input.parse()?;
        if !input.is_empty() {
            input.parse::<syn::Token![,]>()?;
            let rest = input.parse::<TokenStream>()?;
            syn::meta::parser(|meta| read_key(meta, attribute, keys, &mut settings, errors))
                .parse2(rest)?;
        }
        Ok(Some(positional))
    })
    .parse2(tokens);
    let positional = match parsed {
        Ok(None) => First::Missing,
        Ok(Some(Expr::Assign(assign))) if key_name(&assign.left).is_some() => {
            let key = key_name(&assign.left).expect("checked");
            let message = if keys.iter().any(|k| k.name == key) {
                format!(
                    "`#[{attribute}]` takes {first} first, then `{key} = ...`: `#[{attribute}({}, {key} = ...)]`",
                    example(attribute)
                )
            } else {
                format!(
                    "`#[{attribute}]` takes {first} first: `#[{attribute}({})]`",
                    example(attribute)
                )
            };
            errors.at(&assign.left, message);
            First::Invalid
        }
        Ok(Some(positional)) => First::Given(positional),
        Err(err) => {
            errors.push(err);
            First::Invalid
        }
    };
    (positional, settings)
}

/// The first argument of `#[timeout]` or `#[fallback]`.
pub(crate) enum First {
    Missing,
    /// Written wrong: reported.
    Invalid,
    Given(Expr),
}

/// An example of the first argument, for messages.
fn example(attribute: &str) -> &'static str {
    match attribute {
        "timeout" => "\"5s\"",
        _ => "cached_user",
    }
}

/// The name of `key` in `key = value`, if it is a plain name.
fn key_name(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Path(path) => path.path.get_ident().map(ToString::to_string),
        _ => None,
    }
}

/// Reads one `key = value`, by the table.
fn read_key(
    meta: ParseNestedMeta<'_>,
    attribute: &str,
    keys: &[Key],
    settings: &mut Settings,
    errors: &mut Errors,
) -> syn::Result<()> {
    let key = key_of(&meta)?;
    let Some(entry) = keys.iter().find(|k| key == k.name) else {
        return unknown_key(&meta, &key, attribute, keys, errors);
    };
    let (value, span) = read_value(&meta, &key, entry.value, attribute, errors)?;
    if settings.written(entry.name) {
        errors.at(&key, format_args!("`{key}` is given twice; give it once"));
    } else {
        settings.written.push(Setting { key, value, span });
    }
    Ok(())
}

/// The key being parsed, as an identifier (`crate` included).
pub(crate) fn key_of(meta: &ParseNestedMeta<'_>) -> syn::Result<Ident> {
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
fn unknown_key(
    meta: &ParseNestedMeta<'_>,
    key: &Ident,
    attribute: &str,
    keys: &[Key],
    errors: &mut Errors,
) -> syn::Result<()> {
    let name = key.to_string();
    let takes_backoff = keys.iter().find(|k| k.value == ValueKind::Backoff);
    match takes_backoff {
        Some(backoff) if crate::backoff::KINDS.contains(&name.as_str()) => {
            let args = if name == "none" { "" } else { "(...)" };
            errors.at(
                key,
                format_args!(
                    "`{name}` is a backoff: write `{} = {name}{args}`",
                    backoff.name
                ),
            );
        }
        _ => {
            let valid: Vec<&str> = keys.iter().map(|k| k.name).collect();
            report_unknown(key, &format!("#[{attribute}]"), &valid, errors);
        }
    }
    skip_value(meta)
}

/// "unknown key `x` for `#[where]`; did you mean `y`? (valid keys: ...)".
pub(crate) fn report_unknown(key: &Ident, context: &str, valid: &[&str], errors: &mut Errors) {
    let name = key.to_string();
    let hint = match nearest(&name, valid) {
        Some(close) => format!("; did you mean `{close}`?"),
        None => String::new(),
    };
    let valid = if valid.is_empty() {
        "it takes none".to_owned()
    } else {
        format!("valid keys: {}", backticked(valid))
    };
    errors.at(
        key,
        format_args!("unknown key `{name}` for `{context}`{hint} ({valid})"),
    );
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

/// The value after `key`, read as `kind`; `None` (reported) if it is not valid.
fn read_value(
    meta: &ParseNestedMeta<'_>,
    key: &Ident,
    kind: ValueKind,
    attribute: &str,
    errors: &mut Errors,
) -> syn::Result<(Option<Value>, Span)> {
    if !meta.input.peek(syn::Token![=]) {
        let message = format!("`{key}` takes a value: `{key} = {}`", example_value(kind));
        // The key alone (`max_attempts`) or with parentheses: the error on the key.
        skip_value(meta)?;
        errors.at(key, message);
        return Ok((None, key.span()));
    }
    if kind == ValueKind::Backoff {
        let input = meta.value()?;
        let span = input.span();
        let backoff = Backoff::parse(input, key, attribute, errors)?;
        return Ok((backoff.map(|b| Value::Backoff(Box::new(b))), span));
    }
    let expr: Expr = meta.value()?.parse()?;
    let span = expr.span();
    let value = match kind {
        ValueKind::Count => count_of(&expr, key, u32::MAX).map(Value::Count),
        ValueKind::SmallCount => count_of(&expr, key, u32::from(u16::MAX)).map(Value::Count),
        ValueKind::Rate => fraction_of(&expr, key, is_rate, RATE_RULE).map(Value::Rate),
        ValueKind::Duration => duration_of(&expr, key).map(Value::Duration),
        ValueKind::Wait => wait_of(&expr, key).map(Value::Duration),
        ValueKind::Window => window_of(&expr, key).map(Value::Window),
        ValueKind::Name => string_of(&expr, key).map(Value::Name),
        ValueKind::Predicate => callable_of(expr.clone(), key).map(Value::Expr),
        ValueKind::Expr => Ok(Value::Expr(expr.clone())),
        ValueKind::CratePath => crate_path_of(&expr, key).map(Value::Path),
        ValueKind::Backoff => unreachable!("read above"),
    };
    match value {
        Ok(value) => Ok((Some(value), span)),
        Err(message) => {
            errors.at(&expr, message);
            Ok((None, span))
        }
    }
}

/// An example of a value of `kind`, for messages.
fn example_value(kind: ValueKind) -> &'static str {
    match kind {
        ValueKind::Count | ValueKind::SmallCount => "3",
        ValueKind::Rate => "0.5",
        ValueKind::Duration => "\"30s\"",
        ValueKind::Wait => "\"100ms\"",
        ValueKind::Window => "20",
        ValueKind::Backoff => "exponential(max = \"10s\")",
        ValueKind::Name => "\"payments\"",
        ValueKind::Predicate => "is_transient",
        ValueKind::Expr => "&SHARED",
        ValueKind::CratePath => "\"my_resilient\"",
    }
}

fn literal(expr: &Expr) -> Option<&Lit> {
    match expr {
        Expr::Lit(lit) => Some(&lit.lit),
        _ => None,
    }
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

/// A whole number from 1 to `max`.
fn count_of(expr: &Expr, key: &Ident, max: u32) -> Result<u32, String> {
    let too_large = || {
        if max == u32::MAX {
            format!("`{key}` must be a whole number from 1 to {max}")
        } else {
            format!("`{key}` must be at most {max}")
        }
    };
    match literal(expr) {
        Some(Lit::Int(int)) => match int.base10_parse::<u32>() {
            Ok(0) => Err(format!("`{key}` must be at least 1")),
            Ok(n) if n <= max => Ok(n),
            _ => Err(too_large()),
        },
        _ if negative(expr).is_some() => {
            Err(format!("`{key}` must be a whole number from 1 to {max}"))
        }
        _ => Err(format!("`{key}` takes a whole number, like `{key} = 3`")),
    }
}

pub(crate) fn is_rate(x: f64) -> bool {
    x > 0.0 && x <= 1.0
}

pub(crate) const RATE_RULE: &str = "a rate is above 0 and at most 1";

/// A number that `accept`s, described as `rule`.
pub(crate) fn fraction_of(
    expr: &Expr,
    key: &dyn std::fmt::Display,
    accept: fn(f64) -> bool,
    rule: &str,
) -> Result<f64, String> {
    let (lit, sign) = match negative(expr) {
        Some(lit) => (Some(lit), -1.0),
        None => (literal(expr), 1.0),
    };
    let number = match lit {
        Some(Lit::Float(float)) => float.base10_parse::<f64>().ok(),
        Some(Lit::Int(int)) => int.base10_parse::<u32>().ok().map(f64::from),
        _ => None,
    };
    match number.map(|x| sign * x) {
        Some(x) if accept(x) => Ok(x),
        Some(_) => Err(format!(
            "`{key}` = {} is out of range: {rule}",
            expr.to_token_stream().to_string().replace(' ', "")
        )),
        None => Err(format!(
            "`{key}` takes a number, like `{key} = 0.5` ({rule})"
        )),
    }
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

/// A duration literal that may be zero.
fn wait_of(expr: &Expr, key: &dyn std::fmt::Display) -> Result<Duration, String> {
    match literal(expr) {
        Some(Lit::Str(text)) => resilient_duration::parse(&text.value()),
        _ => Err(format!(
            "`{key}` takes a duration in quotes: {}",
            resilient_duration::EXPECTED
        )),
    }
}

/// `window = 20` (the last N calls) or `window = "60s"` (a period).
fn window_of(expr: &Expr, key: &Ident) -> Result<Window, String> {
    match literal(expr) {
        Some(Lit::Int(int)) => match int.base10_parse::<u32>() {
            Ok(0) => Err("`window` must hold at least 1 call".to_owned()),
            Ok(n) => Ok(Window::Calls(n)),
            Err(_) => Err(format!(
                "`window` must be a whole number of calls from 1 to {}",
                u32::MAX
            )),
        },
        Some(Lit::Str(_)) => duration_of(expr, key).map(Window::Period),
        _ => Err(
            "`window` takes a number of calls (`window = 20`) or a period (`window = \"60s\"`)"
                .to_owned(),
        ),
    }
}

/// A non-empty string literal.
fn string_of(expr: &Expr, key: &Ident) -> Result<LitStr, String> {
    match literal(expr) {
        Some(Lit::Str(text)) if !text.value().is_empty() => Ok(text.clone()),
        Some(Lit::Str(_)) => Err(format!("`{key}` must not be empty")),
        _ => Err(format!(
            "`{key}` takes a string, like `{key} = \"payments\"`"
        )),
    }
}

/// `crate = "path"`: where the `resilient` crate is, for a renamed dependency.
fn crate_path_of(expr: &Expr, key: &Ident) -> Result<syn::Path, String> {
    match literal(expr) {
        Some(Lit::Str(text)) => text
            .parse::<syn::Path>()
            .map_err(|_| format!("`{key}` takes a path, like `crate = \"my_resilient\"`")),
        _ => Err(format!(
            "`{key}` takes a path in quotes, like `crate = \"my_resilient\"`"
        )),
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
