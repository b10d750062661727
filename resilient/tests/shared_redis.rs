//! The shared backend against a real `redis-server` on loopback, started by the test (the
//! README's test command installs it where missing): replicas sharing one rate, and the
//! server stopped, unreachable and restarted.

#[path = "support/redis_server.rs"]
mod redis_server;

use redis_server::{Server, free_port};
use resilient::RateLimiter;
use resilient::shared::{OnFailure, Redis};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Three replicas, each with its own runtime, client and limiter of the same name, call as fast
/// as they can for 1.5 s: together they get no more than the burst plus one call per interval of
/// the time that passed, where each alone would have got that much.
#[test]
fn three_replicas_share_one_rate() {
    let server = Server::start();
    let url = server.url();
    let prefix = format!("test{}:", std::process::id());
    let start = Instant::now();
    let replicas: Vec<_> = (0..3)
        .map(|_| {
            let (url, prefix) = (url.clone(), prefix.clone());
            std::thread::spawn(move || {
                let limiter: &'static RateLimiter = Box::leak(Box::new(
                    RateLimiter::new("shared.rate", 100, Duration::from_secs(1)).burst(5),
                ));
                // A generous timeout: the machine may be busy, and this test is about the rate.
                let backend = Arc::new(
                    Redis::new(&url, &prefix)
                        .unwrap()
                        .timeout(Duration::from_secs(1)),
                );
                limiter.share_through(Arc::clone(&backend), OnFailure::Local);
                runtime().block_on(async {
                    let mut admitted = 0u64;
                    while start.elapsed() < Duration::from_millis(1500) {
                        let call = limiter.call(async { Ok::<_, resilient::Rejected>(()) });
                        if call.await.is_ok() {
                            admitted += 1;
                        }
                    }
                    assert!(!backend.is_degraded(), "the server answered throughout");
                    admitted
                })
            })
        })
        .collect();
    let admitted: u64 = replicas.into_iter().map(|r| r.join().unwrap()).sum();
    let elapsed = start.elapsed();
    // One call per 10 ms of the time that passed, the burst, and the turn at the very start.
    let allowed = 5 + elapsed.as_millis() as u64 / 10 + 1;
    assert!(
        admitted <= allowed,
        "{admitted} admitted in {elapsed:?}, at most {allowed}"
    );
    assert!(
        admitted >= 100,
        "{admitted} admitted in {elapsed:?}: the replicas were kept apart"
    );
}

/// No server at the address: each call waits at most the backend's timeout, then the local
/// limiter decides, and the backend says it is degraded.
#[test]
fn an_unreachable_server_leaves_the_decision_to_the_local_limiter() {
    let free_port = free_port();
    let backend = Arc::new(
        Redis::new(&format!("redis://127.0.0.1:{free_port}"), "none:")
            .unwrap()
            .timeout(Duration::from_millis(50)),
    );
    let limiter: &'static RateLimiter = Box::leak(Box::new(
        RateLimiter::new("shared.unreachable", 1, Duration::from_secs(3600)).burst(2),
    ));
    limiter.share_through(Arc::clone(&backend), OnFailure::Local);
    runtime().block_on(async {
        for expected in [true, true, false] {
            let started = Instant::now();
            let result = limiter
                .call(async { Ok::<_, resilient::Rejected>(()) })
                .await;
            assert_eq!(result.is_ok(), expected);
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "waited {:?}",
                started.elapsed()
            );
        }
    });
    assert!(backend.is_degraded());
}

/// The server stops, then comes back on the same port: the limiter decides locally meanwhile,
/// and with the server again once it answers (its script loaded again).
#[test]
fn a_restarted_server_is_used_again() {
    let server = Server::start();
    let port = server.port;
    let backend = Arc::new(
        Redis::new(&server.url(), "restart:")
            .unwrap()
            .timeout(Duration::from_secs(1)),
    );
    let limiter: &'static RateLimiter = Box::leak(Box::new(RateLimiter::new(
        "shared.restart",
        1000,
        Duration::from_secs(1),
    )));
    limiter.share_through(Arc::clone(&backend), OnFailure::Local);
    resilient::registry::register(limiter);
    let rt = runtime();
    let call = || rt.block_on(limiter.call(async { Ok::<_, resilient::Rejected>(()) }));
    let health = || {
        use resilient::health::{self, HealthChecks};
        let checks =
            HealthChecks::new().add("shared", Duration::from_secs(1), health::shared_backends());
        let report = rt.block_on(checks.run());
        let check = &report.checks()[0];
        (check.status(), check.message().to_owned())
    };
    assert!(call().is_ok());
    assert!(!backend.is_degraded());
    // The check covers every shared policy registered (other tests' too): read this one's part.
    assert!(!health().1.contains("`shared.restart`"));
    drop(server);
    assert!(call().is_ok(), "decided locally");
    assert!(backend.is_degraded());
    let (status, message) = health();
    assert_eq!(status, resilient::health::Status::Degraded);
    assert!(message.contains("`shared.restart`"), "{message}");
    let _server = Server::on(port);
    let deadline = Instant::now() + Duration::from_secs(10);
    while backend.is_degraded() {
        assert!(Instant::now() < deadline, "never used the server again");
        assert!(call().is_ok());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!health().1.contains("`shared.restart`"));
}

/// The backend named by the configuration: two limiters of one name (two replicas in one
/// process) each given `redis_url` through the registry share one burst; the server down with
/// `on_redis_failure = closed`, every call is refused.
#[test]
fn a_backend_named_by_the_configuration_is_shared_and_can_fail_closed() {
    use resilient::registry;
    let server = Server::start();
    let first: &'static RateLimiter = Box::leak(Box::new(RateLimiter::new(
        "shared.configured",
        1,
        Duration::from_secs(3600),
    )));
    let second: &'static RateLimiter = Box::leak(Box::new(RateLimiter::new(
        "shared.configured",
        1,
        Duration::from_secs(3600),
    )));
    registry::register(first);
    registry::register(second);
    let prefix = format!("configured{}:", std::process::id());
    registry::set("shared.configured", "redis_url", &server.url()).unwrap();
    registry::set("shared.configured", "redis_prefix", &prefix).unwrap();
    let info = registry::policies()
        .into_iter()
        .find(|p| p.name == "shared.configured")
        .unwrap();
    assert_eq!(info.config["redis_url"], server.url());
    assert_eq!(info.config["redis_prefix"], prefix);
    assert_eq!(info.config["on_redis_failure"], "local");
    assert_eq!(info.config["redis_lease"], "1");
    let err = registry::set("shared.configured", "redis_lease", "0").unwrap_err();
    assert_eq!(
        err.to_string(),
        "policy `shared.configured`: cannot set `redis_lease` to `0`: `redis_lease` must be at least 1 (1: no lease)"
    );
    let rt = runtime();
    let ok = |limiter: &'static RateLimiter| {
        rt.block_on(limiter.call(async { Ok::<_, resilient::Rejected>(()) }))
            .is_ok()
    };
    assert!(ok(first));
    assert!(!ok(second), "the one turn of the hour was the first's");

    let err = registry::set("shared.configured", "on_redis_failure", "sometimes").unwrap_err();
    assert_eq!(
        err.to_string(),
        "policy `shared.configured`: cannot set `on_redis_failure` to `sometimes`: `sometimes` is not one of `local`, `open`, `closed`"
    );
    registry::set("shared.configured", "on_redis_failure", "closed").unwrap();
    drop(server);
    let fresh: &'static RateLimiter = Box::leak(Box::new(RateLimiter::new(
        "shared.configured",
        1000,
        Duration::from_secs(1),
    )));
    registry::register(fresh);
    assert!(!ok(fresh), "refused while the server is down");
}

/// A slow server (busy for a second in `DEBUG SLEEP`): a call waits no longer than the backend's
/// timeout, the local limiter decides, and the server is used again once it answers.
#[test]
fn a_slow_server_holds_no_caller_longer_than_the_timeout() {
    let server = Server::start();
    let backend = Arc::new(
        Redis::new(&server.url(), "slow:")
            .unwrap()
            .timeout(Duration::from_millis(200)),
    );
    let limiter: &'static RateLimiter = Box::leak(Box::new(RateLimiter::new(
        "shared.slow",
        1000,
        Duration::from_secs(1),
    )));
    limiter.share_through(Arc::clone(&backend), OnFailure::Local);
    let rt = runtime();
    let call = || rt.block_on(limiter.call(async { Ok::<_, resilient::Rejected>(()) }));
    // Connected and answering first, with a timeout that a busy machine cannot miss.
    let deadline = Instant::now() + Duration::from_secs(10);
    while {
        assert!(call().is_ok());
        backend.is_degraded()
    } {
        assert!(Instant::now() < deadline, "the server never answered");
    }
    let sleeper = server.busy_for(3);
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    assert!(call().is_ok(), "decided locally");
    let waited = started.elapsed();
    assert!(backend.is_degraded());
    assert!(
        waited >= Duration::from_millis(200) && waited < Duration::from_millis(2500),
        "waited {waited:?}: the timeout, not the server's three seconds"
    );
    sleeper.join().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while backend.is_degraded() {
        assert!(Instant::now() < deadline, "never used the server again");
        assert!(call().is_ok());
    }
}

/// A call waiting for its shared turn and cancelled gives the turn back on the server, when no
/// call reserved one since: the key goes back to what the call before it left.
#[test]
fn a_cancelled_shared_waiter_gives_its_turn_back() {
    let server = Server::start();
    let backend = Arc::new(
        Redis::new(&server.url(), "giveback:")
            .unwrap()
            .timeout(Duration::from_secs(1)),
    );
    let limiter: &'static RateLimiter = Box::leak(Box::new(
        RateLimiter::new("shared.giveback", 1, Duration::from_secs(10))
            .burst(1)
            .max_wait(Duration::from_secs(60)),
    ));
    limiter.share_through(Arc::clone(&backend), OnFailure::Local);
    let tat = || {
        let out = Command::new("redis-cli")
            .args(["-p", &server.port.to_string(), "GET"])
            .arg("giveback:rate_limit:shared.giveback")
            .output()
            .unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .trim()
            .parse::<u64>()
            .unwrap()
    };
    let rt = runtime();
    rt.block_on(async {
        let ok = || async { Ok::<_, resilient::Rejected>(()) };
        assert!(limiter.call(ok()).await.is_ok());
        let first = tat();
        let waiting = tokio::time::timeout(Duration::from_millis(200), limiter.call(ok()));
        assert!(waiting.await.is_err(), "its turn is ten seconds away");
        assert!(!backend.is_degraded());
        // The give-back runs in the background on this runtime.
        let deadline = Instant::now() + Duration::from_secs(10);
        while tat() != first {
            assert!(Instant::now() < deadline, "the turn never went back");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
}

/// The GCRA scripts the server ran so far (`EVAL` and `EVALSHA` calls).
fn scripts_run(port: u16) -> u64 {
    let out = Command::new("redis-cli")
        .args(["-p", &port.to_string(), "INFO", "commandstats"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|line| line.starts_with("cmdstat_eval:") || line.starts_with("cmdstat_evalsha:"))
        .map(|line| {
            let calls = line.split("calls=").nth(1).unwrap();
            calls.split(',').next().unwrap().parse::<u64>().unwrap()
        })
        .sum()
}

/// With a lease of ten turns, a hundred calls need ten round trips, not a hundred, and each
/// still waits for its own turn; three replicas leasing stay within the rate.
#[test]
fn a_lease_takes_turns_ten_at_a_time_within_the_rate() {
    let server = Server::start();
    let limiter: &'static RateLimiter = Box::leak(Box::new(
        RateLimiter::new("shared.lease", 1000, Duration::from_secs(1))
            .burst(10)
            .max_wait(Duration::from_secs(1)),
    ));
    let backend = Arc::new(
        Redis::new(&server.url(), "lease:")
            .unwrap()
            .timeout(Duration::from_secs(1)),
    );
    limiter.share_through(Arc::clone(&backend), OnFailure::Local);
    limiter.lease_turns(10);
    let before = scripts_run(server.port);
    runtime().block_on(async {
        for _ in 0..100 {
            let call = limiter.call(async { Ok::<_, resilient::Rejected>(()) });
            assert!(call.await.is_ok());
        }
    });
    assert!(!backend.is_degraded());
    let round_trips = scripts_run(server.port) - before;
    assert!(
        (10..=12).contains(&round_trips),
        "{round_trips} scripts for 100 calls in leases of 10"
    );

    let start = Instant::now();
    let replicas: Vec<_> = (0..3)
        .map(|_| {
            let url = server.url();
            std::thread::spawn(move || {
                let limiter: &'static RateLimiter = Box::leak(Box::new(
                    RateLimiter::new("shared.leases", 100, Duration::from_secs(1)).burst(5),
                ));
                let backend = Arc::new(
                    Redis::new(&url, "leases:")
                        .unwrap()
                        .timeout(Duration::from_secs(1)),
                );
                limiter.share_through(backend, OnFailure::Local);
                limiter.lease_turns(5);
                runtime().block_on(async {
                    let mut admitted = 0u64;
                    while start.elapsed() < Duration::from_millis(1000) {
                        let call = limiter.call(async { Ok::<_, resilient::Rejected>(()) });
                        if call.await.is_ok() {
                            admitted += 1;
                        }
                    }
                    admitted
                })
            })
        })
        .collect();
    let admitted: u64 = replicas.into_iter().map(|r| r.join().unwrap()).sum();
    // A leased turn may be used up to a window (the burst) after its time: one burst more.
    let allowed = 2 * 5 + start.elapsed().as_millis() as u64 / 10 + 1;
    assert!(
        admitted <= allowed,
        "{admitted} admitted, at most {allowed}"
    );
    assert!(admitted >= 50, "{admitted} admitted: the leases were lost");
}

/// One backend used from one runtime, then, once that runtime is gone, from another (as a
/// `static` backend is across `#[tokio::test]`s): its connection is driven again from the new
/// runtime, and the server decides as before.
#[test]
fn a_backend_outlives_the_runtime_that_first_drove_it() {
    let server = Server::start();
    let backend = Arc::new(
        Redis::new(&server.url(), "runtimes:")
            .unwrap()
            .timeout(Duration::from_secs(1)),
    );
    let limiter: &'static RateLimiter = Box::leak(Box::new(
        RateLimiter::new("shared.runtimes", 2, Duration::from_secs(3600)).burst(2),
    ));
    limiter.share_through(Arc::clone(&backend), OnFailure::Local);
    let call = |rt: &tokio::runtime::Runtime| {
        rt.block_on(limiter.call(async { Ok::<_, resilient::Rejected>(()) }))
            .is_ok()
    };
    let first = runtime();
    assert!(call(&first));
    drop(first);
    let second = runtime();
    assert!(
        call(&second),
        "the second turn of the burst, from the server"
    );
    assert!(!backend.is_degraded());
    assert!(!call(&second), "the server counted both runtimes' calls");
    assert!(!backend.is_degraded());
}

/// Two replicas share a retry ratio of 0.1 through the server. The first makes 20 calls that
/// always fail: the floor of 10 retries and one more (at 10 calls), as alone. Once its counts are
/// on the server, the second's 20 failing calls are judged with the cluster's: 2 retries (at 20
/// and 30 calls in all), where alone it would have made 11.
#[test]
fn replicas_share_one_retry_ratio() {
    use resilient::{Backoff, RetryPolicy};
    let server = Server::start();
    let prefix = format!("ratio{}:", std::process::id());
    let replica = || {
        let policy: &'static RetryPolicy = Box::leak(Box::new(
            RetryPolicy::new()
                .name("shared.ratio")
                .max_attempts(2)
                .backoff(Backoff::constant(Duration::from_millis(1)).jitter(0.0))
                .retry_ratio(0.1),
        ));
        policy.share_every(Duration::from_millis(50));
        let backend = Arc::new(
            Redis::new(&server.url(), &prefix)
                .unwrap()
                .timeout(Duration::from_secs(1)),
        );
        (policy, backend)
    };
    let failing_calls = |policy: &'static RetryPolicy| async move {
        for _ in 0..20 {
            let failed = resilient::retry(policy, || async { Err::<(), _>("down") });
            assert!(failed.await.is_err());
        }
        policy.metrics().retries
    };
    let rt = runtime();
    rt.block_on(async {
        let (first, first_backend) = replica();
        let (second, second_backend) = replica();
        first.share_through(Arc::clone(&first_backend), OnFailure::Local);
        second.share_through(Arc::clone(&second_backend), OnFailure::Local);
        assert_eq!(failing_calls(first).await, 11);
        // Time for both to send and learn a batch.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(failing_calls(second).await, 2);
        assert!(!first_backend.is_degraded() && !second_backend.is_degraded());
        resilient::registry::register(first);
        let info = resilient::registry::policies()
            .into_iter()
            .find(|p| p.name == "shared.ratio")
            .unwrap();
        assert_eq!(info.config["retry_ratio"], "0.1");
        assert_eq!(info.config["redis_batch"], "50ms");
    });
}

/// A shared retry ratio with `on_redis_failure = closed`: once the server is gone, no retry.
#[test]
fn a_shared_retry_ratio_failing_closed_retries_nothing_while_the_server_is_down() {
    use resilient::{Backoff, RetryPolicy};
    let server = Server::start();
    let policy: &'static RetryPolicy = Box::leak(Box::new(
        RetryPolicy::new()
            .name("shared.ratio.closed")
            .max_attempts(2)
            .backoff(Backoff::constant(Duration::from_millis(1)).jitter(0.0))
            .retry_ratio(0.5),
    ));
    policy.share_every(Duration::from_millis(50));
    let backend = Arc::new(
        Redis::new(&server.url(), "ratio-closed:")
            .unwrap()
            .timeout(Duration::from_millis(200)),
    );
    let attempts = |policy: &'static RetryPolicy| async move {
        let made = std::sync::atomic::AtomicU32::new(0);
        let failed = resilient::retry(policy, || async {
            made.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Err::<(), _>("down")
        });
        assert!(failed.await.is_err());
        made.into_inner()
    };
    runtime().block_on(async {
        policy.share_through(Arc::clone(&backend), OnFailure::Closed);
        assert_eq!(attempts(policy).await, 2);
        drop(server);
        let deadline = Instant::now() + Duration::from_secs(3);
        while !backend.is_degraded() {
            assert!(
                Instant::now() < deadline,
                "the server's absence went unnoticed"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(attempts(policy).await, 1);
    });
}
