#[hedge(delay = "50ms", max_hedges = 2, when = ApiError::is_transient)]
async fn lookup(key: &str) -> Result<Record, ApiError> {
    replicas::get(key).await
}
