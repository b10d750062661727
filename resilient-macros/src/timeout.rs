//! `#[timeout("5s")]` or `#[timeout(EXPR)]`: the limit first, then its keys.

use crate::errors::Errors;
use crate::parse::{self, Builder, First, Key, Settings, ValueKind};
use proc_macro2::{Span, TokenStream};
use std::time::Duration;
use syn::Expr;

pub(crate) const KEYS: &[Key] = &[
    Key::new("name", ValueKind::Name, Builder::Expansion),
    Key::new("crate", ValueKind::CratePath, Builder::Expansion),
];

/// The limit.
pub(crate) enum Limit {
    /// A duration literal, checked here.
    Fixed(Duration),
    /// An expression of type `Duration`, evaluated at each call.
    Dynamic(Expr),
}

/// The limit (`None` when missing or invalid: reported) and the keys; `at` is the attribute.
pub(crate) fn parse(
    tokens: TokenStream,
    at: Span,
    errors: &mut Errors,
) -> (Option<Limit>, Settings) {
    let (first, settings) =
        parse::positional_then_settings(tokens, "timeout", "its limit", KEYS, errors);
    let limit = match first {
        First::Given(Expr::Lit(lit)) if matches!(lit.lit, syn::Lit::Str(_)) => {
            match parse::duration_of(&Expr::Lit(lit.clone()), &"timeout") {
                Ok(d) => Some(Limit::Fixed(d)),
                Err(message) => {
                    errors.at(&lit, message);
                    None
                }
            }
        }
        First::Given(Expr::Lit(lit)) => {
            errors.at(&lit, format_args!("`#[timeout]` takes a duration in quotes or an expression of type `Duration`: {}", resilient_duration::EXPECTED));
            None
        }
        First::Given(expr) => Some(Limit::Dynamic(expr)),
        First::Missing => {
            errors.at_span(at, "`#[timeout]` needs its limit: `#[timeout(\"5s\")]` or `#[timeout(EXPR)]` with `EXPR: Duration`");
            None
        }
        First::Invalid => None,
    };
    (limit, settings)
}
