async fn fetch_user(id: u64) -> Result<User, ApiError> {
    use ::resilient::__private as __resilient;
    use {circuit_breaker as _, timeout as _};
    const __RESILIENT_FN: __resilient::Name = __resilient::name!(__resilient);
    static __RESILIENT_RETRY: __resilient::RetryPolicy = __resilient::RetryPolicy::new()
        .for_function(__RESILIENT_FN)
        .max_attempts(4);
    static __RESILIENT_BREAKER: __resilient::CircuitBreaker = __resilient::BreakerConfig::new()
        .failure_threshold(3)
        .recovery_timeout(__resilient::Duration::from_secs(30))
        .build_for_function(__RESILIENT_FN);
    static __RESILIENT_TIMEOUT: __resilient::TimeoutPolicy = __resilient::TimeoutPolicy::for_function(
        __RESILIENT_FN,
        __resilient::Duration::from_secs(5),
    );
    let mut __retry = __resilient::retry(&__RESILIENT_RETRY, ApiError::is_transient);
    loop {
        let __call = async {
            if false {
                return __resilient::rejectable::<Result<User, ApiError>>();
            }
            api::get_user(id).await
        };
        let __call = __resilient::timeout(&__RESILIENT_TIMEOUT, __call);
        let __call = __resilient::breaker(&__RESILIENT_BREAKER, __call);
        if let ::core::option::Option::Some(__result) = __retry.attempt(__call).await {
            break __result;
        }
    }
}
