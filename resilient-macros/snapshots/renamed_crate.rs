#[retry(crate = "::my_resilient", backoff = none)]
#[circuit_breaker(failure_threshold = 2)]
fn parse(input: &str) -> Result<u32, ParseError> {
    input.parse().map_err(ParseError::from)
}
