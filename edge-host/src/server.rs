//! The HTTP server: hyper-util's auto (HTTP/1.1 keep-alive + HTTP/2)
//! connection builder, Spin's reserved paths, routing, the `spin-*`
//! headers, and graceful shutdown.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HOST};
use http::{HeaderName, HeaderValue, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;

use crate::app::App;
use crate::instance::{Body, empty};
use crate::routing::{WELL_KNOWN_PREFIX, spin_headers};

/// How long in-flight requests may finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Pause after a failed `accept` (e.g. out of file descriptors) so the loop
/// doesn't spin while the condition persists.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);

fn text(status: StatusCode, content_type: &str, body: String) -> Response<Body> {
    let mut res = Response::new(
        Full::new(Bytes::from(body))
            .map_err(|e| match e {})
            .boxed_unsync(),
    );
    *res.status_mut() = status;
    if let Ok(v) = HeaderValue::from_str(content_type) {
        res.headers_mut().insert(CONTENT_TYPE, v);
    }
    res
}

impl App {
    /// Answers one request.
    pub async fn handle(&self, mut req: Request<Incoming>, client: SocketAddr) -> Response<Body> {
        let path = req.uri().path().to_owned();
        if path == "/.well-known/spin/health" {
            return text(StatusCode::OK, "text/plain", "OK".into());
        }
        if path == "/.well-known/spin/info" {
            let mut info = serde_json::json!({ "name": self.name });
            if let Some(v) = &self.version {
                info["version"] = v.clone().into();
            }
            return text(StatusCode::OK, "application/json", info.to_string());
        }
        if path.starts_with(WELL_KNOWN_PREFIX) {
            return empty(StatusCode::NOT_FOUND);
        }
        let Some(m) = self.router.route(&path) else {
            return empty(StatusCode::NOT_FOUND);
        };
        let Some(component) = self.components[m.handler.component].clone() else {
            eprintln!(
                "internal error: route {:?} has no component",
                m.handler.raw_route
            );
            return empty(StatusCode::INTERNAL_SERVER_ERROR);
        };

        // Spin rebuilds the URI as http://<Host><path?query>; a request
        // without a usable Host (or one contradicting an absolute URI) is an
        // error there too.
        let host = req
            .headers()
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned)
            .or_else(|| req.uri().authority().map(|a| a.to_string()));
        let Some(host) = host else {
            eprintln!("rejecting request for {path}: no Host header");
            return empty(StatusCode::INTERNAL_SERVER_ERROR);
        };
        if let Some(a) = req.uri().authority()
            && a.as_str() != host
        {
            eprintln!("rejecting request for {path}: Host {host:?} differs from URI authority {a}");
            return empty(StatusCode::INTERNAL_SERVER_ERROR);
        }
        let pq = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| path.clone());
        let full_url = format!("http://{host}{pq}");
        match full_url.parse::<Uri>() {
            Ok(uri) => *req.uri_mut() = uri,
            Err(e) => {
                eprintln!("rejecting request: bad URL {full_url:?}: {e}");
                return empty(StatusCode::INTERNAL_SERVER_ERROR);
            }
        }
        let headers = req.headers_mut();
        for (name, value) in spin_headers(&m, &full_url, client) {
            match (HeaderName::try_from(name), HeaderValue::try_from(value)) {
                (Ok(n), Ok(v)) => {
                    headers.append(n, v);
                }
                (n, v) => eprintln!("skipping unrepresentable spin header: {n:?} {v:?}"),
            }
        }
        drop(m);
        component.handle(req).await
    }
}

/// Serves until `shutdown` resolves, then lets in-flight requests finish
/// (up to [`SHUTDOWN_GRACE`]).
pub async fn serve(app: App, shutdown: impl Future<Output = ()>) {
    let app = Arc::new(app);
    let graceful = GracefulShutdown::new();
    let builder = auto::Builder::new(TokioExecutor::new());
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = app.listener.accept() => match accepted {
                Ok(x) => x,
                Err(e) => {
                    eprintln!("accept failed: {e}");
                    tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let app = app.clone();
        let service = hyper::service::service_fn(move |req| {
            let app = app.clone();
            async move { Ok::<_, Infallible>(app.handle(req, peer).await) }
        });
        let conn = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            // Client resets and half-finished requests land here; nothing
            // to do beyond noting them.
            if let Err(e) = conn.await {
                tracing::debug!("connection from {peer}: {e}");
            }
        });
    }
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(SHUTDOWN_GRACE) => {
            eprintln!("shutdown: gave up waiting for in-flight requests");
        }
    }
}

/// Resolves on Ctrl-C or, on Unix, SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        // SIGTERM is how process managers and test harnesses stop us.
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
