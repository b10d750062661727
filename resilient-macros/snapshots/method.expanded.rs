::core::compile_error! {
    "`when` cannot be given with `breaker = ...`: the breaker's own configuration applies"
}
async fn query(&self, sql: &str) -> Result<Rows, DbError> {
    use timeout as _;
    self.pool.query(sql).await
}
async fn save<T: Serialize + Sync>(&mut self, value: &T) -> Result<(), DbError> {
    use ::resilient::__private as __resilient;
    let mut __retry = __resilient::shared_retry(&SAVE_POLICY, __resilient::every_error);
    loop {
        let __call = async {
            if false {
                return __resilient::result::<Result<(), DbError>>();
            }
            self.pool.insert(value).await?;
            Ok(())
        };
        if let ::core::option::Option::Some(__result) = __retry.attempt(__call).await {
            break __result;
        }
    }
}
