#[circuit_breaker(breaker = &self.breaker, when = |e: &DbError| e.is_connection())]
#[timeout(self.query_timeout)]
async fn query(&self, sql: &str) -> Result<Rows, DbError> {
    self.pool.query(sql).await
}

#[retry(policy = &SAVE_POLICY)]
async fn save<T: Serialize + Sync>(&mut self, value: &T) -> Result<(), DbError> {
    self.pool.insert(value).await?;
    Ok(())
}
