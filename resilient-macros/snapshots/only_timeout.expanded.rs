async fn fetch_user(id: u64) -> Result<User, ApiError> {
    use ::resilient::__private as __resilient;
    const __RESILIENT_FN: __resilient::Name = __resilient::name!(__resilient);
    static __RESILIENT_TIMEOUT: __resilient::TimeoutPolicy = __resilient::TimeoutPolicy::for_function(
        __RESILIENT_FN,
        __resilient::Duration::from_secs(5),
    );
    let __call = async {
        if false {
            return __resilient::rejectable::<Result<User, ApiError>>();
        }
        api::get_user(id).await
    };
    __resilient::timeout(&__RESILIENT_TIMEOUT, __call).await
}
