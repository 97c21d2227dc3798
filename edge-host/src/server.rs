//! The HTTP server: hyper-util's auto (HTTP/1.1 keep-alive + HTTP/2)
//! connection builder, Spin's reserved paths, routing, the `spin-*`
//! headers, the limits on slow and greedy clients ([`crate::limits`]), and
//! graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HOST};
use http::uri::Authority;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;

use crate::app::App;
use crate::instance::{Body, empty};
use crate::limits::{Activity, ClientKey, Held, Stalled, TimedBody};
use crate::routing::{WELL_KNOWN_PREFIX, spin_headers};

/// How long in-flight requests may finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Pause after a failed `accept` (e.g. out of file descriptors) so the loop
/// doesn't spin while the condition persists.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);

/// A 200 with a fixed body, as Spin answers its reserved paths: the health
/// check has no content type, the info document is `application/json`.
fn reserved(content_type: Option<&'static str>, body: Vec<u8>) -> Response<Body> {
    let mut res = Response::new(
        Full::new(Bytes::from(body))
            .map_err(|e| match e {})
            .boxed_unsync(),
    );
    if let Some(t) = content_type {
        res.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(t));
    }
    res
}

/// A request Spin refuses without answering: its `set_req_uri` fails, the
/// error propagates out of the hyper service, and hyper closes the
/// connection (an HTTP/2 stream is reset instead). Clients see the
/// connection end with no response at all.
#[derive(Debug)]
pub struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// The request's authority the way Spin's `set_req_uri` settles it: the
/// `Host` header (which must parse as an authority) or, failing that, the
/// absolute-form URI's; when both are present they must agree (compared as
/// authorities, so case-insensitively).
fn request_authority(req: &Request<Incoming>) -> Result<Authority, Refused> {
    let header = req
        .headers()
        .get(HOST)
        .map(|h| {
            h.to_str()
                .map_err(|_| Refused("'Host' header is not valid UTF-8".into()))?
                .parse::<Authority>()
                .map_err(|_| Refused("'Host' header contains an invalid authority".into()))
        })
        .transpose()?;
    match (header, req.uri().authority()) {
        (None, None) => Err(Refused("no 'Host' header present in request".into())),
        (None, Some(a)) => Ok(a.clone()),
        (Some(a), None) => Ok(a),
        (Some(a1), Some(a2)) if a1 == *a2 => Ok(a1),
        (Some(_), Some(_)) => Err(Refused(
            "authority in 'Host' header does not match authority in URI".into(),
        )),
    }
}

impl App {
    /// The route and component a request goes to, for its span and metrics
    /// (looked up only when telemetry is on).
    fn route_of<B>(&self, req: &Request<B>) -> Option<(Arc<str>, Arc<str>)> {
        let m = self.router.route(req.uri().path())?;
        Some((
            m.handler.raw_route.as_str().into(),
            m.handler.component_id.as_str().into(),
        ))
    }

    /// Answers one request, or refuses it (see [`Refused`]).
    pub async fn handle(
        &self,
        mut req: Request<Incoming>,
        client: SocketAddr,
    ) -> Result<Response<Body>, Refused> {
        // Spin drops a `Host` naming a service-chaining target
        // (`<id>.spin.internal`) before anything else: such names are only
        // meaningful inside the host, so the request then has no Host.
        if req
            .headers()
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .is_some_and(crate::outbound::is_service_chaining_host)
        {
            req.headers_mut().remove(HOST);
        }
        let path = req.uri().path().to_owned();
        if path == "/.well-known/spin/health" {
            return Ok(reserved(None, b"OK".to_vec()));
        }
        if path == "/.well-known/spin/info" {
            let mut info = serde_json::json!({ "name": self.name });
            if let Some(v) = &self.version {
                info["version"] = v.clone().into();
            }
            // Spin serialises its AppInfo with `to_vec_pretty`.
            let body = serde_json::to_vec_pretty(&info).unwrap_or_default();
            return Ok(reserved(Some("application/json"), body));
        }
        // Unrouted paths are answered before the Host check, as in Spin:
        // only a request that reaches a component needs an authority.
        if path.starts_with(WELL_KNOWN_PREFIX) {
            return Ok(empty(StatusCode::NOT_FOUND));
        }
        let Some(m) = self.router.route(&path) else {
            return Ok(empty(StatusCode::NOT_FOUND));
        };
        let authority = request_authority(&req).inspect_err(|e| {
            eprintln!("refusing request for {path}: {e}");
        })?;
        let Some(component) = self.components[m.handler.component].clone() else {
            eprintln!(
                "internal error: route {:?} has no component",
                m.handler.raw_route
            );
            return Ok(empty(StatusCode::INTERNAL_SERVER_ERROR));
        };
        // Spin hands the guest every client header as text; a value that
        // isn't UTF-8 fails the request with a 500 before the guest runs.
        if let Some((name, _)) = req.headers().iter().find(|(_, v)| v.to_str().is_err()) {
            eprintln!("request for {path}: header {name} is not valid UTF-8");
            return Ok(empty(StatusCode::INTERNAL_SERVER_ERROR));
        }

        // The guest sees `http://<authority><path?query>`; `spin-full-url`
        // is built from the Host header alone, `localhost` without one
        // (an absolute-form request may carry no Host).
        let pq = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| path.clone());
        match format!("http://{authority}{pq}").parse::<Uri>() {
            Ok(uri) => *req.uri_mut() = uri,
            Err(e) => {
                return Err(Refused(format!("bad request URI for {path}: {e}")));
            }
        }
        let url_host = req
            .headers()
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost");
        let full_url = format!("http://{url_host}{pq}");
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
        // The body must keep arriving and finish in time; a client that
        // stalls gets 408 whatever the guest made of its failed read.
        let stalled = Stalled::default();
        let limits = self.gate.limits();
        let req = req.map(|body| TimedBody::new(body, limits, stalled.clone()));
        let res = component.handle(req).await;
        if stalled.is_set() {
            tracing::debug!("request for {path} from {client}: body timed out");
            return Ok(crate::limits::request_timeout());
        }
        Ok(res)
    }
}

/// Serves until `shutdown` resolves, then lets in-flight requests finish
/// (up to [`SHUTDOWN_GRACE`]).
///
/// Each connection is held to the app's [`crate::limits::Limits`]: one
/// over its client's connection cap is closed at accept; a request over a
/// cap is answered 503; HTTP/1 request heads must arrive within the head
/// timeout (hyper's `header_read_timeout`), and any connection (HTTP/1 or
/// HTTP/2, before its first request too) with nothing in flight for that
/// long is closed.
pub async fn serve(app: App, shutdown: impl Future<Output = ()>) {
    let app = Arc::new(app);
    let graceful = GracefulShutdown::new();
    let head_timeout = app.gate.limits().head_timeout;
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(head_timeout);
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
        let client = ClientKey::of(peer.ip());
        let Some(conn_permit) = app.gate.connect(client) else {
            // Over its connection cap: closed unanswered (a response would
            // cost a task per refused connection, which is what the cap
            // is there to bound).
            tracing::debug!("connection from {peer}: over the per-client cap, closed");
            continue;
        };
        let activity = Arc::new(Activity::default());
        let service = {
            let (app, activity) = (app.clone(), activity.clone());
            hyper::service::service_fn(move |req| {
                let (app, activity) = (app.clone(), activity.clone());
                let trace =
                    crate::telemetry::get().map(|t| t.request(&req, peer, app.route_of(&req)));
                let respond = async move {
                    let in_flight = activity.start();
                    let permit = match app.gate.begin(client) {
                        Ok(p) => p,
                        Err(busy) => {
                            tracing::debug!("request from {peer}: {busy:?} busy, 503");
                            return Ok(busy.response());
                        }
                    };
                    let res = app.handle(req, peer).await?;
                    Ok::<_, Refused>(res.map(|b| Held::new(b, (permit, in_flight)).boxed_unsync()))
                };
                crate::telemetry::traced(trace, respond)
            })
        };
        let conn = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            tokio::select! {
                // Client resets and half-finished requests land here;
                // nothing to do beyond noting them.
                res = conn => if let Err(e) = res {
                    tracing::debug!("connection from {peer}: {e}");
                },
                // Dropping the connection closes it.
                () = activity.idle_for(head_timeout) => {
                    tracing::debug!("connection from {peer}: idle, closed");
                }
            }
            drop(conn_permit);
        });
    }
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(SHUTDOWN_GRACE) => {
            eprintln!("shutdown: gave up waiting for in-flight requests");
        }
    }
    app.kv.close();
    app.sqlite.close_idle();
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
