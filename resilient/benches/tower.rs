//! Per-call overhead of the `tower` layers (feature `tower`), side by side with the equivalent
//! layers of the `tower-resilience` crate, in the same run, each over the same trivial
//! `tower::service_fn`.
//!
//! Every group holds `plain` (the `service_fn` alone), `resilient` (our layer) and
//! `tower_resilience` (theirs). A call is what a tower caller makes: `ready().await`, then
//! `call(request).await` on the same service, built once. Read the results as ratios within a
//! group: what a layer adds is its time less `plain`'s, and the figure to compare is
//! `(resilient - plain) / (tower_resilience - plain)`.
//!
//! | group | measures | policies (ours · theirs) |
//! | --- | --- | --- |
//! | `breaker` | a successful call through a closed breaker | consecutive failures, threshold 3 · default config (failure rate over 100 calls) |
//! | `retry` | a call that succeeds at once, through a retry | 3 attempts, exponential backoff · the same |
//! | `timeout` | a call that is ready at once, under a 5 s timeout | `TimeoutPolicy` · `TimeLimiterLayer` |
//! | `bulkhead` | a call through a bulkhead with slots to spare | 1000 slots · 1000 concurrent calls |
//! | `rate_limiter` | a call through a rate limiter far from its limit | `u32::MAX` per second · 10⁹ per second |
//! | `hedge` | a call that answers at once, hedged after 50 ms | one hedge · 2 attempts (one hedge) |
//! | `stack` | a successful call through retry › circuit breaker › timeout | the three above, stacked with `ServiceBuilder` |
//!
//! Each sample is one `block_on` on a current-thread runtime, around `iters` calls, so the
//! runtime's own cost is outside the measurement. tower-resilience needs `Send` futures and boxes
//! each layer's future; ours do neither.
//!
//! Run with `cargo bench -p resilient --features tower --bench tower`;
//! `BENCH=tower scripts/bench-table` prints the figures and overhead ratios.

use criterion::{
    BenchmarkGroup, Criterion, criterion_group, criterion_main, measurement::WallTime,
};
use resilient::tower as ours;
use resilient::{
    Backoff, BreakerConfig, Bulkhead, CircuitBreaker, HedgePolicy, RateLimiter, Rejected,
    RetryPolicy, TimeoutPolicy,
};
use std::hint::black_box;
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;
use tower::{Layer, Service, ServiceBuilder, ServiceExt, service_fn};
use tower_resilience::prelude as theirs;

/// The service's error: `From<Rejected>` for our layers, `Clone` for their hedge.
#[derive(Clone, Debug)]
#[allow(dead_code)] // read only through `Debug`
enum BenchError {
    Failed,
    Rejected(Rejected),
}

impl From<Rejected> for BenchError {
    fn from(rejected: Rejected) -> Self {
        BenchError::Rejected(rejected)
    }
}

/// The trivial service every layer wraps.
fn echo() -> impl Service<u64, Response = u64, Error = BenchError, Future: Send> + Clone + Send {
    service_fn(|n: u64| async move { Ok::<_, BenchError>(black_box(n)) })
}

const TIMEOUT: Duration = Duration::from_secs(5);
const HEDGE_DELAY: Duration = Duration::from_millis(50);
const SLOTS: u32 = 1000;

static BREAKER: CircuitBreaker =
    CircuitBreaker::new("bench.tower", BreakerConfig::new().failure_threshold(3));
static RETRY: RetryPolicy = RetryPolicy::new()
    .name("bench.tower")
    .max_attempts(3)
    .backoff(Backoff::exponential(
        Duration::from_millis(100),
        Duration::from_secs(10),
    ));
static TIME: TimeoutPolicy = TimeoutPolicy::new("bench.tower", TIMEOUT);
static POOL: Bulkhead = Bulkhead::new("bench.tower", SLOTS);
static LIMIT: RateLimiter = RateLimiter::new("bench.tower", u32::MAX, Duration::from_secs(1));
static HEDGE: HedgePolicy = HedgePolicy::new()
    .name("bench.tower")
    .delay(HEDGE_DELAY)
    .max_hedges(1);

fn their_breaker() -> theirs::CircuitBreakerLayer {
    theirs::CircuitBreakerLayer::builder()
        .build()
        .expect("a valid breaker")
}

fn their_retry<E>() -> theirs::RetryLayer<u64, u64, E> {
    theirs::RetryLayer::<u64, u64, E>::builder()
        .max_attempts(3)
        .exponential_backoff(Duration::from_millis(100))
        .build()
}

fn their_timeout() -> theirs::TimeLimiterLayer {
    theirs::TimeLimiterLayer::builder()
        .timeout_duration(TIMEOUT)
        .build()
}

/// Times `iters` calls of `svc` (readiness, then the call) inside one `block_on`.
fn bench_service<S: Service<u64>>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    rt: &Runtime,
    name: &str,
    mut svc: S,
) {
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let ready = svc.ready().await;
                    let svc = ready.unwrap_or_else(|_| panic!("the service is always ready"));
                    // Kept where it lies: every byte written, none copied by the harness.
                    black_box(&svc.call(black_box(1)).await);
                }
                start.elapsed()
            })
        })
    });
}

fn current_thread_runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("tokio runtime")
}

/// One group: the plain service, ours and theirs, on one runtime.
fn compare(
    c: &mut Criterion,
    group: &str,
    resilient: impl Service<u64>,
    theirs: impl Service<u64>,
) {
    let rt = current_thread_runtime();
    let mut g = c.benchmark_group(group);
    bench_service(&mut g, &rt, "plain", echo());
    bench_service(&mut g, &rt, "resilient", resilient);
    bench_service(&mut g, &rt, "tower_resilience", theirs);
}

fn breaker(c: &mut Criterion) {
    let resilient = ours::BreakerLayer::new(&BREAKER).layer(echo());
    compare(c, "breaker", resilient, their_breaker().layer(echo()));
}

fn retry(c: &mut Criterion) {
    let resilient = ours::RetryLayer::new(&RETRY).layer(echo());
    compare(c, "retry", resilient, their_retry().layer(echo()));
}

fn timeout(c: &mut Criterion) {
    let resilient = ours::TimeoutLayer::new(&TIME).layer(echo());
    compare(c, "timeout", resilient, their_timeout().layer(echo()));
}

fn bulkhead(c: &mut Criterion) {
    let theirs = theirs::BulkheadLayer::builder()
        .max_concurrent_calls(SLOTS as usize)
        .build()
        .expect("a valid bulkhead");
    let resilient = ours::BulkheadLayer::new(&POOL).layer(echo());
    compare(c, "bulkhead", resilient, theirs.layer(echo()));
}

fn rate_limiter(c: &mut Criterion) {
    let theirs = theirs::RateLimiterLayer::builder()
        .limit_for_period(1_000_000_000)
        .refresh_period(Duration::from_secs(1))
        .build()
        .expect("a valid rate limiter");
    let resilient = ours::RateLimitLayer::new(&LIMIT).layer(echo());
    compare(c, "rate_limiter", resilient, theirs.layer(echo()));
}

fn hedge(c: &mut Criterion) {
    let theirs = theirs::HedgeLayer::builder()
        .delay(HEDGE_DELAY)
        .max_hedged_attempts(2)
        .build();
    let resilient = ours::HedgeLayer::new(&HEDGE).layer(echo());
    compare(c, "hedge", resilient, theirs.layer(echo()));
}

fn stack(c: &mut Criterion) {
    let resilient = ServiceBuilder::new()
        .layer(ours::RetryLayer::new(&RETRY))
        .layer(ours::BreakerLayer::new(&BREAKER))
        .layer(ours::TimeoutLayer::new(&TIME))
        .service(echo());
    let theirs = ServiceBuilder::new()
        .layer(their_retry())
        .layer(their_breaker())
        .layer(their_timeout())
        .service(echo());
    compare(c, "stack", resilient, theirs);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = breaker, retry, timeout, bulkhead, rate_limiter, hedge, stack
}
criterion_main!(benches);
