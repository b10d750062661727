// A function in an `extern` block has no body to wrap.
use resilient::retry;

unsafe extern "C" {
    #[retry(max_attempts = 2)]
    fn fetch(id: u64) -> u64;
}

fn main() {}
