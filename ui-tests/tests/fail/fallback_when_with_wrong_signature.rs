// A fallback's `when` closure that does not return `bool`.
use resilient::fallback;

#[derive(Debug)]
struct Error;

#[fallback(|_err| Ok(0), when = |_err| 1)]
fn fetch() -> Result<u32, Error> {
    Ok(1)
}

fn main() {}
