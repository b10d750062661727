//! Attribute macros of [`resilient`](https://docs.rs/resilient).
//!
//! Use them through the `resilient` crate, which re-exports them and pins this crate's version:
//! the code they generate calls `resilient`'s non-public API. The attributes themselves arrive with
//! the macros issue; this crate holds the skeleton until then.
