//! Generated code names only `::resilient::__private::…` and `::core::…`, and keeps its own items
//! and locals out of the user's way: user modules named `resilient` and `core`, user items and
//! locals named like the generated ones, and `use` statements in the body change nothing.
//!
//! Like tracing-attributes' `user_tracing_module` test. Everything here is spelled with `::std`
//! and `::resilient`, since `resilient` and `core` name the modules below.

#![allow(non_upper_case_globals, dead_code)]

/// A user module that shadows the crate's name for relative paths.
mod resilient {
    pub(crate) mod __private {}
    pub(crate) fn retry() {}
}

/// A user module that shadows `core` for relative paths.
mod core {
    pub(crate) mod option {}
    pub(crate) mod result {}
}

#[allow(unused_macros)]
macro_rules! module_path {
    () => {
        "not the module path"
    };
}

#[allow(unused_macros)]
macro_rules! concat {
    ($($t:tt)*) => {
        "not concatenated"
    };
}

use ::resilient::{
    BreakerConfig, CircuitBreaker, Rejected, RejectedKind, circuit_breaker, fallback, retry,
    timeout,
};
use ::std::sync::atomic::{AtomicU32, Ordering};
use ::std::time::Duration;

#[derive(Debug, PartialEq)]
enum Error {
    Failed(u32),
    Rejected(Rejected),
}

impl From<Rejected> for Error {
    fn from(r: Rejected) -> Self {
        Error::Rejected(r)
    }
}

// Items named as the generated ones are: the body sees these, not the generated statics.

#[tokio::test(start_paused = true)]
async fn user_modules_named_resilient_and_core_do_not_break_annotated_functions() {
    #[retry(max_attempts = 3, backoff = constant("1ms"))]
    #[circuit_breaker(failure_threshold = 5)]
    #[timeout("1s")]
    async fn fetch(calls: &AtomicU32) -> Result<u32, Error> {
        let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
        if n < 3 { Err(Error::Failed(n)) } else { Ok(n) }
    }
    let calls = AtomicU32::new(0);
    assert_eq!(fetch(&calls).await, Ok(3));

    #[fallback(|_err| Ok(0))]
    #[retry(max_attempts = 2, backoff = none)]
    #[circuit_breaker(failure_threshold = 1)]
    fn blocking(calls: &AtomicU32) -> Result<u32, Error> {
        Err(Error::Failed(calls.fetch_add(1, Ordering::SeqCst) + 1))
    }
    let calls = AtomicU32::new(0);
    assert_eq!(blocking(&calls), Ok(0));
    assert_eq!(calls.load(Ordering::SeqCst), 1, "open after one failure");
}

#[tokio::test(start_paused = true)]
async fn absolute_attribute_paths_work_beside_a_module_named_resilient() {
    #[::resilient::retry(max_attempts = 2, backoff = none)]
    #[::resilient::circuit_breaker(failure_threshold = 5)]
    #[::resilient::timeout("1s")]
    async fn fetch(calls: &AtomicU32) -> Result<u32, Error> {
        Err(Error::Failed(calls.fetch_add(1, Ordering::SeqCst) + 1))
    }
    let calls = AtomicU32::new(0);
    assert_eq!(fetch(&calls).await, Err(Error::Failed(2)));
}

#[tokio::test(start_paused = true)]
async fn user_macros_named_module_path_and_concat_do_not_change_the_default_name() {
    #[circuit_breaker(failure_threshold = 1)]
    async fn fetch() -> Result<(), Error> {
        Err(Error::Failed(1))
    }
    fetch().await.unwrap_err();
    let Err(Error::Rejected(rejected)) = fetch().await else {
        panic!("expected a rejection")
    };
    assert_eq!(rejected.kind(), RejectedKind::CircuitOpen);
    assert_eq!(rejected.policy(), "hygiene::fetch");
}

#[tokio::test(start_paused = true)]
async fn locals_and_arguments_named_like_the_generated_ones_do_not_clash() {
    static SHARED: CircuitBreaker = CircuitBreaker::new("shared", BreakerConfig::new());

    #[retry(max_attempts = 3, backoff = none)]
    #[circuit_breaker(breaker = __resilient_breaker)]
    #[timeout(__resilient_time_limit)]
    async fn fetch(
        __resilient_breaker: &CircuitBreaker,
        __resilient_time_limit: Duration,
        __resilient_retry: &AtomicU32,
    ) -> Result<u32, Error> {
        let __resilient_result = __resilient_retry.fetch_add(1, Ordering::SeqCst) + 1;
        let __resilient_error = Error::Failed(__resilient_result);
        let __resilient_retry_policy = __resilient_result < 3;
        if __resilient_retry_policy {
            Err(__resilient_error)
        } else {
            Ok(__resilient_result)
        }
    }
    let calls = AtomicU32::new(0);
    assert_eq!(fetch(&SHARED, Duration::from_secs(1), &calls).await, Ok(3));
    assert_eq!(SHARED.metrics().failures, 2);

    #[fallback(|__resilient_error| Ok(__resilient_result))]
    #[retry(max_attempts = 2, backoff = none)]
    fn blocking(__resilient_result: u32) -> Result<u32, Error> {
        let __resilient_retry = __resilient_result;
        Err(Error::Failed(__resilient_retry))
    }
    assert_eq!(blocking(9), Ok(9));
}

/// Names a body might import, spelled as the runtime's are.
mod fake {
    pub(crate) struct RetryLoop;
    pub(crate) fn breaker() {}
    pub(crate) fn timeout() {}
    pub(crate) fn body() {}
    pub(crate) fn every_error() {}
    pub(crate) type Duration = u8;
}

#[tokio::test(start_paused = true)]
async fn use_statements_and_items_in_the_body_stay_in_the_body() {
    #[retry(max_attempts = 2, backoff = none)]
    #[circuit_breaker(failure_threshold = 5)]
    #[timeout("1s")]
    async fn fetch(calls: &AtomicU32) -> Result<u32, Error> {
        #[allow(unused_imports)]
        use self::fake::{Duration, RetryLoop, body, breaker, every_error, timeout};
        use ::std::result::Result::{Err as Failure, Ok as Success};
        static __RESILIENT_BREAKER: u32 = 7;
        const __RESILIENT_FN: &str = "inside";
        let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
        if n < 2 {
            Failure(Error::Failed(n))
        } else {
            Success(__RESILIENT_BREAKER + __RESILIENT_FN.len() as u32)
        }
    }
    let calls = AtomicU32::new(0);
    assert_eq!(fetch(&calls).await, Ok(13));
}
