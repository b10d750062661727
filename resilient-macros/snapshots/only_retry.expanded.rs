async fn fetch_user(id: u64) -> Result<User, ApiError> {
    use ::resilient::__private as __resilient;
    const __RESILIENT_FN: __resilient::Name = __resilient::name!(__resilient);
    static __RESILIENT_RETRY: __resilient::RetryPolicy = __resilient::RetryPolicy::new()
        .for_function(__RESILIENT_FN)
        .max_attempts(4)
        .backoff(
            __resilient::Backoff::exponential(
                __resilient::Duration::from_millis(100),
                __resilient::Duration::from_secs(5),
            ),
        );
    let mut __retry = __resilient::retry(&__RESILIENT_RETRY, __resilient::every_error);
    loop {
        let __call = async {
            if false {
                return __resilient::result::<Result<User, ApiError>>();
            }
            api::get_user(id).await
        };
        if let ::core::option::Option::Some(__result) = __retry.attempt(__call).await {
            break __result;
        }
    }
}
