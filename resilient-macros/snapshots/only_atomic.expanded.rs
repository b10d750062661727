async fn import(batch: &Batch) -> Result<usize, ImportError> {
    use ::resilient::__private as __resilient;
    let __call = async {
        if false {
            return __resilient::result::<Result<usize, ImportError>>();
        }
        db::insert_all(batch).await
    };
    __resilient::atomic(__call).await
}
