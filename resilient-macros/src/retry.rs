//! `#[retry(...)]`: its key table and the policy's constant expression.

use crate::breaker::with_methods;
use crate::expand::Naming;
use crate::parse::{Builder, Key, Settings, ValueKind};
use proc_macro2::TokenStream;
use quote::quote;

/// Every key, in the order the policy is written.
pub(crate) const KEYS: &[Key] = &[
    Key::new(
        "max_attempts",
        ValueKind::Count,
        Builder::Method("max_attempts"),
    ),
    Key::new("backoff", ValueKind::Backoff, Builder::Method("backoff")),
    Key::new("budget", ValueKind::Duration, Builder::Method("budget")),
    Key::new(
        "retry_ratio",
        ValueKind::Rate,
        Builder::Method("retry_ratio"),
    ),
    Key::new("when", ValueKind::Predicate, Builder::Expansion),
    Key::new("name", ValueKind::Name, Builder::Expansion),
    Key::new("policy", ValueKind::Expr, Builder::Expansion),
    Key::new("crate", ValueKind::CratePath, Builder::Expansion),
];

/// `RetryPolicy::new()` named, with every setting given, as a constant expression.
pub(crate) fn policy(settings: &Settings, root: &TokenStream, naming: &Naming) -> TokenStream {
    let (named, name) = naming.constructor("name", "for_function");
    let policy = quote!(#root::RetryPolicy::new().#named(#name));
    with_methods(policy, KEYS, settings, root)
}
