fn parse(input: &str) -> Result<u32, ParseError> {
    use ::my_resilient::__private as __resilient;
    use circuit_breaker as _;
    const __RESILIENT_FN: __resilient::Name = __resilient::name!(__resilient);
    static __RESILIENT_RETRY: __resilient::RetryPolicy = __resilient::RetryPolicy::new()
        .for_function(__RESILIENT_FN)
        .backoff(__resilient::Backoff::none());
    static __RESILIENT_BREAKER: __resilient::CircuitBreaker = __resilient::BreakerConfig::new()
        .failure_threshold(2)
        .build_for_function(__RESILIENT_FN);
    let mut __retry = __resilient::retry_blocking(&__RESILIENT_RETRY);
    loop {
        let __call = __resilient::body_blocking(|| -> Result<u32, ParseError> {
            if false {
                return __resilient::rejectable::<Result<u32, ParseError>>();
            }
            input.parse().map_err(ParseError::from)
        });
        let __call = || __resilient::breaker_blocking(
            &__RESILIENT_BREAKER,
            __resilient::every_error,
            __call,
        );
        if let ::core::option::Option::Some(__result) = __retry
            .attempt_blocking(__call, __resilient::every_error)
        {
            break __result;
        }
    }
}
