//! The HTTP API (hyper 1): the accept loop and one dispatcher that routes
//! each request to its handler module.
//!
//! | route | handler |
//! |---|---|
//! | `POST /files` | [`upload`] |
//! | `GET`/`HEAD /files/<file_id>` | [`download`] |
//! | `DELETE /files/<file_id>` | [`delete`] |
//! | `POST /tokens/<token>/abandon` | [`token::abandon`] |
//! | `DELETE /tokens/<token>` | [`token::forget`] |
//! | `GET`/`HEAD /health` | [`health`] |

pub mod delete;
pub mod download;
pub mod error;
pub mod health;
pub mod mime;
pub mod range;
pub mod token;
pub mod upload;

use std::convert::Infallible;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::time::Instant;

use crate::store::{Store, StoreError};
use crate::tokens::Tokens;
use error::ApiError;

/// Response bodies: in-memory JSON or a streamed file.
pub type Body = UnsyncBoxBody<Bytes, io::Error>;

/// A client that has not finished sending request headers by then is cut
/// off, so idle or slow-loris connections cannot pile up.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause after a failed `accept` (e.g. out of file descriptors) instead of
/// spinning.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);

/// Shared state of all requests.
pub struct App {
    pub store: Store,
    /// Upload tokens' records ([`crate::tokens`]).
    pub tokens: Tokens,
    pub max_file_size: u64,
    /// Longest time from a read, delete or health request to the start of
    /// its answer (`--answer-timeout-ms`); see [`App::by`].
    pub answer_timeout: Duration,
}

impl App {
    /// The deadline for the answer to a request that arrives now.
    pub fn answer_deadline(&self) -> Instant {
        Instant::now() + self.answer_timeout
    }

    /// Runs a store call that must be done by `deadline`. One deadline per
    /// request, shared by all its calls, so a hung tracker or storage costs
    /// one bounded wait however many exchanges the request needed; the
    /// cancelled exchange's connection is dropped, never pooled.
    pub async fn by<T>(
        &self,
        deadline: Instant,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout_at(deadline, call).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::Unavailable(format!(
                "the image store did not answer within {} ms",
                self.answer_timeout.as_millis()
            ))),
        }
    }
}

/// Serves `listener` until the process ends.
pub async fn serve(listener: TcpListener, app: Arc<App>) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
                continue;
            }
        };
        let app = Arc::clone(&app);
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let app = Arc::clone(&app);
                async move {
                    // Each request runs in a task of its own, so that a
                    // client going away never cancels it halfway: an upload
                    // whose file is stored must also write its token record
                    // (else the file would be orphaned), and a delete must
                    // finish. A bug costs one request a 500 (the task's
                    // panic), not the connection task.
                    let trace = crate::telemetry::request(&req);
                    let work = async move { dispatch(&app, req).await };
                    let task = match trace.as_ref().and_then(|t| t.context()) {
                        Some(cx) => tokio::spawn(opentelemetry::context::FutureExt::with_context(
                            work,
                            cx.clone(),
                        )),
                        None => tokio::spawn(work),
                    };
                    let resp = task.await.unwrap_or_else(|_| {
                        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
                            .into_response()
                    });
                    if let Some(trace) = &trace {
                        trace.finish(resp.status());
                    }
                    Ok::<_, Infallible>(resp)
                }
            });
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
}

/// Routes one request.
pub async fn dispatch(app: &App, req: Request<Incoming>) -> Response<Body> {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    tracing::debug!(%method, %path, "request");
    let result = match path.as_str() {
        "/health" => match method {
            Method::GET | Method::HEAD => health::handle(app).await,
            _ => Err(ApiError::method_not_allowed("GET, HEAD")),
        },
        "/files" | "/files/" => match method {
            Method::POST => upload::handle(app, req).await,
            _ => Err(ApiError::method_not_allowed("POST")),
        },
        _ => {
            if let Some(raw_id) = path.strip_prefix("/files/") {
                match method {
                    Method::GET => download::handle(app, &req, raw_id, false).await,
                    Method::HEAD => download::handle(app, &req, raw_id, true).await,
                    Method::DELETE => delete::handle(app, raw_id).await,
                    _ => Err(ApiError::method_not_allowed("GET, HEAD, DELETE")),
                }
            } else if let Some(rest) = path.strip_prefix("/tokens/") {
                match (rest.strip_suffix("/abandon"), method) {
                    (Some(raw), Method::POST) => token::abandon(app, raw).await,
                    (Some(_), _) => Err(ApiError::method_not_allowed("POST")),
                    (None, Method::DELETE) => token::forget(app, rest).await,
                    (None, _) => Err(ApiError::method_not_allowed("DELETE")),
                }
            } else {
                Err(ApiError::new(StatusCode::NOT_FOUND, "no such route"))
            }
        }
    };
    result.unwrap_or_else(ApiError::into_response)
}

pub fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

pub fn json_response(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    let bytes = Bytes::from(value.to_string());
    let mut resp = Response::new(
        Full::new(bytes)
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}
