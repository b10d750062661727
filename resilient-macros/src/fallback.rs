//! `#[fallback(handler)]` or `#[fallback(handler, when = ...)]`: the handler first, then its keys.

use crate::errors::Errors;
use crate::parse::{self, Builder, First, Key, Settings, ValueKind};
use proc_macro2::{Span, TokenStream};
use syn::Expr;

pub(crate) const KEYS: &[Key] = &[
    Key::new("when", ValueKind::Predicate, Builder::Expansion),
    Key::new("name", ValueKind::Name, Builder::Expansion),
    Key::new("crate", ValueKind::CratePath, Builder::Expansion),
];

/// The handler (`None` when missing or invalid: reported) and the keys; `at` is the attribute.
pub(crate) fn parse(
    tokens: TokenStream,
    at: Span,
    errors: &mut Errors,
) -> (Option<Expr>, Settings) {
    let (first, settings) =
        parse::positional_then_settings(tokens, "fallback", "its handler", KEYS, errors);
    let handler = match first {
        First::Given(expr) => match parse::callable_of(expr.clone(), &"fallback") {
            Ok(handler) => Some(handler),
            Err(_) => {
                errors.at(&expr, "`#[fallback]` takes a function path or a closure that gets the error: `#[fallback(cached_user)]` or `#[fallback(|err| cached(id))]`");
                None
            }
        },
        First::Missing => {
            errors.at_span(at, "`#[fallback]` needs a function or closure to call with the error: `#[fallback(cached_user)]`");
            None
        }
        First::Invalid => None,
    };
    (handler, settings)
}
