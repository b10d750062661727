fn parse(input: &str) -> Result<u32, ParseError> {
    use circuit_breaker as _;
    ::my_resilient::__private::can_reject::<Result<u32, ParseError>>();
    let __resilient_breaker: &::my_resilient::__private::CircuitBreaker = {
        static __RESILIENT_BREAKER: ::my_resilient::__private::CircuitBreaker = ::my_resilient::__private::CircuitBreaker::new(
            ::core::concat!(::core::module_path!(), "::", "parse"),
            ::my_resilient::__private::BreakerConfig::new().failure_threshold(2),
        );
        ::my_resilient::__private::registered(&__RESILIENT_BREAKER)
    };
    let __resilient_retry_policy: &::my_resilient::__private::RetryPolicy = {
        static __RESILIENT_RETRY: ::my_resilient::__private::RetryPolicy = ::my_resilient::__private::RetryPolicy::new()
            .name(::core::concat!(::core::module_path!(), "::", "parse"))
            .backoff(::my_resilient::__private::Backoff::none());
        ::my_resilient::__private::registered(&__RESILIENT_RETRY)
    };
    ::my_resilient::__private::output::<
        Result<u32, ParseError>,
    >(
        (|| {
            let mut __resilient_retry = ::my_resilient::__private::RetryLoop::start(
                __resilient_retry_policy,
            );
            loop {
                if let ::core::option::Option::Some(__resilient_result) = __resilient_retry
                    .after_blocking(
                        ::my_resilient::__private::attempt_blocking(
                            (|| ::my_resilient::__private::breaker_blocking(
                                __resilient_breaker,
                                ::my_resilient::__private::body_blocking(|| -> Result<
                                    u32,
                                    ParseError,
                                > { input.parse().map_err(ParseError::from) }),
                                ::my_resilient::__private::every_error,
                            ))(),
                            true,
                        ),
                        ::my_resilient::__private::every_error,
                    )
                {
                    break __resilient_result;
                }
            }
        })(),
    )
}
