//! `#[hedge(delay = "50ms", max_hedges = 1)]`: its key table and the policy's constant
//! expression.

use crate::breaker::with_methods;
use crate::expand::Naming;
use crate::parse::{Builder, Key, Settings, ValueKind};
use proc_macro2::TokenStream;
use quote::quote;

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
    let policy = quote!(#root::HedgePolicy::new().#named(#name));
    with_methods(policy, KEYS, settings, root)
}
