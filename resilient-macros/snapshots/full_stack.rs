#[fallback(|_| cached_user(id))]
#[retry(max_attempts = 4, when = ApiError::is_transient)]
#[circuit_breaker(failure_threshold = 3, recovery_timeout = "30s")]
#[timeout("5s")]
async fn fetch_user(id: u64) -> Result<User, ApiError> {
    api::get_user(id).await
}
