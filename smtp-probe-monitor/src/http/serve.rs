//! Serving HTTP/1.1 with bounds of its own, for services anyone who can reach them may call slowly or many times
//! at once: a header-read timeout (also the idle keep-alive limit), a cap on open connections (past it a new
//! connection is closed at once, never queued), a limit on request head size, an answer deadline per request, and
//! a graceful end.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// The bounds of an HTTP service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// How long a client may take to send a request's headers (also how long an idle kept-alive connection
    /// stays open): a client that drips its headers is cut off, not waited for.
    pub header_read_timeout: Duration,
    /// How long one request may take to be answered; past it the answer is a 503.
    pub request_timeout: Duration,
    /// Open connections at most; past it, new connections are closed at once.
    pub max_connections: usize,
}

impl Default for HttpLimits {
    fn default() -> HttpLimits {
        HttpLimits {
            header_read_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(60),
            max_connections: 256,
        }
    }
}

/// How long requests in flight may take to finish once shutdown is asked for.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The largest request head (request line and headers) read.
const MAX_HEAD: usize = 64 * 1024;

/// Serves `router` on `listener` within `limits` (HTTP/1.1) until `shutdown` resolves, then lets requests in
/// flight finish for a few seconds.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = router.layer(axum::middleware::from_fn_with_state(limits.request_timeout, request_timeout));
    let connections = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of descriptors and the like: back off briefly rather than spin.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = Arc::clone(&connections).try_acquire_owned() else {
            drop(stream); // over the cap: closed at once, never queued
            continue;
        };
        let _ = stream.set_nodelay(true);
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout).max_buf_size(MAX_HEAD);
        let connection = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(router.clone()));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _ = connection.await;
            drop(permit);
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await;
    Ok(())
}

/// Answers 503 for a request that is not answered within the limit.
async fn request_timeout(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "the request was not answered in time\n").into_response(),
    }
}
