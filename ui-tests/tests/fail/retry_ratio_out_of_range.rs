// A retry ratio is a fraction of the calls: at most 1 (every call may retry once).
use resilient::retry;

#[retry(max_attempts = 3, retry_ratio = 1.5)]
async fn fetch() -> Result<(), String> {
    Ok(())
}

fn main() {}
