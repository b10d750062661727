#[fallback(|_err| Ok(Config::default()))]
#[retry(backoff = constant("100ms"))]
#[circuit_breaker(breaker = &CONFIG_BREAKER)]
fn load_config(path: &Path) -> io::Result<Config> {
    let text = std::fs::read_to_string(path)?;
    Config::parse(&text)
}

#[rate_limit(limiter = &SHARED)]
fn reload(path: &Path) -> io::Result<Config> {
    Config::read(path)
}
