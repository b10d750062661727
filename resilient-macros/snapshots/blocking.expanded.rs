fn load_config(path: &Path) -> io::Result<Config> {
    use retry as _;
    use circuit_breaker as _;
    ::resilient::__private::can_reject::<io::Result<Config>>();
    let __resilient_breaker: &::resilient::__private::CircuitBreaker = &CONFIG_BREAKER;
    let __resilient_retry_policy: &::resilient::__private::RetryPolicy = {
        static __RESILIENT_RETRY: ::resilient::__private::RetryPolicy = ::resilient::__private::RetryPolicy::new()
            .name(::core::concat!(::core::module_path!(), "::", "load_config"))
            .backoff(
                ::resilient::__private::Backoff::constant(
                    ::resilient::__private::Duration::from_nanos(100000000),
                ),
            );
        ::resilient::__private::registered(&__RESILIENT_RETRY)
    };
    let __resilient_fallback_policy: &'static ::resilient::__private::FallbackPolicy = {
        static __RESILIENT_FALLBACK: ::resilient::__private::FallbackPolicy = ::resilient::__private::FallbackPolicy::new(
            ::core::concat!(::core::module_path!(), "::", "load_config"),
        );
        ::resilient::__private::registered(&__RESILIENT_FALLBACK)
    };
    ::resilient::__private::output::<
        io::Result<Config>,
    >(
        (|| {
            let __resilient_attempted = ::resilient::__private::attempt_blocking(
                (|| {
                    let mut __resilient_retry = ::resilient::__private::RetryLoop::start(
                        __resilient_retry_policy,
                    );
                    loop {
                        if let ::core::option::Option::Some(__resilient_result) = __resilient_retry
                            .after_blocking(
                                ::resilient::__private::attempt_blocking(
                                    (|| ::resilient::__private::breaker_blocking(
                                        __resilient_breaker,
                                        ::resilient::__private::body_blocking(|| -> io::Result<
                                            Config,
                                        > {
                                            let text = std::fs::read_to_string(path)?;
                                            Config::parse(&text)
                                        }),
                                        ::resilient::__private::every_error,
                                    ))(),
                                    true,
                                ),
                                ::resilient::__private::every_error,
                            )
                        {
                            break __resilient_result;
                        }
                    }
                })(),
                true,
            );
            match __resilient_attempted {
                (
                    ::core::result::Result::Err(__resilient_error),
                    __resilient_rejection,
                ) if ::resilient::__private::fallback_applies(
                    &__resilient_error,
                    ::resilient::__private::every_error,
                ) => {
                    ::resilient::__private::fallback_starts(
                        __resilient_fallback_policy,
                        __resilient_rejection,
                    );
                    let __resilient_result = ::resilient::__private::call_fallback_blocking::<
                        io::Result<Config>,
                        _,
                    >(__resilient_error, |_err| Ok(Config::default()));
                    ::resilient::__private::fallback_ran();
                    __resilient_result
                }
                __resilient_attempted => {
                    ::resilient::__private::passed_on(__resilient_attempted)
                }
            }
        })(),
    )
}
