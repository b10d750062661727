::core::compile_error! {
    "`when` cannot be given with `breaker = ...`: the breaker's own configuration applies"
}
async fn query(&self, sql: &str) -> Result<Rows, DbError> {
    use timeout as _;
    self.pool.query(sql).await
}
async fn save<T: Serialize + Sync>(&mut self, value: &T) -> Result<(), DbError> {
    ::resilient::__private::returns_result::<Result<(), DbError>>();
    let __resilient_retry_policy: &::resilient::__private::RetryPolicy = &SAVE_POLICY;
    ::resilient::__private::output::<
        Result<(), DbError>,
    >(
        async {
            let mut __resilient_retry = ::resilient::__private::RetryLoop::start(
                __resilient_retry_policy,
            );
            loop {
                if let ::core::option::Option::Some(__resilient_result) = __resilient_retry
                    .after(
                        ::resilient::__private::attempt(
                                ::resilient::__private::body::<
                                    Result<(), DbError>,
                                    _,
                                >(async {
                                    self.pool.insert(value).await?;
                                    Ok(())
                                }),
                                false,
                            )
                            .await,
                        ::resilient::__private::every_error,
                    )
                {
                    break __resilient_result;
                }
                __resilient_retry.wait().await;
            }
        }
            .await,
    )
}
