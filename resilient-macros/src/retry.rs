//! `#[retry(...)]`: its key table and the policy's constant expression.

use crate::breaker::value_tokens;
use crate::expand::Naming;
use crate::parse::{Builder, Key, Settings, ValueKind};
use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::Ident;

/// Every key, in the order the policy is written.
pub(crate) const KEYS: &[Key] = &[
    Key::new(
        "max_attempts",
        ValueKind::Count,
        Builder::Method("max_attempts"),
    ),
    Key::new("backoff", ValueKind::Backoff, Builder::Method("backoff")),
    Key::new("budget", ValueKind::Duration, Builder::Method("budget")),
    Key::new("when", ValueKind::Predicate, Builder::Expansion),
    Key::new("name", ValueKind::Name, Builder::Expansion),
    Key::new("policy", ValueKind::Expr, Builder::Expansion),
    Key::new("crate", ValueKind::CratePath, Builder::Expansion),
];

/// `RetryPolicy::new()` named, with every setting given, as a constant expression.
pub(crate) fn policy(settings: &Settings, root: &TokenStream, naming: &Naming) -> TokenStream {
    let (named, name) = naming.constructor("name", "for_function");
    let mut policy = quote!(#root::RetryPolicy::new().#named(#name));
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
