//! `#[rate_limit(rate = 100, per = "1s", burst = 20, max_wait = "0s")]`: its key table and the
//! limiter's constant expression.

use crate::backoff::duration;
use crate::breaker::with_methods;
use crate::expand::Naming;
use crate::parse::{Builder, Key, Settings, ValueKind};
use proc_macro2::TokenStream;
use quote::quote;
use std::time::Duration;

/// Every key, in the order the limiter is written.
pub(crate) const KEYS: &[Key] = &[
    Key::new("rate", ValueKind::Count, Builder::Expansion),
    Key::new("per", ValueKind::Duration, Builder::Expansion),
    Key::new("burst", ValueKind::Count, Builder::Method("burst")),
    Key::new("max_wait", ValueKind::Wait, Builder::Method("max_wait")),
    Key::new("name", ValueKind::Name, Builder::Expansion),
    Key::new("limiter", ValueKind::Expr, Builder::Expansion),
    Key::new("crate", ValueKind::CratePath, Builder::Expansion),
];

/// The period of `rate` when none is given.
const DEFAULT_PER: Duration = Duration::from_secs(1);

/// `RateLimiter::new(name, rate, per)` with every setting given, as a constant expression;
/// `rate` is given (checked while validating).
pub(crate) fn limiter(settings: &Settings, naming: &Naming, root: &TokenStream) -> TokenStream {
    let (new, name) = naming.constructor("new", "for_function");
    let rate = proc_macro2::Literal::u32_unsuffixed(settings.count("rate").unwrap_or(1));
    let per = duration(root, settings.duration("per").unwrap_or(DEFAULT_PER));
    let limiter = quote!(#root::RateLimiter::#new(#name, #rate, #per));
    with_methods(limiter, KEYS, settings, root)
}
