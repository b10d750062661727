//! Attribute macros of [`resilient`](https://docs.rs/resilient): `#[circuit_breaker]`, `#[retry]`,
//! `#[timeout]` and `#[fallback]`.
//!
//! Use them through the `resilient` crate, which re-exports them and pins this crate's version:
//! the code they generate calls `resilient`'s non-public API (`resilient::__private`).
//!
//! Every attribute goes through one pipeline: the attributes stacked on the function are parsed
//! into small models (`attrs`), each model checks itself (`validate`), and `expand` writes the
//! policies as `static`s and composes the layers around the body. On any error the function is
//! emitted unchanged next to the errors, so the IDE keeps working.

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod atomic;
mod backoff;
mod breaker;
mod errors;
mod expand;
mod fallback;
mod function;
mod parse;
mod retry;
#[cfg(test)]
mod snapshots;
mod stack;
mod timeout;
mod validate;

use proc_macro::TokenStream;

#[doc = include_str!("../docs/circuit_breaker.md")]
#[proc_macro_attribute]
pub fn circuit_breaker(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::attribute(stack::Kind::CircuitBreaker, args.into(), item.into()).into()
}

#[doc = include_str!("../docs/retry.md")]
#[proc_macro_attribute]
pub fn retry(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::attribute(stack::Kind::Retry, args.into(), item.into()).into()
}

#[doc = include_str!("../docs/timeout.md")]
#[proc_macro_attribute]
pub fn timeout(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::attribute(stack::Kind::Timeout, args.into(), item.into()).into()
}

#[doc = include_str!("../docs/fallback.md")]
#[proc_macro_attribute]
pub fn fallback(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::attribute(stack::Kind::Fallback, args.into(), item.into()).into()
}

#[doc = include_str!("../docs/atomic.md")]
#[proc_macro_attribute]
pub fn atomic(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::attribute(stack::Kind::Atomic, args.into(), item.into()).into()
}
