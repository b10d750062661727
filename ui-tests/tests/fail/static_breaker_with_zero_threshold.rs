// An invalid configuration in a static is a compile-time error naming the key and the rule.
use resilient::{BreakerConfig, CircuitBreaker};

static DB: CircuitBreaker = CircuitBreaker::new("db", BreakerConfig::new().failure_threshold(0));

fn main() {
    let _ = DB.state();
}
