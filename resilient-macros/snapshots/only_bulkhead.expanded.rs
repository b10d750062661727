async fn query(sql: &str) -> Result<u64, DbError> {
    use ::resilient::__private as __resilient;
    const __RESILIENT_FN: __resilient::Name = __resilient::name!(__resilient);
    static __RESILIENT_BULKHEAD: __resilient::Bulkhead = __resilient::Bulkhead::for_function(
            __RESILIENT_FN,
            10,
        )
        .max_wait(__resilient::Duration::from_millis(100));
    let __call = async {
        if false {
            return __resilient::rejectable::<Result<u64, DbError>>();
        }
        db::query(sql).await
    };
    __resilient::bulkhead(&__RESILIENT_BULKHEAD, __call).await
}
