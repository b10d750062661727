// A timeout abandons calls: the error type must be able to hold a `Rejected`.
use resilient::timeout;

#[timeout("5s")]
async fn fetch() -> Result<(), std::fmt::Error> {
    Ok(())
}

fn main() {}
