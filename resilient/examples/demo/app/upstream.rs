//! The upstream: a price service on loopback that misbehaves on a script. It is the real thing
//! over real sockets: slow answers are slow, 500s are 500s, and while it is down its port refuses
//! connections.

use super::web::{self, Body};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How long the upstream takes to answer while it is slow: far above the service's timeout.
pub(crate) const SLOW: Duration = Duration::from_millis(1500);

/// The name of the phase in which the upstream is [`Behaviour::Slow`].
pub(crate) const SLOW_PHASE: &str = "slow";

/// How the upstream answers `GET /price/{id}`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Behaviour {
    /// 200 in 5 to 20 ms.
    Normal,
    /// 200 after [`SLOW`].
    Slow,
    /// Bursts: in the first second of every two, `share` of the answers are 500s.
    ErrorBursts { share: f64 },
    /// Not listening: every connection is refused.
    Down,
}

/// One part of the script.
#[derive(Clone, Debug)]
pub(crate) struct Phase {
    /// A short name, shown in the live views and on the timeline.
    pub(crate) name: &'static str,
    /// What happens, in a sentence.
    pub(crate) story: &'static str,
    pub(crate) behaviour: Behaviour,
    pub(crate) length: Duration,
}

/// The upstream's script: its phases in order.
#[derive(Clone, Debug)]
pub(crate) struct Script(pub(crate) Vec<Phase>);

impl Script {
    /// About a minute: normal, slow, error bursts, an outage, recovery.
    pub(crate) fn standard() -> Self {
        Self::scaled(1.0)
    }

    /// The same story in about 12 s (`--quick`, and the tests). The breaker still waits its 2 s before each
    /// trial, so the outage and the recovery keep at least that.
    pub(crate) fn quick() -> Self {
        let mut script = Self::scaled(0.2);
        for phase in &mut script.0[3..] {
            phase.length = phase.length.max(Duration::from_secs(3));
        }
        script
    }

    fn scaled(factor: f64) -> Self {
        let phase = |name, story, behaviour, secs: f64| Phase {
            name,
            story,
            behaviour,
            length: Duration::from_secs_f64(secs * factor),
        };
        Script(vec![
            phase(
                "normal",
                "the upstream answers in 5-20 ms",
                Behaviour::Normal,
                10.0,
            ),
            phase(
                SLOW_PHASE,
                "the upstream takes 1.5 s to answer, far above the 250 ms timeout",
                Behaviour::Slow,
                10.0,
            ),
            phase(
                "errors",
                "the upstream answers 500 to 30% of the calls, in bursts of 1 s",
                Behaviour::ErrorBursts { share: 0.3 },
                12.0,
            ),
            phase(
                "outage",
                "the upstream is down: its port refuses every connection",
                Behaviour::Down,
                13.0,
            ),
            phase(
                "recovery",
                "the upstream is back and answers in 5-20 ms",
                Behaviour::Normal,
                15.0,
            ),
        ])
    }
}

/// The behaviour in force and when it started (the error bursts keep time from there).
type Now = Arc<Mutex<(Behaviour, Instant)>>;

/// The running upstream. Dropped, it stops listening.
#[derive(Debug)]
pub(crate) struct Upstream {
    addr: SocketAddr,
    now: Now,
    server: Option<JoinHandle<()>>,
}

impl Upstream {
    /// Listens on a free loopback port, behaving normally.
    pub(crate) async fn start() -> io::Result<Self> {
        let listener = listen(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        let mut upstream = Self {
            addr: listener.local_addr()?,
            now: Arc::new(Mutex::new((Behaviour::Normal, Instant::now()))),
            server: None,
        };
        upstream.serve(listener);
        Ok(upstream)
    }

    /// Where it listens (or, while down, refuses).
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Behaves as `behaviour` from now on: going down closes the port and every open connection;
    /// coming back listens on the same port again.
    pub(crate) async fn set(&mut self, behaviour: Behaviour) -> io::Result<()> {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner) = (behaviour, Instant::now());
        match (behaviour, &self.server) {
            (Behaviour::Down, Some(server)) => {
                server.abort();
                self.server = None;
            }
            (Behaviour::Down, None) | (_, Some(_)) => {}
            (_, None) => {
                let listener = listen_again(self.addr).await?;
                self.serve(listener);
            }
        }
        Ok(())
    }

    fn serve(&mut self, listener: TcpListener) {
        let now = Arc::clone(&self.now);
        self.server = Some(tokio::spawn(web::serve(listener, move |request| {
            answer(Arc::clone(&now), request)
        })));
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        if let Some(server) = &self.server {
            server.abort();
        }
    }
}

/// A listener that can be opened again on the same port as soon as it is closed: connections
/// it had may still linger in TIME_WAIT.
fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// [`listen`] on the port the upstream had, trying for a few seconds if another program took it
/// meanwhile.
async fn listen_again(addr: SocketAddr) -> io::Result<TcpListener> {
    let mut tries = 0;
    loop {
        match listen(addr) {
            Err(_) if tries < 50 => tries += 1,
            done => return done,
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `GET /price/{id}`: `{"id":7,"price":107.5}`, or a 500 or a slow answer as the script says.
async fn answer(now: Now, request: Request<Incoming>) -> Response<Body> {
    let id = (request.method() == Method::GET)
        .then(|| request.uri().path().strip_prefix("/price/"))
        .flatten()
        .and_then(|id| id.parse::<u32>().ok());
    let Some(id) = id else {
        return web::respond(StatusCode::NOT_FOUND, "text/plain", "no such page\n");
    };
    let (behaviour, since) = *now.lock().unwrap_or_else(PoisonError::into_inner);
    match behaviour {
        Behaviour::Slow => tokio::time::sleep(SLOW).await,
        Behaviour::ErrorBursts { share } => {
            let in_burst = since.elapsed().as_millis() % 2000 < 1000;
            if in_burst && fastrand::f64() < share {
                return web::respond(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "application/json",
                    r#"{"error":"internal"}"#,
                );
            }
        }
        Behaviour::Normal | Behaviour::Down => {}
    }
    tokio::time::sleep(Duration::from_millis(fastrand::u64(5..=20))).await;
    // A price that moves with time.
    let price = 100.0 + f64::from(id) + (since.elapsed().as_secs_f64() / 10.0).sin();
    let body = format!(r#"{{"id":{id},"price":{price:.2}}}"#);
    web::respond(StatusCode::OK, "application/json", body)
}
