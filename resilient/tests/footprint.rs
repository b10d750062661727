//! What a policy costs in a `static`: each annotated function holds its policies for the life of
//! the program, so a few hundred annotated functions must not carry kilobytes each. The counts
//! that every call adds to live in one table shared by all policies (a row per thread), not in
//! the policies.

use resilient::{
    Bulkhead, CircuitBreaker, FallbackPolicy, HedgePolicy, RateLimiter, RetryPolicy, TimeoutPolicy,
};
use std::mem::size_of;

#[test]
#[cfg(target_pointer_width = "64")]
fn each_policy_type_has_the_size_it_had_when_this_was_written() {
    // A change here is a change of every annotated function's footprint: say it in review.
    // With `redis`, a breaker holds a pointer to its part in the cluster's decision.
    let breaker = if cfg!(feature = "redis") { 504 } else { 488 };
    assert_eq!(size_of::<CircuitBreaker>(), breaker);
    // With `redis`, a retry policy holds a pointer to its part in the cluster's retry ratio.
    let retry = if cfg!(feature = "redis") { 248 } else { 232 };
    assert_eq!(size_of::<RetryPolicy>(), retry);
    assert_eq!(size_of::<TimeoutPolicy>(), 104);
    assert_eq!(size_of::<FallbackPolicy>(), 72);
    // With `redis`, a limiter holds its link to the shared backend and its leased turns.
    let limiter = if cfg!(feature = "redis") { 304 } else { 200 };
    assert_eq!(size_of::<RateLimiter>(), limiter);
    assert_eq!(size_of::<Bulkhead>(), 192);
    assert_eq!(size_of::<HedgePolicy>(), 136);
}

#[test]
fn the_readme_stack_takes_at_most_one_kibibyte() {
    let readme_stack =
        size_of::<RetryPolicy>() + size_of::<CircuitBreaker>() + size_of::<TimeoutPolicy>();
    assert!(readme_stack <= 1024, "{readme_stack} bytes");
    let with_fallback = readme_stack + size_of::<FallbackPolicy>();
    assert!(with_fallback <= 1024, "{with_fallback} bytes");
}
