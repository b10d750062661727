//! `#[hedge]` on virtual time: when hedges start and which answer wins, `when`, its registration,
//! a method, a policy of one's own, and its place in the full recommended stack.

mod common;

use common::{ApiError, Calls, ms};
use resilient::registry::{self, PolicyKind};
use resilient::{
    BreakerState, HedgePolicy, bulkhead, circuit_breaker, fallback, hedge, rate_limit, timeout,
};
use tokio::time::sleep;

/// The n-th attempt (from 1) takes `took[n - 1]` ms and answers `Ok(n)`.
async fn answer(calls: &Calls, took: &[u64]) -> Result<u32, ApiError> {
    let n = calls.next();
    sleep(ms(took[n as usize - 1])).await;
    Ok(n)
}

#[tokio::test(start_paused = true)]
async fn a_slow_first_attempt_is_hedged_and_the_hedge_wins() {
    #[hedge(delay = "50ms", max_hedges = 2)]
    async fn lookup(calls: &Calls) -> Result<u32, ApiError> {
        answer(calls, &[1000, 1000, 5]).await
    }
    let calls = Calls::new();
    assert_eq!(lookup(&calls).await, Ok(3));
    assert_eq!(calls.times(), [0, 50, 100]);
    assert_eq!(calls.elapsed(), ms(105));
}

/// A failure `when` accepts starts the next hedge at once; one it refuses starts none.
#[tokio::test(start_paused = true)]
async fn when_decides_which_failures_start_a_hedge() {
    #[hedge(delay = "1s", max_hedges = 3, when = ApiError::is_transient)]
    async fn fetch(calls: &Calls) -> Result<u32, ApiError> {
        let n = calls.next();
        sleep(ms(10)).await;
        Err(if n == 1 {
            ApiError::Status(503)
        } else {
            ApiError::Status(404)
        })
    }
    let calls = Calls::new();
    assert_eq!(fetch(&calls).await, Err(ApiError::Status(404)));
    assert_eq!(calls.times(), [0, 10], "the 404 started no third attempt");
}

#[tokio::test(start_paused = true)]
async fn the_policy_registers_on_first_use_with_its_settings() {
    #[hedge(delay = "20ms", name = "hedge.registered")]
    async fn ping() -> Result<(), ApiError> {
        Ok(())
    }
    ping().await.unwrap();
    let info = registry::policies()
        .into_iter()
        .find(|p| p.name == "hedge.registered")
        .expect("registered on first use");
    assert_eq!(info.kind, PolicyKind::Hedge);
    assert_eq!(info.config["delay"], "20ms");
    assert_eq!(info.config["max_hedges"], "1");
    let registry::PolicyMetrics::Hedge(m) = info.metrics else {
        panic!("{:?}", info.metrics)
    };
    assert_eq!((m.successes, m.hedges), (1, 0));
    registry::set("hedge.registered", "max_hedges", "4").unwrap();
    let err = registry::set("hedge.registered", "max_hedges", "0").unwrap_err();
    assert_eq!(
        err.to_string(),
        "policy `hedge.registered`: cannot set `max_hedges` to `0`: `max_hedges` must be at least 1 (got 0)"
    );
}

/// A method reading `&self`, on a policy of the user's.
#[tokio::test(start_paused = true)]
async fn a_method_with_a_policy_of_its_own() {
    static SHARED: HedgePolicy = HedgePolicy::new().name("hedge.shared").delay(ms(30));
    struct Client {
        calls: Calls,
    }
    impl Client {
        #[hedge(policy = &SHARED)]
        async fn get(&self) -> Result<u32, ApiError> {
            answer(&self.calls, &[100, 10]).await
        }
    }
    let client = Client {
        calls: Calls::new(),
    };
    assert_eq!(client.get().await, Ok(2));
    assert_eq!(client.calls.times(), [0, 30]);
    assert_eq!(SHARED.metrics().won, 1);
}

/// The full recommended order: each attempt goes through the breaker, the rate limit, the
/// bulkhead and its own timeout. The first attempt times out at 100 ms, which starts the hedge
/// at once; the hedge answers; the breaker counts one failure and one success, closed; the
/// fallback is not used.
#[tokio::test(start_paused = true)]
async fn in_the_full_stack_each_attempt_goes_through_every_layer() {
    #[fallback(|_err| async { Ok(0) })]
    #[hedge(delay = "1s", max_hedges = 1)]
    #[circuit_breaker(failure_threshold = 5, name = "hedge.stacked")]
    #[rate_limit(rate = 100)]
    #[bulkhead(max_concurrent = 2)]
    #[timeout("100ms")]
    async fn fetch(calls: &Calls) -> Result<u32, ApiError> {
        answer(calls, &[1000, 10]).await
    }
    let calls = Calls::new();
    assert_eq!(fetch(&calls).await, Ok(2));
    assert_eq!(calls.times(), [0, 100]);
    let breaker = registry::breakers()
        .into_iter()
        .find(|b| b.name() == "hedge.stacked")
        .expect("registered");
    assert_eq!(breaker.state(), BreakerState::Closed);
    let m = breaker.metrics();
    assert_eq!((m.successes, m.failures), (1, 1));
}

/// A bulkhead inside that is full refuses the hedge: no further hedge starts, and the first
/// attempt's answer still wins.
#[tokio::test(start_paused = true)]
async fn a_full_bulkhead_inside_refuses_the_hedge_and_the_first_goes_on() {
    #[hedge(delay = "10ms", max_hedges = 3)]
    #[bulkhead(max_concurrent = 1, name = "hedge.bulkhead")]
    async fn fetch(calls: &Calls) -> Result<u32, ApiError> {
        answer(calls, &[50]).await
    }
    let calls = Calls::new();
    assert_eq!(fetch(&calls).await, Ok(1));
    assert_eq!(calls.times(), [0]);
    assert_eq!(calls.elapsed(), ms(50));
    let refused = registry::policies()
        .into_iter()
        .find(|p| p.name == "hedge.bulkhead")
        .map(|p| p.metrics);
    let Some(registry::PolicyMetrics::Bulkhead(m)) = refused else {
        panic!("{refused:?}")
    };
    assert_eq!((m.admitted, m.rejected), (1, 1));
}
