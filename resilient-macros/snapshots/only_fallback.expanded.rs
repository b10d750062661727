async fn fetch_user(id: u64) -> Result<User, ApiError> {
    use ::resilient::__private as __resilient;
    const __RESILIENT_FN: __resilient::Name = __resilient::name!(__resilient);
    static __RESILIENT_FALLBACK: __resilient::FallbackPolicy = __resilient::FallbackPolicy::for_function(
        __RESILIENT_FN,
    );
    let __call = async {
        if false {
            return __resilient::result::<Result<User, ApiError>>();
        }
        api::get_user(id).await
    };
    __resilient::fallback(
            &__RESILIENT_FALLBACK,
            __call,
            |_err| async move {
                if false {
                    return __resilient::result::<Result<User, ApiError>>();
                }
                cache::user(id).await
            },
        )
        .await
}
