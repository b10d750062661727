//! Per-call overhead of `resilient`'s policies, side by side with the crates users would
//! otherwise pick, in the same run.
//!
//! Every group holds `plain` (the wrapped function called directly), our variant(s) and the
//! competitor(s), all wrapping the same trivial function, so read the results as ratios taken
//! within one group: `resilient / plain` is what the policy adds to a call, and
//! `resilient / failsafe` (or `/ recloser`, `/ backon`, `/ tokio`) compares us with the
//! alternative on the same machine in the same run. Absolute times are only meaningful next to
//! each other.
//!
//! | group | measures | variants |
//! | --- | --- | --- |
//! | `closed_breaker` | a successful sync call through a closed breaker | `plain`, `resilient` (`try_acquire` + `success`), `resilient_call_sync`, `annotated` (a `#[circuit_breaker]` fn), `failsafe` (consecutive failures), `recloser` |
//! | `closed_breaker_async` | a successful async call through a closed breaker, the README stack's middle layer alone | `plain`, `resilient` (`call`), `annotated` (a `#[circuit_breaker]` async fn), `failsafe` (its `futures::CircuitBreaker::call`) |
//! | `open_breaker_rejection` | a call rejected by an open breaker (driven open by failures, long recovery) | `plain`, `resilient`, `resilient_call_sync`, `resilient_forced_open`, `failsafe`, `recloser` |
//! | `successful_retry` | an async call that succeeds at once, through a retry | `plain`, `resilient`, `annotated` (a `#[retry]` async fn), `backon` |
//! | `ready_timeout` | an async call that is ready at once, under a 5 s timeout | `plain`, `resilient`, `annotated` (a `#[timeout("5s")]` async fn), `tokio` |
//! | `two_threads_shared_breaker` | two threads each making `iters` successful calls through one shared breaker; time per call is (time for both threads to finish) / `iters` | `plain`, `resilient`, `failsafe`, `recloser` |
//! | `many_threads_shared_breaker` | 1, 2, 4, 8 and 16 threads making successful calls through one shared breaker; time per call in CPU time (see [`on_threads`]) | `resilient_NN`, `failsafe_NN` (NN threads) |
//! | `many_threads_stack` | 1, 2, 4, 8 and 16 threads, each on its own current-thread runtime, calling the README stack shared by all; CPU time per call | `annotated_NN`, `glued_NN` (backon › failsafe, one breaker shared › tokio) |
//! | `rate_limiter` | a sync call let through by a rate limiter far from its limit | `plain`, `resilient` (`try_acquire`), `governor` (`check`, its default clock) |
//! | `bulkhead` | an async call through a bulkhead with slots to spare | `plain`, `resilient` (`call`), `annotated` (a `#[bulkhead]` async fn), `tokio_semaphore` (`acquire().await`, the permit dropped after the call) |
//! | `hedge` | an async call that answers at once, hedged after 50 ms | `plain`, `resilient` (`resilient::hedge`), `annotated` (a `#[hedge]` async fn), `select` (a hand-written `tokio::select!` of the call against a timer) |
//! | `stacked` | an async call that succeeds at once through retry › circuit breaker › timeout | `plain`, `resilient` (composed by hand: `retry(&P, \|\| B.call(timeout(d, op())))`), `annotated` (`#[retry] #[circuit_breaker] #[timeout]` async fn), `glued` (the same stack glued from the crates users would otherwise pick: backon's retry around failsafe's breaker around `tokio::time::timeout`) |
//!
//! An `annotated` variant is the same policy written as attributes on the function: compared with
//! `resilient` in its group, it shows what the generated code adds to the runtime calls it makes.
//!
//! Async groups run on a current-thread tokio runtime built once; each sample is one `block_on`
//! around the whole loop, so the runtime's own cost is outside the measurement.
//!
//! Every result is kept where the call left it (see [`observe`]), never copied by the harness.
//!
//! Run with `cargo bench -p resilient --bench overhead`; `scripts/bench-table` runs it and prints
//! the README's figures and ratios.

use criterion::{
    BenchmarkGroup, Criterion, criterion_group, criterion_main, measurement::WallTime,
};
use failsafe::CircuitBreaker as _;
use recloser::Recloser;
use resilient::{
    Backoff, BreakerConfig, Bulkhead, CircuitBreaker, HedgePolicy, RateLimiter, Rejected,
    RejectedKind, RetryPolicy, bulkhead, circuit_breaker, hedge, retry, timeout,
};
use std::future::Future;
use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;
use tokio::sync::Semaphore;

/// The wrapped function's error, with the `From<Rejected>` every `resilient` layer needs.
#[derive(Debug)]
enum BenchError {
    Failed,
    Rejected(Rejected),
}

impl From<Rejected> for BenchError {
    fn from(rejected: Rejected) -> Self {
        BenchError::Rejected(rejected)
    }
}

fn ok() -> Result<u64, BenchError> {
    Ok(black_box(42))
}

fn fail() -> Result<u64, BenchError> {
    Err(black_box(BenchError::Failed))
}

async fn op() -> Result<u64, BenchError> {
    ok()
}

/// Long enough that no breaker recovers during a run.
const LONG: Duration = Duration::from_secs(3600);
const CONFIG: BreakerConfig = BreakerConfig::new()
    .failure_threshold(3)
    .recovery_timeout(LONG);
static CLOSED: CircuitBreaker = CircuitBreaker::new("closed", CONFIG);
static OPEN: CircuitBreaker = CircuitBreaker::new("open", CONFIG);
static FORCED: CircuitBreaker = CircuitBreaker::new("forced", CONFIG);
static SHARED: CircuitBreaker = CircuitBreaker::new("shared", CONFIG);

static POLICY: RetryPolicy =
    RetryPolicy::new()
        .name("bench")
        .max_attempts(3)
        .backoff(Backoff::exponential(
            Duration::from_millis(100),
            Duration::from_secs(5),
        ));

/// The limit of every timeout here; nothing comes near it.
const LIMIT: Duration = Duration::from_secs(5);
static STACKED: CircuitBreaker = CircuitBreaker::new("stacked", CONFIG);
static ASYNC_CLOSED: CircuitBreaker = CircuitBreaker::new("async_closed", CONFIG);

/// `CONFIG` as an attribute.
#[circuit_breaker(failure_threshold = 3, recovery_timeout = "1h")]
fn annotated_closed() -> Result<u64, BenchError> {
    ok()
}

/// `CONFIG` as an attribute on an async function.
#[circuit_breaker(failure_threshold = 3, recovery_timeout = "1h")]
async fn annotated_async_closed() -> Result<u64, BenchError> {
    ok()
}

/// `POLICY` as an attribute.
#[retry(max_attempts = 3, backoff = exponential(base = "100ms", max = "5s"))]
async fn annotated_retry() -> Result<u64, BenchError> {
    ok()
}

#[bulkhead(max_concurrent = 16)]
async fn annotated_bulkhead() -> Result<u64, BenchError> {
    ok()
}

#[hedge(delay = "50ms", max_hedges = 1)]
async fn annotated_hedge() -> Result<u64, BenchError> {
    ok()
}

/// A hedge as users write it by hand: the first attempt against a timer, then the first attempt
/// against a second one.
async fn select_hedge() -> Result<u64, BenchError> {
    let first = op();
    tokio::pin!(first);
    tokio::select! {
        biased;
        result = &mut first => result,
        () = tokio::time::sleep(HEDGE_DELAY) => {
            tokio::select! {
                biased;
                result = &mut first => result,
                result = op() => result,
            }
        }
    }
}

const HEDGE_DELAY: Duration = Duration::from_millis(50);

#[timeout("5s")]
async fn annotated_timeout() -> Result<u64, BenchError> {
    ok()
}

/// `POLICY`, `CONFIG` and `LIMIT` as attributes, in the recommended order.
#[retry(max_attempts = 3, backoff = exponential(base = "100ms", max = "5s"))]
#[circuit_breaker(failure_threshold = 3, recovery_timeout = "1h")]
#[timeout("5s")]
async fn annotated_stacked() -> Result<u64, BenchError> {
    ok()
}

/// [`annotated_stacked`] for `many_threads_stack`: each group calls a function of its own, as each
/// group's glued stack is a closure of its own. (One function called from both groups was not
/// inlined into either, where each glued closure was: the comparison was not like for like.)
#[retry(max_attempts = 3, backoff = exponential(base = "100ms", max = "5s"))]
#[circuit_breaker(failure_threshold = 3, recovery_timeout = "1h")]
#[timeout("5s")]
async fn annotated_stacked_threads() -> Result<u64, BenchError> {
    ok()
}

/// failsafe's consecutive-failures breaker (3 in a row open it), as close to ours as it gets.
fn failsafe_breaker() -> impl failsafe::CircuitBreaker + Clone + Send + Sync {
    let backoff = failsafe::backoff::constant(LONG);
    failsafe::Config::new()
        .failure_policy(failsafe::failure_policy::consecutive_failures(3, backoff))
        .build()
}

/// [`failsafe_breaker`] for futures.
/// Its clones share its state.
fn failsafe_async_breaker() -> impl failsafe::futures::CircuitBreaker + Clone + Send + Sync {
    let backoff = failsafe::backoff::constant(LONG);
    failsafe::Config::new()
        .failure_policy(failsafe::failure_policy::consecutive_failures(3, backoff))
        .build()
}

/// A recloser that opens after a short window of failures and stays open.
fn recloser_to_open() -> Recloser {
    Recloser::custom().closed_len(10).open_wait(LONG).build()
}

/// One call through our breaker the explicit way: ask for a permit, record the outcome. Inlined,
/// as a caller's few lines around a call would be (out of line, its frame costs more than the
/// breaker).
#[inline]
fn via_permit(breaker: &CircuitBreaker) -> Result<u64, BenchError> {
    let permit = breaker.try_acquire()?;
    let result = ok();
    match result {
        Ok(_) => permit.success(),
        Err(_) => permit.failure(),
    }
    result
}

/// Makes failing calls until one is rejected: the breaker is then open.
fn drive_open<T, E>(mut failing_call: impl FnMut() -> Result<T, E>, rejected: impl Fn(&E) -> bool) {
    for _ in 0..1000 {
        if let Err(e) = failing_call() {
            if rejected(&e) {
                return;
            }
        }
    }
    panic!("the breaker never opened");
}

fn is_our_rejection(e: &BenchError) -> bool {
    matches!(e, BenchError::Rejected(r) if r.kind() == RejectedKind::CircuitOpen)
}

fn sync_bench<R>(g: &mut BenchmarkGroup<'_, WallTime>, name: &str, mut f: impl FnMut() -> R) {
    g.bench_function(name, |b| b.iter(|| observe(&f())));
}

/// Keeps a call's result from being optimised away where it lies: every byte of it must be
/// written, but the harness does not copy it. (`black_box(result)` by value copies it right after
/// the call wrote it; a fresh 48-byte `Rejected`, written field by field, then stalls that copy on
/// store forwarding for about 7 ns on the machine of the README's table: the cost of copying, not
/// of the call, and one that a tag-only error such as failsafe's does not incur.)
#[inline(always)]
fn observe<R>(result: &R) {
    black_box(result);
}

/// Times `iters` awaited calls inside one `block_on`.
fn async_bench<Fut: Future>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    rt: &Runtime,
    name: &str,
    mut f: impl FnMut() -> Fut,
) {
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    observe(&f().await);
                }
                start.elapsed()
            })
        })
    });
}

/// `threads` threads each making `iters` calls through `shared`: the time until the last one is
/// done, scaled to the cores they had (`min(threads, cores) / threads`), so that the figure is the
/// cost of a call in CPU time: flat as threads are added when they do not contend, whatever the
/// number of cores. With two threads on two cores the scale is 1.
fn on_threads<S: Clone + Send, R>(
    threads: usize,
    iters: u64,
    shared: &S,
    call: impl Fn(&S) -> R + Sync,
) -> Duration {
    released_together(
        threads,
        || shared.clone(),
        |handle| {
            let start = Instant::now();
            for _ in 0..iters {
                observe(&call(black_box(&handle)));
            }
            start.elapsed()
        },
    )
}

/// [`on_threads`] for async calls: each thread awaits `call()` `iters` times on a current-thread
/// runtime of its own, built before the threads are released.
fn on_threads_async<Fut: Future>(
    threads: usize,
    iters: u64,
    call: impl Fn() -> Fut + Sync,
) -> Duration {
    released_together(threads, current_thread_runtime, |rt| {
        rt.block_on(async {
            let start = Instant::now();
            for _ in 0..iters {
                observe(&call().await);
            }
            start.elapsed()
        })
    })
}

/// `threads` threads, each given what `prepare` made and then released together to `run`, which
/// times itself: the longest time, scaled to the cores the threads had (see [`on_threads`]).
fn released_together<P: Send>(
    threads: usize,
    prepare: impl Fn() -> P,
    run: impl Fn(P) -> Duration + Sync,
) -> Duration {
    let (barrier, run) = (&Barrier::new(threads), &run);
    let wall = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let prepared = prepare();
                s.spawn(move || {
                    barrier.wait();
                    run(prepared)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|t| t.join().expect("bench thread panicked"))
            .max()
            .unwrap_or_default()
    });
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    wall * threads.min(cores) as u32 / threads as u32
}

fn threads_bench<S: Clone + Send, R>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    shared: S,
    call: impl Fn(&S) -> R + Sync,
) {
    g.bench_function(name, |b| {
        b.iter_custom(|iters| on_threads(2, iters, &shared, &call))
    });
}

fn current_thread_runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("tokio runtime")
}

fn closed_breaker(c: &mut Criterion) {
    let failsafe = failsafe_breaker();
    let recloser = Recloser::default();
    let mut g = c.benchmark_group("closed_breaker");
    sync_bench(&mut g, "plain", ok);
    sync_bench(&mut g, "resilient", || via_permit(&CLOSED));
    sync_bench(&mut g, "resilient_call_sync", || CLOSED.call_sync(ok));
    sync_bench(&mut g, "annotated", annotated_closed);
    sync_bench(&mut g, "failsafe", || failsafe.call(ok));
    sync_bench(&mut g, "recloser", || recloser.call(ok));
    g.finish();
}

/// One async call through a closed breaker: the breaker layer of the README stack on its own.
fn closed_breaker_async(c: &mut Criterion) {
    let rt = current_thread_runtime();
    let failsafe = failsafe_async_breaker();
    let mut g = c.benchmark_group("closed_breaker_async");
    async_bench(&mut g, &rt, "plain", op);
    async_bench(&mut g, &rt, "resilient", || ASYNC_CLOSED.call(op()));
    async_bench(&mut g, &rt, "annotated", annotated_async_closed);
    async_bench(&mut g, &rt, "failsafe", || {
        failsafe::futures::CircuitBreaker::call(&failsafe, op())
    });
    g.finish();
}

fn open_breaker_rejection(c: &mut Criterion) {
    drive_open(|| OPEN.call_sync(fail), is_our_rejection);
    FORCED.force_open();
    let failsafe = failsafe_breaker();
    drive_open(
        || failsafe.call(fail),
        |e| matches!(e, failsafe::Error::Rejected),
    );
    let recloser = recloser_to_open();
    drive_open(
        || recloser.call(fail),
        |e| matches!(e, recloser::Error::Rejected),
    );
    let mut g = c.benchmark_group("open_breaker_rejection");
    sync_bench(&mut g, "plain", ok);
    sync_bench(&mut g, "resilient", || via_permit(&OPEN));
    sync_bench(&mut g, "resilient_call_sync", || OPEN.call_sync(ok));
    sync_bench(&mut g, "resilient_forced_open", || FORCED.call_sync(ok));
    sync_bench(&mut g, "failsafe", || failsafe.call(ok));
    sync_bench(&mut g, "recloser", || recloser.call(ok));
    g.finish();
}

fn successful_retry(c: &mut Criterion) {
    use backon::{ExponentialBuilder, Retryable};
    let rt = current_thread_runtime();
    let mut g = c.benchmark_group("successful_retry");
    async_bench(&mut g, &rt, "plain", op);
    async_bench(&mut g, &rt, "resilient", || resilient::retry(&POLICY, op));
    async_bench(&mut g, &rt, "annotated", annotated_retry);
    async_bench(&mut g, &rt, "backon", || {
        op.retry(ExponentialBuilder::default())
    });
    g.finish();
}

fn ready_timeout(c: &mut Criterion) {
    let rt = current_thread_runtime();
    let mut g = c.benchmark_group("ready_timeout");
    async_bench(&mut g, &rt, "plain", op);
    async_bench(&mut g, &rt, "resilient", || resilient::timeout(LIMIT, op()));
    async_bench(&mut g, &rt, "annotated", annotated_timeout);
    async_bench(&mut g, &rt, "tokio", || tokio::time::timeout(LIMIT, op()));
    g.finish();
}

fn two_threads_shared_breaker(c: &mut Criterion) {
    let mut g = c.benchmark_group("two_threads_shared_breaker");
    threads_bench(&mut g, "plain", (), |_| ok());
    threads_bench(&mut g, "resilient", &SHARED, |b| via_permit(b));
    threads_bench(&mut g, "failsafe", failsafe_breaker(), |b| b.call(ok));
    threads_bench(&mut g, "recloser", Arc::new(Recloser::default()), |b| {
        b.call(ok)
    });
    g.finish();
}

/// 1 to 16 threads on one closed breaker: what a call costs as they are added.
fn many_threads_shared_breaker(c: &mut Criterion) {
    let failsafe = failsafe_breaker();
    let mut g = c.benchmark_group("many_threads_shared_breaker");
    for threads in [1, 2, 4, 8, 16] {
        g.bench_function(format!("resilient_{threads:02}"), |b| {
            b.iter_custom(|iters| on_threads(threads, iters, &&SHARED, |b| via_permit(b)))
        });
        g.bench_function(format!("failsafe_{threads:02}"), |b| {
            b.iter_custom(|iters| on_threads(threads, iters, &failsafe, |b| b.call(ok)))
        });
    }
    g.finish();
}

/// 1 to 16 threads calling the annotated README stack (one retry, breaker and timeout shared by
/// all), against the same stack glued from backon, failsafe (one breaker shared) and tokio.
fn many_threads_stack(c: &mut Criterion) {
    use backon::{ExponentialBuilder, Retryable};
    let breaker = failsafe_async_breaker();
    let glued = || {
        let breaker = breaker.clone();
        let attempt = move || {
            let timed = async {
                tokio::time::timeout(LIMIT, op())
                    .await
                    .unwrap_or(Err(BenchError::Failed))
            };
            failsafe::futures::CircuitBreaker::call(&breaker, timed)
        };
        attempt.retry(ExponentialBuilder::default())
    };
    let mut g = c.benchmark_group("many_threads_stack");
    for threads in [1, 2, 4, 8, 16] {
        g.bench_function(format!("annotated_{threads:02}"), |b| {
            b.iter_custom(|iters| on_threads_async(threads, iters, annotated_stacked_threads))
        });
        g.bench_function(format!("glued_{threads:02}"), |b| {
            b.iter_custom(|iters| on_threads_async(threads, iters, glued))
        });
    }
    g.finish();
}

fn stacked(c: &mut Criterion) {
    let rt = current_thread_runtime();
    let mut g = c.benchmark_group("stacked");
    async_bench(&mut g, &rt, "plain", op);
    async_bench(&mut g, &rt, "resilient", || {
        resilient::retry(&POLICY, || STACKED.call(resilient::timeout(LIMIT, op())))
    });
    async_bench(&mut g, &rt, "annotated", annotated_stacked);
    let breaker = failsafe_async_breaker();
    async_bench(&mut g, &rt, "glued", || {
        use backon::{ExponentialBuilder, Retryable};
        let attempt = || {
            let timed = async {
                tokio::time::timeout(LIMIT, op())
                    .await
                    .unwrap_or(Err(BenchError::Failed))
            };
            failsafe::futures::CircuitBreaker::call(&breaker, timed)
        };
        attempt.retry(ExponentialBuilder::default())
    });
    g.finish();
}

/// One call let through by a rate limiter that never runs out (`u32::MAX` a second): the cost of
/// a decision, our GCRA against governor's.
fn rate_limiter(c: &mut Criterion) {
    static NEVER_FULL: RateLimiter =
        RateLimiter::new("bench.rate", u32::MAX, Duration::from_secs(1)).burst(u32::MAX);
    let quota = governor::Quota::per_second(std::num::NonZeroU32::MAX);
    let governor = governor::RateLimiter::direct(quota);
    let mut g = c.benchmark_group("rate_limiter");
    sync_bench(&mut g, "plain", ok);
    sync_bench(&mut g, "resilient", || {
        NEVER_FULL.try_acquire()?;
        ok()
    });
    sync_bench(&mut g, "governor", || {
        governor.check().map_err(|_| BenchError::Failed)?;
        ok()
    });
    g.finish();
}

/// One async call through a bulkhead with slots to spare: taking a slot and giving it back, ours
/// against tokio's semaphore (the primitive a hand-made bulkhead is built on).
fn bulkhead(c: &mut Criterion) {
    static BULKHEAD: Bulkhead = Bulkhead::new("bench.bulkhead", 16);
    static SEMAPHORE: Semaphore = Semaphore::const_new(16);
    let rt = current_thread_runtime();
    let mut g = c.benchmark_group("bulkhead");
    async_bench(&mut g, &rt, "plain", op);
    async_bench(&mut g, &rt, "resilient", || BULKHEAD.call(op()));
    async_bench(&mut g, &rt, "annotated", annotated_bulkhead);
    async_bench(&mut g, &rt, "tokio_semaphore", || async {
        let _slot = SEMAPHORE.acquire().await.map_err(|_| BenchError::Failed)?;
        op().await
    });
    g.finish();
}

/// One async call hedged after 50 ms that answers at once: what hedging costs a call that needs
/// none, ours against the `select!` users write by hand.
fn hedged(c: &mut Criterion) {
    static POLICY: HedgePolicy = HedgePolicy::new().delay(HEDGE_DELAY);
    let rt = current_thread_runtime();
    let mut g = c.benchmark_group("hedge");
    async_bench(&mut g, &rt, "plain", op);
    async_bench(&mut g, &rt, "resilient", || resilient::hedge(&POLICY, op));
    async_bench(&mut g, &rt, "annotated", annotated_hedge);
    async_bench(&mut g, &rt, "select", select_hedge);
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = closed_breaker, closed_breaker_async, open_breaker_rejection, successful_retry, ready_timeout,
        two_threads_shared_breaker, many_threads_shared_breaker, many_threads_stack, stacked,
        rate_limiter, bulkhead, hedged
}
criterion_main!(benches);
