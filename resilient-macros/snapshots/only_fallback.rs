#[fallback(|_err| async move { cache::user(id).await })]
async fn fetch_user(id: u64) -> Result<User, ApiError> {
    api::get_user(id).await
}
