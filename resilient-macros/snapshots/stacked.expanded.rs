async fn fetch_user(id: u64) -> Result<User, ApiError> {
    use circuit_breaker as _;
    use timeout as _;
    ::resilient::__private::can_reject::<Result<User, ApiError>>();
    let __resilient_timeout_policy: &'static ::resilient::__private::TimeoutPolicy = {
        static __RESILIENT_TIMEOUT: ::resilient::__private::TimeoutPolicy = ::resilient::__private::TimeoutPolicy::new(
            ::core::concat!(::core::module_path!(), "::", "fetch_user"),
            ::resilient::__private::Duration::from_nanos(5000000000),
        );
        ::resilient::__private::registered(&__RESILIENT_TIMEOUT)
    };
    let __resilient_breaker: &::resilient::__private::CircuitBreaker = {
        static __RESILIENT_BREAKER: ::resilient::__private::CircuitBreaker = ::resilient::__private::CircuitBreaker::new(
            ::core::concat!(::core::module_path!(), "::", "fetch_user"),
            ::resilient::__private::BreakerConfig::new()
                .failure_threshold(3)
                .recovery_timeout(
                    ::resilient::__private::Duration::from_nanos(30000000000),
                ),
        );
        ::resilient::__private::registered(&__RESILIENT_BREAKER)
    };
    let __resilient_retry_policy: &::resilient::__private::RetryPolicy = {
        static __RESILIENT_RETRY: ::resilient::__private::RetryPolicy = ::resilient::__private::RetryPolicy::new()
            .name(::core::concat!(::core::module_path!(), "::", "fetch_user"))
            .max_attempts(4);
        ::resilient::__private::registered(&__RESILIENT_RETRY)
    };
    ::resilient::__private::output::<
        Result<User, ApiError>,
    >(
        async {
            let mut __resilient_retry = ::resilient::__private::RetryLoop::start(
                __resilient_retry_policy,
            );
            loop {
                if let ::core::option::Option::Some(__resilient_result) = __resilient_retry
                    .after(
                        ::resilient::__private::attempt(
                                ::resilient::__private::breaker(
                                    __resilient_breaker,
                                    ::resilient::__private::timeout(
                                        __resilient_timeout_policy,
                                        ::core::option::Option::None,
                                        ::resilient::__private::body::<
                                            Result<User, ApiError>,
                                            _,
                                        >(async { api::get_user(id).await }),
                                        false,
                                    ),
                                    ::resilient::__private::every_error,
                                    true,
                                ),
                                true,
                            )
                            .await,
                        ApiError::is_transient,
                    )
                {
                    break __resilient_result;
                }
                __resilient_retry.wait().await;
            }
        }
            .await,
    )
}
