//! The HTTP plumbing the demo needs, on hyper: serve a handler on a listener, answer, and GET.

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client as Pool;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

/// Every response body: the whole answer at once.
pub(crate) type Body = Full<Bytes>;

/// What can go wrong with a GET: the URL, the connection, or the body.
pub(crate) type Error = Box<dyn std::error::Error + Send + Sync>;

/// Serves HTTP/1.1 on `listener`, each connection in a task of its own, until the returned future
/// is dropped: then the listener closes (new connections are refused) and so does every open
/// connection, which is how the upstream goes down.
pub(crate) async fn serve<H, F>(listener: TcpListener, handler: H)
where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    let mut connections = JoinSet::new();
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            // Out of file descriptors, say: the connection waits in the backlog a little.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let handler = handler.clone();
        connections.spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let answer = handler(request);
                async move { Ok::<_, Infallible>(answer.await) }
            });
            // A client that hangs up mid-request (a timeout) is no error of the server's.
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
        while connections.try_join_next().is_some() {}
    }
}

/// A response with `status`, a content type, and a body that is never cached: everything the demo
/// serves is the state now.
pub(crate) fn respond(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Body> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The library's `/health` and `/metrics` answer `Response<String>`: the same, as hyper sends it.
pub(crate) fn from_string(response: Response<String>) -> Response<Body> {
    response.map(|body| Full::new(Bytes::from(body)))
}

/// An HTTP/1.1 client that keeps connections open between requests; clones share them.
#[derive(Clone, Debug)]
pub(crate) struct Client(Pool<HttpConnector, Body>);

impl Client {
    pub(crate) fn new() -> Self {
        Self(Pool::builder(TokioExecutor::new()).build_http())
    }

    /// GETs `url`: the status and the body as text.
    pub(crate) async fn get(&self, url: &str) -> Result<(StatusCode, String), Error> {
        let response = self.0.get(url.parse()?).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }
}
