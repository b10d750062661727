async fn lookup(key: &str) -> Result<Record, ApiError> {
    use ::resilient::__private as __resilient;
    const __RESILIENT_FN: __resilient::Name = __resilient::name!(__resilient);
    static __RESILIENT_HEDGE: __resilient::HedgePolicy = __resilient::HedgePolicy::new()
        .for_function(__RESILIENT_FN)
        .delay(__resilient::Duration::from_millis(50))
        .max_hedges(2);
    let mut __hedge = ::core::pin::pin!(
        __resilient::hedge(& __RESILIENT_HEDGE, ApiError::is_transient)
    );
    loop {
        let __call = async {
            if false {
                return __resilient::result::<Result<Record, ApiError>>();
            }
            replicas::get(key).await
        };
        if let ::core::option::Option::Some(__result) = __hedge
            .as_mut()
            .attempt(__call)
            .await
        {
            break __result;
        }
    }
}
