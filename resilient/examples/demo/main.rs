//! A real service protected by `resilient`, in front of an upstream that fails on a script, over
//! real HTTP on loopback.
//!
//! Run it with `cargo run --example demo`. It takes about a minute and stops by itself
//! (`-- --keep-running` plays the script again until Ctrl-C). Clients send the service 80
//! requests a second; the service fetches each price from the upstream through `#[fallback]` ›
//! `#[retry]` › `#[circuit_breaker]` › `#[bulkhead]` › `#[timeout]` (see `app/service.rs`). The
//! upstream answers normally, then slowly, then with bursts of 500s, then refuses every
//! connection, then recovers.
//!
//! While it runs: the policies' table in the terminal, and a dashboard at the URL it prints,
//! beside the service's `/health` (503 while the upstream's breaker is open) and `/metrics`
//! (Prometheus). At the end: a picture of the run (`target/demo-timeline.svg`) and what the
//! policies saved.
//!
//! Options: `--keep-running`, `--quick` (the same story in 12 s), `--port N` (the service's port;
//! default: a free one), `--timeline PATH` (where the picture goes).

mod app;

use app::Demo;
use app::live::Live;
use app::record::TICK;
use app::upstream::Script;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};

const USAGE: &str =
    "usage: cargo run --example demo [-- [--keep-running] [--quick] [--port N] [--timeline PATH]]";

/// What the command line asks for.
struct Options {
    help: bool,
    keep_running: bool,
    script: Script,
    port: u16,
    timeline: PathBuf,
}

impl Options {
    fn parse(mut args: impl Iterator<Item = String>) -> Result<Self, String> {
        let mut options = Options {
            help: false,
            keep_running: false,
            script: Script::standard(),
            port: 0,
            timeline: default_timeline(),
        };
        while let Some(arg) = args.next() {
            let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
            match arg.as_str() {
                "--keep-running" => options.keep_running = true,
                "--quick" => options.script = Script::quick(),
                "--port" => {
                    let port = value("--port")?;
                    options.port = port.parse().map_err(|_| {
                        format!("--port takes a port number from 0 to 65535, not `{port}`")
                    })?;
                }
                "--timeline" => options.timeline = value("--timeline")?.into(),
                "-h" | "--help" => options.help = true,
                other => return Err(format!("unknown option `{other}`")),
            }
        }
        Ok(options)
    }
}

/// `demo-timeline.svg` in the target directory the example runs from
/// (`target/debug/examples/demo`), else in the current directory.
fn default_timeline() -> PathBuf {
    let exe = std::env::current_exe().ok();
    let target = exe.as_deref().and_then(|exe| exe.ancestors().nth(3));
    target.unwrap_or(".".as_ref()).join("demo-timeline.svg")
}

#[tokio::main]
async fn main() -> ExitCode {
    let options = match Options::parse(std::env::args().skip(1)) {
        Ok(options) if options.help => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(options) => options,
        Err(why) => {
            eprintln!("{why}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let mut demo = match Demo::start(options.port).await {
        Ok(demo) => demo,
        Err(err) => {
            eprintln!("the demo cannot start: {err}");
            return ExitCode::FAILURE;
        }
    };
    let url = demo.url().to_owned();
    let live = Arc::new(Mutex::new(Live::new()));
    let say = |line: String| {
        live.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .say(line)
    };
    say(format!(
        "Dashboard: {url}/   (and {url}/health, {url}/metrics, {url}/price/7)"
    ));
    say(format!(
        "The upstream's script{}:",
        if options.keep_running {
            ", again and again until Ctrl-C"
        } else {
            ""
        }
    ));

    let view = {
        let (live, recorder) = (Arc::clone(&live), Arc::clone(demo.recorder()));
        tokio::spawn(async move {
            let mut every = tokio::time::interval(TICK);
            loop {
                every.tick().await;
                let latest = recorder.latest();
                live.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .show(latest.as_ref());
            }
        })
    };
    let play = async {
        loop {
            demo.play(&options.script, &say).await;
            if !options.keep_running {
                break;
            }
        }
    };
    tokio::select! {
        () = play => {}
        _ = tokio::signal::ctrl_c() => say("Ctrl-C: stopping.".to_owned()),
    }
    view.abort();
    {
        let mut live = live.lock().unwrap_or_else(PoisonError::into_inner);
        live.show(demo.recorder().latest().as_ref());
        live.stop();
    }

    println!();
    match std::fs::write(&options.timeline, demo.timeline()) {
        Ok(()) => println!("The picture of the run: {}", options.timeline.display()),
        Err(err) => eprintln!("cannot write {}: {err}", options.timeline.display()),
    }
    println!("What the policies did:");
    for line in demo.summary() {
        println!("  - {line}");
    }
    ExitCode::SUCCESS
}
