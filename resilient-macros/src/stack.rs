//! The resilient attributes stacked on one function, in reading order (the top one outermost),
//! each read into its model (stage one) and checked (stage two, `validate`).

use crate::errors::Errors;
use crate::parse::{self, Settings};
use crate::timeout::Limit;
use proc_macro2::{Span, TokenStream};
use syn::{Attribute, Expr, Meta};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    CircuitBreaker,
    Retry,
    Timeout,
    Fallback,
    Atomic,
    RateLimit,
    Bulkhead,
    Hedge,
}

impl Kind {
    pub(crate) const ALL: [Kind; 8] = [
        Kind::CircuitBreaker,
        Kind::Retry,
        Kind::Timeout,
        Kind::Fallback,
        Kind::Atomic,
        Kind::RateLimit,
        Kind::Bulkhead,
        Kind::Hedge,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::CircuitBreaker => "circuit_breaker",
            Kind::Retry => "retry",
            Kind::Timeout => "timeout",
            Kind::Fallback => "fallback",
            Kind::Atomic => "atomic",
            Kind::RateLimit => "rate_limit",
            Kind::Bulkhead => "bulkhead",
            Kind::Hedge => "hedge",
        }
    }

    /// Whether `attr` is one of ours: `retry`, `resilient::retry`, `::resilient::retry`, or
    /// `renamed::retry` for the crate's name in this stack. A bare `#[timeout(1000)]` is another
    /// crate's (ntest's): ours never takes a number.
    fn of(attr: &Attribute, renamed: Option<&str>) -> Option<Kind> {
        let path = attr.path();
        let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
        let name = match segments.as_slice() {
            [name] if path.leading_colon.is_none() => name,
            [krate, name] if krate == "resilient" || Some(krate.as_str()) == renamed => name,
            _ => return None,
        };
        let kind = Kind::ALL.into_iter().find(|kind| kind.name() == name)?;
        let number = attr.parse_args::<syn::LitInt>().is_ok();
        (!(kind == Kind::Timeout && number)).then_some(kind)
    }
}

/// One attribute's model: its keys, and what comes first in `#[timeout]` and `#[fallback]`.
pub(crate) struct Layer {
    pub(crate) kind: Kind,
    pub(crate) settings: Settings,
    /// The limit of a timeout (`None` if reported missing or invalid).
    pub(crate) limit: Option<Limit>,
    /// The handler of a fallback (`None` if reported missing or invalid).
    pub(crate) handler: Option<Expr>,
}

impl Layer {
    /// Reads one attribute's arguments by its key table; `at` is the attribute, where an error
    /// about a missing first argument goes.
    fn parse(kind: Kind, args: TokenStream, at: Span, errors: &mut Errors) -> Layer {
        let name = kind.name();
        let (mut limit, mut handler) = (None, None);
        let settings = match kind {
            Kind::CircuitBreaker => parse::settings(args, name, crate::breaker::KEYS, errors),
            Kind::Retry => parse::settings(args, name, crate::retry::KEYS, errors),
            Kind::Hedge => parse::settings(args, name, crate::hedge::KEYS, errors),
            Kind::Atomic => parse::settings(args, name, crate::atomic::KEYS, errors),
            Kind::RateLimit => {
                let settings = parse::settings(args, name, crate::rate_limit::KEYS, errors);
                if !settings.written("rate") && !settings.written("limiter") {
                    errors.at_span(at, "`#[rate_limit]` needs its `rate`: `#[rate_limit(rate = 100, per = \"1s\")]`, or a limiter of yours with `limiter = EXPR`");
                }
                settings
            }
            Kind::Bulkhead => {
                let settings = parse::settings(args, name, crate::bulkhead::KEYS, errors);
                if !settings.written("max_concurrent") && !settings.written("bulkhead") {
                    errors.at_span(at, "`#[bulkhead]` needs its `max_concurrent`: `#[bulkhead(max_concurrent = 10)]`, or a bulkhead of yours with `bulkhead = EXPR`");
                }
                settings
            }
            Kind::Timeout => {
                let (parsed, settings) = crate::timeout::parse(args, at, errors);
                limit = parsed;
                settings
            }
            Kind::Fallback => {
                let (parsed, settings) = crate::fallback::parse(args, at, errors);
                handler = parsed;
                settings
            }
        };
        Layer {
            kind,
            settings,
            limit,
            handler,
        }
    }
}

/// The invoked attribute and every one of ours below it (taken off `attrs`, their paths added to
/// `taken`), read and checked.
pub(crate) fn stack(
    kind: Kind,
    args: TokenStream,
    attrs: &mut Vec<Attribute>,
    taken: &mut Vec<syn::Path>,
    errors: &mut Errors,
) -> Vec<Layer> {
    let top = Layer::parse(kind, args, Span::call_site(), errors);
    // A renamed crate's attributes are ours too, once the top one says where the crate is.
    let renamed = top
        .settings
        .crate_path()
        .and_then(|path| path.segments.last())
        .map(|segment| segment.ident.to_string());
    let mut below = Vec::new();
    let mut duplicate = None;
    let mut foreign: Option<syn::Path> = None;
    attrs.retain(|attr| {
        let Some(kind) = Kind::of(attr, renamed.as_deref()) else {
            if foreign.is_none() && is_macro(attr) {
                foreign = Some(attr.path().clone());
            }
            return true;
        };
        if let Some(path) = foreign.take() {
            let shown = quote::ToTokens::to_token_stream(&path).to_string().replace(' ', "");
            errors.at(
                &path,
                format_args!(
                    "`#[{shown}]` is between resilient attributes: it would wrap all of them, not only those below it; move it above the first or below `#[{}]`",
                    kind.name()
                ),
            );
        }
        let args = match &attr.meta {
            Meta::Path(_) => TokenStream::new(),
            Meta::List(list) => list.tokens.clone(),
            Meta::NameValue(nv) => {
                errors.at(
                    nv,
                    format_args!(
                        "write `#[{}(...)]`, with the settings in parentheses",
                        kind.name()
                    ),
                );
                TokenStream::new()
            }
        };
        let seen = std::iter::once(top.kind).chain(below.iter().map(|(k, _, _)| *k));
        if seen.clone().any(|k| k == kind) {
            duplicate.get_or_insert((kind, attr.path().clone()));
        }
        below.push((kind, args, syn::spanned::Spanned::span(attr.path())));
        taken.push(attr.path().clone());
        false
    });
    if let Some((kind, path)) = duplicate {
        errors.at(
            path,
            format_args!(
                "`#[{}]` is already on this function: each attribute may be given once",
                kind.name()
            ),
        );
    }
    crate::validate::layer(&top, errors);
    let mut layers = vec![top];
    for (kind, args, at) in below {
        let layer = Layer::parse(kind, args, at, errors);
        crate::validate::layer(&layer, errors);
        layers.push(layer);
    }
    crate::validate::stack(&layers, errors);
    layers
}

/// Whether `attr` may be an attribute macro, which would be expanded around whatever it is on:
/// not one of the language's inert attributes, nor a tool's.
fn is_macro(attr: &Attribute) -> bool {
    const INERT: &[&str] = &[
        "allow",
        "warn",
        "deny",
        "forbid",
        "expect",
        "doc",
        "inline",
        "cold",
        "must_use",
        "deprecated",
        "track_caller",
        "cfg",
        "cfg_attr",
        "link_section",
        "no_mangle",
        "export_name",
        "target_feature",
        "instruction_set",
        "unsafe",
        "optimize",
    ];
    let path = attr.path();
    let first = path.segments.first().map(|s| s.ident.to_string());
    let tool = matches!(first.as_deref(), Some("rustfmt" | "clippy" | "diagnostic"));
    let inert = path
        .get_ident()
        .is_some_and(|ident| INERT.iter().any(|name| ident == name));
    !tool && !inert
}
