// A function returning a plain value has no error to retry on.
use resilient::retry;

#[retry(max_attempts = 3)]
fn fetch() -> u32 {
    1
}

fn main() {}
