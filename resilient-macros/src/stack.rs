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
}

impl Kind {
    const ALL: [Kind; 5] = [
        Kind::CircuitBreaker,
        Kind::Retry,
        Kind::Timeout,
        Kind::Fallback,
        Kind::Atomic,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::CircuitBreaker => "circuit_breaker",
            Kind::Retry => "retry",
            Kind::Timeout => "timeout",
            Kind::Fallback => "fallback",
            Kind::Atomic => "atomic",
        }
    }

    /// Whether `attr` is one of ours: `retry`, `resilient::retry` or `::resilient::retry`.
    fn of(attr: &Attribute) -> Option<Kind> {
        let path = attr.path();
        let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
        let name = match segments.as_slice() {
            [name] if path.leading_colon.is_none() => name,
            [krate, name] if krate == "resilient" => name,
            _ => return None,
        };
        Kind::ALL.into_iter().find(|kind| kind.name() == name)
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
            Kind::Atomic => parse::settings(args, name, crate::atomic::KEYS, errors),
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
/// `taken`), parsed and checked.
pub(crate) fn stack(
    kind: Kind,
    args: TokenStream,
    attrs: &mut Vec<Attribute>,
    taken: &mut Vec<syn::Path>,
    errors: &mut Errors,
) -> Vec<Layer> {
    let mut stacked = vec![(kind, args, Span::call_site())];
    let mut duplicate = None;
    attrs.retain(|attr| {
        let Some(kind) = Kind::of(attr) else {
            return true;
        };
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
        if stacked.iter().any(|(k, _, _)| *k == kind) {
            duplicate.get_or_insert((kind, attr.path().clone()));
        }
        stacked.push((kind, args, syn::spanned::Spanned::span(attr.path())));
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
    stacked
        .into_iter()
        .map(|(kind, args, at)| {
            let layer = Layer::parse(kind, args, at, errors);
            crate::validate::layer(&layer, errors);
            layer
        })
        .collect()
}
