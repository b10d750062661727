async fn import(batch: &Batch) -> Result<usize, ImportError> {
    use ::resilient::__private as __resilient;
    use atomic as _;
    const __RESILIENT_FN: __resilient::Name = __resilient::name!(__resilient);
    static __RESILIENT_RETRY: __resilient::RetryPolicy = __resilient::RetryPolicy::new()
        .for_function(__RESILIENT_FN)
        .max_attempts(3);
    let mut __retry = __resilient::retry(&__RESILIENT_RETRY, __resilient::every_error);
    loop {
        let __call = async {
            if false {
                return __resilient::result::<Result<usize, ImportError>>();
            }
            db::insert_all(batch).await
        };
        let __call = __resilient::atomic(__call);
        if let ::core::option::Option::Some(__result) = __retry.attempt(__call).await {
            break __result;
        }
    }
}
