//! The demo as its user sees it, on the quick script (about 12 s): the service over real HTTP on
//! loopback; `/health` 503 while the upstream's breaker is open and 200 again after; `/metrics`
//! counting the breaker's rejections; the dashboard loading and updating in headless Chromium;
//! and the picture of the run.

// The demo's own parts, as the example runs them; the terminal view is the example's alone.
#[allow(dead_code)]
#[path = "../examples/demo/app/mod.rs"]
mod app;

use app::Demo;
use app::upstream::Script;
use app::web::Client;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_protects_its_service_and_shows_it() {
    let mut demo = Demo::start(0).await.expect("the demo starts");
    let url = demo.url().to_owned();
    let client = Client::new();

    // `/health` as a load balancer probes it, every 100 ms: each change of status, in order.
    let statuses = Arc::new(Mutex::new(Vec::new()));
    let probe = tokio::spawn({
        let (client, url, statuses) = (client.clone(), url.clone(), Arc::clone(&statuses));
        async move {
            loop {
                if let Ok((status, _)) = client.get(&format!("{url}/health")).await {
                    let mut statuses = statuses.lock().unwrap();
                    if statuses.last() != Some(&status.as_u16()) {
                        statuses.push(status.as_u16());
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    });
    let dashboard = tokio::spawn(dashboard_loads_and_updates(url.clone()));

    demo.play(&Script::quick(), &|line| println!("{line}"))
        .await;
    // The last samples, with the upstream back.
    tokio::time::sleep(Duration::from_secs(1)).await;
    probe.abort();

    let (status, body) = client.get(&format!("{url}/price/7")).await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""fresh":true"#), "{body}");

    let statuses = statuses.lock().unwrap().clone();
    println!("/health answered, in order: {statuses:?}");
    assert_eq!(statuses.first(), Some(&200), "{statuses:?}");
    assert!(statuses.contains(&503), "{statuses:?}");
    assert_eq!(statuses.last(), Some(&200), "{statuses:?}");

    let (status, metrics) = client.get(&format!("{url}/metrics")).await.unwrap();
    assert_eq!(status, 200);
    let rejected: f64 = (metrics.lines())
        .filter(|line| line.starts_with("resilient_calls_total{"))
        .filter(|line| line.contains(r#"kind="circuit_breaker""#))
        .filter(|line| line.contains(r#"outcome="rejected""#))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    println!("/metrics: the breaker rejected {rejected} calls");
    assert!(rejected > 0.0, "{metrics}");

    let svg = demo.timeline();
    for state in ["closed", "open"] {
        let band = format!(r#"class="state-{state}""#);
        assert!(svg.contains(&band), "no {band} in {svg}");
    }
    let lines: Vec<usize> = (svg.split(r#"<polyline class="series" points=""#).skip(1))
        .map(|rest| rest.split('"').next().unwrap_or("").split(' ').count())
        .collect();
    println!("the picture's lines have {lines:?} points");
    assert!(
        lines.iter().filter(|&&points| points >= 15).count() >= 10,
        "{lines:?}"
    );
    let summary = demo.summary();
    assert_eq!(summary.len(), 5, "{summary:?}");
    assert!(svg.contains("The breaker opened"), "{svg}");

    dashboard.await.unwrap();
}

/// Loads the dashboard twice in headless Chromium, a few seconds apart: each time every policy is
/// in its table, the picture is in place and the page has polled more than once; the second time
/// shows later samples than the first.
async fn dashboard_loads_and_updates(url: String) {
    let Some(chromium) = chromium() else {
        let why = "no Chromium found (`chromium`, `chromium-browser`, `google-chrome`, or \
                   $CHROMIUM): scripts/test-all installs Debian's `chromium` package";
        assert!(std::env::var_os("CI").is_none(), "{why}");
        println!("skipping the dashboard's check: {why}");
        return;
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    let first = dump_dom(&chromium, &url).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let second = dump_dom(&chromium, &url).await;
    for dom in [&first, &second] {
        for kind in [
            "fallback",
            "retry",
            "circuit_breaker",
            "bulkhead",
            "timeout",
        ] {
            assert!(
                dom.contains(&format!("<td>{kind}</td>")),
                "no {kind} in {dom}"
            );
        }
        assert_eq!(attribute(dom, "data-policies"), Some(5), "{dom}");
        assert!(attribute(dom, "data-updates") >= Some(2), "{dom}");
        assert!(dom.contains("<svg"), "no picture in {dom}");
    }
    let (before, after) = (
        attribute(&first, "data-samples"),
        attribute(&second, "data-samples"),
    );
    println!("the dashboard showed {before:?} samples, then {after:?}");
    assert!(after > before, "{before:?} then {after:?}");
}

/// Chromium, if installed.
fn chromium() -> Option<PathBuf> {
    let named = std::env::var_os("CHROMIUM").map(PathBuf::from);
    let usual = ["chromium", "chromium-browser", "google-chrome"].map(PathBuf::from);
    named.into_iter().chain(usual).find(|candidate| {
        Command::new(candidate)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    })
}

/// The page's DOM once its script has run for 3 s of Chromium's virtual time (in which it polls
/// the service about three times).
async fn dump_dom(chromium: &Path, url: &str) -> String {
    let profile =
        std::env::temp_dir().join(format!("resilient-demo-chromium-{}", std::process::id()));
    let mut command = Command::new(chromium);
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=3000",
            "--timeout=30000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--dump-dom", &format!("{url}/")]);
    let run = tokio::task::spawn_blocking(move || command.output());
    let output = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("Chromium dumps the DOM within a minute")
        .unwrap()
        .expect("Chromium runs");
    let _ = std::fs::remove_dir_all(&profile);
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The number in `name="…"`, the first in `dom`.
fn attribute(dom: &str, name: &str) -> Option<u64> {
    let (_, rest) = dom.split_once(&format!(r#"{name}=""#))?;
    rest.split('"').next()?.parse().ok()
}
