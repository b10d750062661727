// A trait method without a body has nothing to retry: annotate the impl's method.
use resilient::retry;

#[derive(Debug)]
struct Error;

trait Api {
    #[retry(max_attempts = 3)]
    fn fetch(&self) -> Result<(), Error>;
}

fn main() {}
