// Consecutive mode and rate mode are exclusive.
use resilient::{BreakerConfig, CircuitBreaker};

static DB: CircuitBreaker =
    CircuitBreaker::new("db", BreakerConfig::new().failure_threshold(3).failure_rate(0.5));

fn main() {
    let _ = DB.state();
}
