//! Attribute macros of [`resilient`](https://docs.rs/resilient): use them through the
//! `resilient` crate, which re-exports them and pins this crate's version (the code they generate
//! calls `resilient`'s non-public API, `resilient::__private`).
//!
//! | attribute | what it does |
//! | --- | --- |
//! | [`#[circuit_breaker]`](macro@circuit_breaker) | stops calling a dependency that keeps failing, and tries it again later |
//! | [`#[retry]`](macro@retry) | tries the call again after a failure, waiting longer each time |
//! | [`#[timeout]`](macro@timeout) | gives up on a call that takes too long (async functions) |
//! | [`#[fallback]`](macro@fallback) | answers with another value when the call fails |
//! | [`#[atomic]`](macro@atomic) | runs the body in a rollback scope |
//!
//! Stacked, they apply in reading order, the top one outermost: `#[fallback]` › `#[retry]` ›
//! `#[circuit_breaker]` › `#[timeout]`. Each attribute's page shows what it expands to.
//!
//! The macros work in three stages, one file each: `parse` reads each attribute's arguments by its
//! key table (`breaker.rs`, `retry.rs`, `timeout.rs`, `fallback.rs`, `atomic.rs`; the backoff
//! grammar in `backoff.rs`), checking each value on its own; `validate` checks the keys against
//! each other; `expand` writes the policies as `static`s and one line per layer. On any error the
//! function is emitted unchanged next to the errors, so the IDE keeps working.

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod atomic;
mod backoff;
mod breaker;
mod bulkhead;
mod errors;
mod expand;
mod fallback;
mod function;
mod hedge;
mod parse;
mod rate_limit;
mod retry;
#[cfg(test)]
mod snapshots;
mod stack;
mod timeout;
mod validate;

use proc_macro::TokenStream;

#[doc = include_str!("../docs/circuit_breaker.md")]
#[doc = "\n# What it expands to\n\nThis function\n\n```rust,ignore"]
#[doc = include_str!("../snapshots/only_circuit_breaker.rs")]
#[doc = "```\n\nbecomes (the snapshot `snapshots/only_circuit_breaker.expanded.rs`):\n\n```rust,ignore"]
#[doc = include_str!("../snapshots/only_circuit_breaker.expanded.rs")]
#[doc = "```"]
#[proc_macro_attribute]
pub fn circuit_breaker(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::attribute(stack::Kind::CircuitBreaker, args.into(), item.into()).into()
}

#[doc = include_str!("../docs/retry.md")]
#[doc = "\n# What it expands to\n\nThis function\n\n```rust,ignore"]
#[doc = include_str!("../snapshots/only_retry.rs")]
#[doc = "```\n\nbecomes (the snapshot `snapshots/only_retry.expanded.rs`):\n\n```rust,ignore"]
#[doc = include_str!("../snapshots/only_retry.expanded.rs")]
#[doc = "```"]
#[proc_macro_attribute]
pub fn retry(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::attribute(stack::Kind::Retry, args.into(), item.into()).into()
}

#[doc = include_str!("../docs/timeout.md")]
#[doc = "\n# What it expands to\n\nThis function\n\n```rust,ignore"]
#[doc = include_str!("../snapshots/only_timeout.rs")]
#[doc = "```\n\nbecomes (the snapshot `snapshots/only_timeout.expanded.rs`):\n\n```rust,ignore"]
#[doc = include_str!("../snapshots/only_timeout.expanded.rs")]
#[doc = "```"]
#[proc_macro_attribute]
pub fn timeout(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::attribute(stack::Kind::Timeout, args.into(), item.into()).into()
}

#[doc = include_str!("../docs/fallback.md")]
#[doc = "\n# What it expands to\n\nThis function\n\n```rust,ignore"]
#[doc = include_str!("../snapshots/only_fallback.rs")]
#[doc = "```\n\nbecomes (the snapshot `snapshots/only_fallback.expanded.rs`):\n\n```rust,ignore"]
#[doc = include_str!("../snapshots/only_fallback.expanded.rs")]
#[doc = "```"]
#[proc_macro_attribute]
pub fn fallback(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::attribute(stack::Kind::Fallback, args.into(), item.into()).into()
}

#[doc = include_str!("../docs/rate_limit.md")]
#[doc = "\n# What it expands to\n\nThis function\n\n```rust,ignore"]
#[doc = include_str!("../snapshots/only_rate_limit.rs")]
#[doc = "```\n\nbecomes (the snapshot `snapshots/only_rate_limit.expanded.rs`):\n\n```rust,ignore"]
#[doc = include_str!("../snapshots/only_rate_limit.expanded.rs")]
#[doc = "```"]
#[proc_macro_attribute]
pub fn rate_limit(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::attribute(stack::Kind::RateLimit, args.into(), item.into()).into()
}

#[doc = include_str!("../docs/bulkhead.md")]
#[doc = "\n# What it expands to\n\nThis function\n\n```rust,ignore"]
#[doc = include_str!("../snapshots/only_bulkhead.rs")]
#[doc = "```\n\nbecomes (the snapshot `snapshots/only_bulkhead.expanded.rs`):\n\n```rust,ignore"]
#[doc = include_str!("../snapshots/only_bulkhead.expanded.rs")]
#[doc = "```"]
#[proc_macro_attribute]
pub fn bulkhead(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::attribute(stack::Kind::Bulkhead, args.into(), item.into()).into()
}

#[doc = include_str!("../docs/hedge.md")]
#[doc = "\n# What it expands to\n\nThis function\n\n```rust,ignore"]
#[doc = include_str!("../snapshots/only_hedge.rs")]
#[doc = "```\n\nbecomes (the snapshot `snapshots/only_hedge.expanded.rs`):\n\n```rust,ignore"]
#[doc = include_str!("../snapshots/only_hedge.expanded.rs")]
#[doc = "```"]
#[proc_macro_attribute]
pub fn hedge(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::attribute(stack::Kind::Hedge, args.into(), item.into()).into()
}

#[doc = include_str!("../docs/atomic.md")]
#[doc = "\n# What it expands to\n\nThis function\n\n```rust,ignore"]
#[doc = include_str!("../snapshots/only_atomic.rs")]
#[doc = "```\n\nbecomes (the snapshot `snapshots/only_atomic.expanded.rs`):\n\n```rust,ignore"]
#[doc = include_str!("../snapshots/only_atomic.expanded.rs")]
#[doc = "```"]
#[proc_macro_attribute]
pub fn atomic(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::attribute(stack::Kind::Atomic, args.into(), item.into()).into()
}
