#[circuit_breaker(failure_threshold = 3, recovery_timeout = "30s")]
async fn fetch_user(id: u64) -> Result<User, ApiError> {
    api::get_user(id).await
}
