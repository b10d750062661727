// A function returning `()` has no error to retry on.
use resilient::retry;

#[retry(max_attempts = 3)]
async fn fetch() {}

fn main() {}
