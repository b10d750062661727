#[atomic]
async fn import(batch: &Batch) -> Result<usize, ImportError> {
    db::insert_all(batch).await
}
