async fn fetch_user(id: u64) -> Result<User, ApiError> {
    use ::resilient::__private as __resilient;
    const __RESILIENT_FN: __resilient::Name = __resilient::name!(__resilient);
    static __RESILIENT_BREAKER: __resilient::CircuitBreaker = __resilient::BreakerConfig::new()
        .failure_threshold(3)
        .recovery_timeout(__resilient::Duration::from_secs(30))
        .build_for_function(__RESILIENT_FN);
    let __call = async {
        if false {
            return __resilient::rejectable::<Result<User, ApiError>>();
        }
        api::get_user(id).await
    };
    __resilient::breaker(&__RESILIENT_BREAKER, __call).await
}
