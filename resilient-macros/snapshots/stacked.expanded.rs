async fn fetch_user(id: u64) -> Result<User, ApiError> {
    use circuit_breaker as _;
    use timeout as _;
    ::resilient::__private::can_reject::<Result<User, ApiError>>();
    const __RESILIENT_NAME: &str = ::core::concat!(
        ::core::module_path!(), "::", "fetch_user"
    );
    static __RESILIENT_BREAKER: ::resilient::__private::CircuitBreaker = ::resilient::__private::CircuitBreaker::new(
        __RESILIENT_NAME,
        ::resilient::__private::BreakerConfig::new()
            .failure_threshold(3)
            .recovery_timeout(::resilient::__private::Duration::from_nanos(30000000000)),
    );
    static __RESILIENT_RETRY: ::resilient::__private::RetryPolicy = ::resilient::__private::RetryPolicy::new()
        .name(__RESILIENT_NAME)
        .max_attempts(4);
    async {
        let mut __resilient_retry = ::resilient::__private::RetryLoop::start(
            &__RESILIENT_RETRY,
        );
        loop {
            if let ::core::option::Option::Some(__resilient_result) = __resilient_retry
                .after(
                    ::resilient::__private::breaker(
                            &__RESILIENT_BREAKER,
                            ::resilient::__private::timeout(
                                __RESILIENT_NAME,
                                ::resilient::__private::Duration::from_nanos(5000000000),
                                ::resilient::__private::body::<
                                    Result<User, ApiError>,
                                    _,
                                >(async { api::get_user(id).await }),
                                false,
                            ),
                            ::resilient::__private::every_error,
                            true,
                        )
                        .await,
                    ApiError::is_transient,
                    true,
                )
                .await
            {
                break __resilient_result;
            }
        }
    }
        .await
}
