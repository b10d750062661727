// A fallback is a function or a closure, not a value.
use resilient::fallback;

#[derive(Debug)]
struct Error;

#[fallback(0)]
async fn fetch() -> Result<u32, Error> {
    Ok(1)
}

fn main() {}
