//! The demo's parts, shared by the example (`main.rs`) and its test (`tests/demo.rs`):
//!
//! - [`upstream`]: a price service on loopback that misbehaves on a script;
//! - [`service`]: the service the policies protect, its `/price/{id}` fetched from the upstream
//!   through `#[fallback]` › `#[retry]` › `#[circuit_breaker]` › `#[bulkhead]` › `#[timeout]`,
//!   with `/health`, `/metrics` and the dashboard;
//! - [`load`]: the service's clients, a steady 80 requests a second;
//! - [`record`]: a sample of every policy's metrics twice a second, the history the views draw;
//! - [`live`], [`dashboard`], [`timeline`]: the terminal's table, the page, the picture;
//! - [`web`]: the HTTP plumbing, on hyper.

pub(crate) mod dashboard;
pub(crate) mod live;
pub(crate) mod load;
pub(crate) mod record;
pub(crate) mod service;
pub(crate) mod timeline;
pub(crate) mod upstream;
pub(crate) mod web;

use record::{CountWithheld, Recorder};
use resilient::http::{health_endpoint, install_prometheus, metrics_endpoint};
use service::{Prices, Service};
use std::net::Ipv4Addr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tracing_subscriber::layer::SubscriberExt as _;
use upstream::{Script, Upstream};

/// A running demo: the upstream, the service, its clients and the recording. Dropped, it stops.
pub(crate) struct Demo {
    url: String,
    upstream: Upstream,
    recorder: Arc<Recorder>,
    /// The service, its clients and the recording.
    _tasks: JoinSet<()>,
}

impl Demo {
    /// Starts the upstream (behaving normally), the service on `port` of loopback (0: any free
    /// port), its clients, and the recording. Once per process: the metrics' recorder is global.
    pub(crate) async fn start(port: u16) -> Result<Self, web::Error> {
        // Counts the retries the retry ratio withholds. Only the first subscriber set counts: a
        // test harness's own, if it has one, and then the count stays at 0.
        let _ = tracing::subscriber::set_global_default(
            tracing_subscriber::registry().with(CountWithheld),
        );
        let metrics = install_prometheus()?;
        let upstream = Upstream::start().await?;
        let recorder = Arc::new(Recorder::new(service::health_checks()));
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await?;
        let url = format!("http://{}", listener.local_addr()?);
        let service = Service {
            prices: Arc::new(Prices::new(upstream.url(), Arc::clone(&recorder))),
            recorder: Arc::clone(&recorder),
            health: health_endpoint(service::health_checks()),
            metrics: metrics_endpoint(metrics),
        };
        let mut tasks = JoinSet::new();
        tasks.spawn(web::serve(listener, move |request| {
            service.clone().answer(request)
        }));
        tasks.spawn(load::run(url.clone()));
        let recording = Arc::clone(&recorder);
        tasks.spawn(async move { recording.run().await });
        Ok(Self {
            url,
            upstream,
            recorder,
            _tasks: tasks,
        })
    }

    /// The service's address: `http://127.0.0.1:PORT`.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    pub(crate) fn recorder(&self) -> &Arc<Recorder> {
        &self.recorder
    }

    /// Plays `script` on the upstream, telling `say` each phase as it begins.
    pub(crate) async fn play(&mut self, script: &Script, say: &dyn Fn(String)) {
        for phase in &script.0 {
            let t = self.recorder.elapsed().as_secs_f64();
            say(format!("{t:>6.1} s  {:<8}  {}", phase.name, phase.story));
            self.recorder.set_phase(phase.name);
            if let Err(err) = self.upstream.set(phase.behaviour).await {
                say(format!("the upstream cannot listen again: {err}"));
            }
            tokio::time::sleep(phase.length).await;
        }
    }

    /// The picture of the run so far, as SVG.
    pub(crate) fn timeline(&self) -> String {
        self.recorder.with_history(timeline::svg)
    }

    /// What the policies saved so far, in a few sentences.
    pub(crate) fn summary(&self) -> Vec<String> {
        self.recorder.with_history(timeline::summary)
    }
}
