// A function returning a future: write it as an `async fn` returning the `Result`.
use resilient::retry;
use std::future::Future;

#[derive(Debug)]
struct Error;

#[retry(max_attempts = 3)]
fn fetch() -> impl Future<Output = Result<(), Error>> {
    async { Ok(()) }
}

fn main() {}
