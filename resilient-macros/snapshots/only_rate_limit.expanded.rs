async fn fetch_user(id: u64) -> Result<User, ApiError> {
    use ::resilient::__private as __resilient;
    const __RESILIENT_FN: __resilient::Name = __resilient::name!(__resilient);
    static __RESILIENT_RATE_LIMIT: __resilient::RateLimiter = __resilient::RateLimiter::for_function(
            __RESILIENT_FN,
            100,
            __resilient::Duration::from_secs(1),
        )
        .burst(20)
        .max_wait(__resilient::Duration::from_millis(50));
    let __call = async {
        if false {
            return __resilient::rejectable::<Result<User, ApiError>>();
        }
        api::get_user(id).await
    };
    __resilient::rate_limit(&__RESILIENT_RATE_LIMIT, __call).await
}
