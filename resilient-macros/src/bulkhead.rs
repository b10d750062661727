//! `#[bulkhead(max_concurrent = 10, max_wait = "100ms")]`: its key table and the bulkhead's
//! constant expression.

use crate::breaker::with_methods;
use crate::expand::Naming;
use crate::parse::{Builder, Key, Settings, ValueKind};
use proc_macro2::TokenStream;
use quote::quote;

/// Every key, in the order the bulkhead is written.
pub(crate) const KEYS: &[Key] = &[
    Key::new("max_concurrent", ValueKind::Count, Builder::Expansion),
    Key::new("max_wait", ValueKind::Wait, Builder::Method("max_wait")),
    Key::new("name", ValueKind::Name, Builder::Expansion),
    Key::new("bulkhead", ValueKind::Expr, Builder::Expansion),
    Key::new("crate", ValueKind::CratePath, Builder::Expansion),
];

/// `Bulkhead::new(name, max_concurrent)` with every setting given, as a constant expression;
/// `max_concurrent` is given (checked while parsing).
pub(crate) fn bulkhead(settings: &Settings, naming: &Naming, root: &TokenStream) -> TokenStream {
    let (new, name) = naming.constructor("new", "for_function");
    let max = settings.count("max_concurrent").unwrap_or(1);
    let max = proc_macro2::Literal::u32_unsuffixed(max);
    let bulkhead = quote!(#root::Bulkhead::#new(#name, #max));
    with_methods(bulkhead, KEYS, settings, root)
}
