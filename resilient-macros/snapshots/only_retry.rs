#[retry(max_attempts = 4, backoff = exponential(base = "100ms", max = "5s"))]
async fn fetch_user(id: u64) -> Result<User, ApiError> {
    api::get_user(id).await
}
