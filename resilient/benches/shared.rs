//! What a rate limiter shared through Redis costs per call, against the physical limit: one
//! round trip to the same server (an `INCR`), and the local limiter. Starts its own
//! `redis-server` on a free loopback port (feature `redis`):
//!
//! ```text
//! cargo bench -p resilient --features redis --bench shared
//! ```
//!
//! | variant | measures |
//! | --- | --- |
//! | `local` | `RateLimiter::call` deciding locally (never full) |
//! | `shared` | the same call decided by the Lua GCRA on the server (`share_through`) |
//! | `shared_lease_100` | a limiter of a million a second taking 100 turns per round trip (`lease_turns`): most calls take a leased turn here |
//! | `incr` | one `INCR` through the same client: a round trip, the least a shared decision costs |
//!
//! And a closed circuit breaker's call (`shared_breaker`): `local` alone, `shared` taking part in
//! the cluster's decision (`share_through`, its batches sent every 250 ms by a task on the
//! runtime's worker thread). Nothing is sent per call, so the two should cost the same.

#[path = "../tests/support/redis_server.rs"]
mod redis_server;

use criterion::BenchmarkGroup;
use criterion::measurement::WallTime;
use criterion::{Criterion, criterion_group, criterion_main};
use fred::prelude::LuaInterface;
use redis_server::Server;
use resilient::shared::{OnFailure, Redis};
use resilient::{BreakerConfig, CircuitBreaker, RateLimiter};
use std::future::Future;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn shared(c: &mut Criterion) {
    let server = Server::start();
    let url = server.url();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    static LOCAL: RateLimiter =
        RateLimiter::new("bench.local", u32::MAX, Duration::from_secs(1)).burst(u32::MAX);
    static SHARED: RateLimiter =
        RateLimiter::new("bench.shared", u32::MAX, Duration::from_secs(1)).burst(u32::MAX);
    // The server counts in microseconds: a million a second is the fastest shared rate, and
    // leased calls may go faster than that, so the burst is what keeps every call admitted.
    static LEASING: RateLimiter =
        RateLimiter::new("bench.leasing", 1_000_000, Duration::from_secs(1)).burst(u32::MAX);
    let backend = Arc::new(
        Redis::new(&url, "bench:")
            .unwrap()
            .timeout(Duration::from_secs(1)),
    );
    SHARED.share_through(Arc::clone(&backend), OnFailure::Local);
    LEASING.share_through(Arc::clone(&backend), OnFailure::Local);
    LEASING.lease_turns(100);
    let client = fred::types::Builder::from_config(fred::prelude::Config::from_url(&url).unwrap())
        .build()
        .unwrap();
    rt.block_on(fred::prelude::ClientLike::init(&client))
        .unwrap();

    let mut g = c.benchmark_group("shared_rate_limiter");
    let ok = || async { Ok::<_, resilient::Rejected>(()) };
    time(&mut g, &rt, "local", || async {
        LOCAL.call(ok()).await.is_ok()
    });
    time(&mut g, &rt, "shared", || async {
        SHARED.call(ok()).await.is_ok()
    });
    time(&mut g, &rt, "shared_lease_100", || async {
        LEASING.call(ok()).await.is_ok()
    });
    time(&mut g, &rt, "incr", || async {
        let incr = "return redis.call('INCR', KEYS[1])";
        client
            .eval::<i64, _, _, _>(incr, "bench:incr", ())
            .await
            .is_ok()
    });
    g.finish();
    assert!(
        !backend.is_degraded(),
        "every shared call was decided by the server"
    );

    static LOCAL_BREAKER: CircuitBreaker = BreakerConfig::new().build("bench.breaker.local");
    static SHARED_BREAKER: CircuitBreaker = BreakerConfig::new().build("bench.breaker.shared");
    // The batch task runs on the worker, beside the calls made on this thread.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async { SHARED_BREAKER.share_through(Arc::clone(&backend), OnFailure::Local) });
    let mut g = c.benchmark_group("shared_breaker");
    time(&mut g, &rt, "local", || async {
        LOCAL_BREAKER.call(ok()).await.is_ok()
    });
    time(&mut g, &rt, "shared", || async {
        SHARED_BREAKER.call(ok()).await.is_ok()
    });
    g.finish();
}

/// Times `iters` awaited calls of `call` inside one `block_on`; each must succeed.
fn time<F, Fut>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    rt: &tokio::runtime::Runtime,
    name: &str,
    call: F,
) where
    F: Fn() -> Fut,
    Fut: Future<Output = bool>,
{
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    assert!(black_box(call().await));
                }
                start.elapsed()
            })
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = shared
}
criterion_main!(benches);
