fn load_config(path: &Path) -> io::Result<Config> {
    use ::resilient::__private as __resilient;
    use {retry as _, circuit_breaker as _};
    const __RESILIENT_FN: __resilient::Name = __resilient::name!(__resilient);
    static __RESILIENT_FALLBACK: __resilient::FallbackPolicy = __resilient::FallbackPolicy::for_function(
        __RESILIENT_FN,
    );
    static __RESILIENT_RETRY: __resilient::RetryPolicy = __resilient::RetryPolicy::new()
        .for_function(__RESILIENT_FN)
        .backoff(
            __resilient::Backoff::constant(__resilient::Duration::from_millis(100)),
        );
    let mut __retry = __resilient::retry_blocking(&__RESILIENT_RETRY);
    let __result = loop {
        let __call = __resilient::body_blocking(|| -> io::Result<Config> {
            if false {
                return __resilient::rejectable::<io::Result<Config>>();
            }
            let text = std::fs::read_to_string(path)?;
            Config::parse(&text)
        });
        let __call = || __resilient::shared_breaker_blocking(&CONFIG_BREAKER, __call);
        if let ::core::option::Option::Some(__result) = __retry
            .attempt_blocking(__call, __resilient::every_error)
        {
            break __result;
        }
    };
    __resilient::fallback_blocking(
        &__RESILIENT_FALLBACK,
        __result,
        __resilient::every_error,
        |_err| Ok(Config::default()),
    )
}
fn reload(path: &Path) -> io::Result<Config> {
    use ::resilient::__private as __resilient;
    let __call = __resilient::body_blocking(|| -> io::Result<Config> {
        if false {
            return __resilient::rejectable::<io::Result<Config>>();
        }
        Config::read(path)
    });
    __resilient::shared_rate_limit_blocking(&SHARED, __call)
}
