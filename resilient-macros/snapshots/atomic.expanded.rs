async fn import(batch: &Batch) -> Result<usize, ImportError> {
    use atomic as _;
    ::resilient::__private::returns_result::<Result<usize, ImportError>>();
    let __resilient_retry_policy: &::resilient::__private::RetryPolicy = {
        static __RESILIENT_RETRY: ::resilient::__private::RetryPolicy = ::resilient::__private::RetryPolicy::new()
            .name(::core::concat!(::core::module_path!(), "::", "import"))
            .max_attempts(3);
        ::resilient::__private::registered(&__RESILIENT_RETRY)
    };
    ::resilient::__private::output::<
        Result<usize, ImportError>,
    >(
        async {
            let mut __resilient_retry = ::resilient::__private::RetryLoop::start(
                __resilient_retry_policy,
            );
            loop {
                if let ::core::option::Option::Some(__resilient_result) = __resilient_retry
                    .after(
                        ::resilient::__private::attempt(
                                ::resilient::__private::atomic(
                                    ::resilient::__private::body::<
                                        Result<usize, ImportError>,
                                        _,
                                    >(async { db::insert_all(batch).await }),
                                    false,
                                ),
                                true,
                            )
                            .await,
                        ::resilient::__private::every_error,
                    )
                {
                    break __resilient_result;
                }
                __resilient_retry.wait().await;
            }
        }
            .await,
    )
}
