// `when` is `Fn(&E) -> bool`: a predicate on another type is a type error at the predicate.
use resilient::retry;

#[derive(Debug)]
struct Error;

fn is_transient(code: &u16) -> bool {
    *code == 503
}

#[retry(when = is_transient)]
async fn fetch() -> Result<(), Error> {
    Ok(())
}

fn main() {}
