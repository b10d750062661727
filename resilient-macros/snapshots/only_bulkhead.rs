#[bulkhead(max_concurrent = 10, max_wait = "100ms")]
async fn query(sql: &str) -> Result<u64, DbError> {
    db::query(sql).await
}
