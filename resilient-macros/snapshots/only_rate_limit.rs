#[rate_limit(rate = 100, per = "1s", burst = 20, max_wait = "50ms")]
async fn fetch_user(id: u64) -> Result<User, ApiError> {
    api::get_user(id).await
}
