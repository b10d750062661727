// A fallback returns the function's own `Result`, not a bare value.
use resilient::fallback;

#[derive(Debug)]
struct Error;

#[fallback(|_err| 0)]
fn fetch() -> Result<u32, Error> {
    Ok(1)
}

fn main() {}
