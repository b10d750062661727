//! `#[hedge(delay = "50ms", max_hedges = 1)]`: its key table and the policy's constant
//! expression.

use crate::breaker::value_tokens;
use crate::expand::Naming;
use crate::parse::{Builder, Key, Settings, ValueKind};
use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::Ident;

/// Every key, in the order the policy is written.
pub(crate) const KEYS: &[Key] = &[
    Key::new("delay", ValueKind::Wait, Builder::Method("delay")),
    Key::new(
        "max_hedges",
        ValueKind::Count,
        Builder::Method("max_hedges"),
    ),
    Key::new("when", ValueKind::Predicate, Builder::Expansion),
    Key::new("name", ValueKind::Name, Builder::Expansion),
    Key::new("policy", ValueKind::Expr, Builder::Expansion),
    Key::new("crate", ValueKind::CratePath, Builder::Expansion),
];

/// `HedgePolicy::new()` named, with every setting given, as a constant expression.
pub(crate) fn policy(settings: &Settings, root: &TokenStream, naming: &Naming) -> TokenStream {
    let (named, name) = naming.constructor("name", "for_function");
    let mut policy = quote!(#root::HedgePolicy::new().#named(#name));
    for key in KEYS {
        let (Builder::Method(method), Some(value)) = (key.builder, settings.value(key.name)) else {
            continue;
        };
        let method = Ident::new(method, Span::call_site());
        let value = value_tokens(root, value);
        policy = quote!(#policy.#method(#value));
    }
    policy
}
