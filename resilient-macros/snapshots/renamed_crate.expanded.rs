fn parse(input: &str) -> Result<u32, ParseError> {
    use circuit_breaker as _;
    ::my_resilient::__private::can_reject::<Result<u32, ParseError>>();
    const __RESILIENT_NAME: &str = ::core::concat!(
        ::core::module_path!(), "::", "parse"
    );
    static __RESILIENT_BREAKER: ::my_resilient::__private::CircuitBreaker = ::my_resilient::__private::CircuitBreaker::new(
        __RESILIENT_NAME,
        ::my_resilient::__private::BreakerConfig::new().failure_threshold(2),
    );
    static __RESILIENT_RETRY: ::my_resilient::__private::RetryPolicy = ::my_resilient::__private::RetryPolicy::new()
        .name(__RESILIENT_NAME)
        .backoff(::my_resilient::__private::Backoff::none());
    (|| {
        let mut __resilient_retry = ::my_resilient::__private::RetryLoop::start(
            &__RESILIENT_RETRY,
        );
        loop {
            if let ::core::option::Option::Some(__resilient_result) = __resilient_retry
                .after_blocking(
                    (|| ::my_resilient::__private::breaker_blocking(
                        &__RESILIENT_BREAKER,
                        || -> Result<u32, ParseError> {
                            input.parse().map_err(ParseError::from)
                        },
                        ::my_resilient::__private::every_error,
                    ))(),
                    ::my_resilient::__private::every_error,
                    true,
                )
            {
                break __resilient_result;
            }
        }
    })()
}
