//! `POST /files`: store the request body, answer `{"file_id","size"}`.
//!
//! Two body forms:
//! * raw bytes, the extension from `?ext=`, else the `Content-Type`, else
//!   the magic bytes;
//! * `multipart/form-data`: the first part that carries a file name or a
//!   `Content-Type` (plain text fields are skipped); the extension from
//!   `?ext=`, the part's file name, its `Content-Type`, or the magic bytes.
//!
//! The body streams straight into the store; the size limit is enforced as
//! bytes arrive (and up front from `Content-Length`), so a huge body costs
//! one chunk of memory and is refused with 413.
//!
//! With `?token=<token>` ([`crate::tokens`]) the token → file id record is
//! on disk before the answer; a token that has a record (used, or
//! abandoned) is 409, before the body is read, or after storing (an abandon
//! that came in meanwhile wins: the new file is deleted again).

use std::time::Duration;

use futures::StreamExt;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use multer::{Constraints, Multipart, SizeLimit};
use serde_json::json;

use super::error::ApiError;
use super::token::{self, record_error};
use super::{App, Body, json_response, mime};
use crate::body::{BodyError, UploadStream, idle_timeout, limit, peek_prefix};
use crate::name;
use crate::tokens::{Record, Token};

/// Room for multipart boundaries, part headers and small text fields on top
/// of the file itself when checking a multipart body's total size.
const MULTIPART_OVERHEAD: u64 = 64 * 1024;
/// An upload that sends nothing for this long is abandoned (temp file
/// removed, storage connection dropped) rather than held open forever.
const UPLOAD_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

pub async fn handle(app: &App, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let _span = crate::telemetry::step("upload", opentelemetry::trace::SpanKind::Internal);
    let max = app.max_file_size;
    let explicit_ext = query_ext(req.uri().query())?;
    let token = query_value(req.uri().query(), "token")
        .map(token::parse)
        .transpose()?;
    if let Some(token) = &token
        && app.tokens.get(token).await.map_err(record_error)?.is_some()
    {
        return Err(token_used(token));
    }
    let content_type = req
        .headers()
        .get(CONTENT_TYPE)
        .map(|v| v.to_str().map(str::to_owned))
        .transpose()
        .map_err(|_| ApiError::bad_request("Content-Type is not ASCII"))?;
    let content_length = match req.headers().get(CONTENT_LENGTH) {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or_else(|| ApiError::bad_request("invalid Content-Length"))?,
        ),
    };
    let multipart_boundary = content_type
        .as_deref()
        .filter(|ct| {
            ct.trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        })
        .map(|ct| {
            multer::parse_boundary(ct)
                .map_err(|e| ApiError::bad_request(format!("bad multipart Content-Type: {e}")))
        })
        .transpose()?;

    // Refuse what cannot fit before reading a byte of it.
    let allowed = if multipart_boundary.is_some() {
        max + MULTIPART_OVERHEAD
    } else {
        max
    };
    if content_length.is_some_and(|n| n > allowed) {
        return Err(BodyError::TooLarge { limit: max }.into());
    }

    let body: UploadStream = idle_timeout(
        Box::pin(
            req.into_body()
                .into_data_stream()
                .map(|r| r.map_err(|e| BodyError::Aborted(e.to_string()))),
        ),
        UPLOAD_IDLE_TIMEOUT,
    );

    match multipart_boundary {
        None => {
            let hinted = content_type
                .as_deref()
                .and_then(mime::ext_for_content_type)
                .map(str::to_owned);
            let body = limit(body, max);
            store(app, token, explicit_ext, hinted, content_length, body).await
        }
        Some(boundary) => {
            let constraints = Constraints::new().size_limit(
                SizeLimit::new()
                    .whole_stream(max + MULTIPART_OVERHEAD)
                    .per_field(max),
            );
            let mut multipart = Multipart::with_constraints(body, boundary, constraints);
            // Plain text fields (no file name, no Content-Type) are skipped.
            let field = loop {
                match multipart
                    .next_field()
                    .await
                    .map_err(|e| multipart_error(e, max))?
                {
                    Some(f) if f.file_name().is_some() || f.content_type().is_some() => break f,
                    Some(_) => continue,
                    None => return Err(ApiError::bad_request("multipart body has no file part")),
                }
            };
            let hinted = field
                .file_name()
                .and_then(name::ext_from_filename)
                .or_else(|| {
                    field
                        .content_type()
                        .and_then(|m| mime::ext_for_content_type(m.essence_str()))
                        .map(str::to_owned)
                });
            let stream: UploadStream =
                Box::pin(field.map(move |r| r.map_err(|e| body_error(e, max))));
            store(app, token, explicit_ext, hinted, None, stream).await
        }
    }
}

/// Common tail: pick the extension, refuse empty bodies, store, record the
/// token, answer.
async fn store(
    app: &App,
    token: Option<Token>,
    explicit_ext: Option<String>,
    hinted_ext: Option<String>,
    len: Option<u64>,
    body: UploadStream,
) -> Result<Response<Body>, ApiError> {
    let (prefix, body) = peek_prefix(body).await?;
    if prefix.is_empty() {
        return Err(ApiError::bad_request("empty upload"));
    }
    let ext = explicit_ext
        .or(hinted_ext)
        .or_else(|| mime::sniff(&prefix).map(|(e, _)| e.to_owned()))
        .unwrap_or_default();
    let up = app.store.upload(&ext, len, body).await?;
    if let Some(token) = token {
        let recorded = app
            .tokens
            .create(&token, Record::Stored(up.file_id.clone()))
            .await;
        if !matches!(recorded, Ok(None)) {
            // Not recorded, so not answered: the file must not stay.
            if let Err(e) = app.store.delete(&up.file_id).await {
                tracing::warn!(file_id = %up.file_id, error = %e, "unrecorded upload not deleted");
            }
            return Err(match recorded {
                Err(e) => record_error(e),
                _ => token_used(&token),
            });
        }
    }
    tracing::info!(file_id = %up.file_id, size = up.size, "stored");
    Ok(json_response(
        StatusCode::OK,
        &json!({ "file_id": up.file_id.to_string(), "size": up.size }),
    ))
}

/// `?ext=jpg` (a leading dot is tolerated); must be a valid FastDFS ext.
/// `Some("")` means the caller wants no extension at all.
fn query_ext(query: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(q) = query else { return Ok(None) };
    for pair in q.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k == "ext" {
            let v = v.strip_prefix('.').unwrap_or(v);
            if !name::valid_ext(v) {
                return Err(ApiError::bad_request(
                    "ext must be at most 6 characters of [A-Za-z0-9_.-]",
                ));
            }
            // `?ext=` (empty) explicitly asks for no extension.
            return Ok(Some(v.to_owned()));
        }
    }
    Ok(None)
}

fn token_used(token: &Token) -> ApiError {
    ApiError::new(
        hyper::StatusCode::CONFLICT,
        format!("token {token} was used or abandoned"),
    )
}

/// The raw value of `name` in a query string (tokens need no decoding).
fn query_value<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then_some(v)
    })
}

fn body_error(e: multer::Error, max: u64) -> BodyError {
    match e {
        multer::Error::FieldSizeExceeded { .. } | multer::Error::StreamSizeExceeded { .. } => {
            BodyError::TooLarge { limit: max }
        }
        other => BodyError::Aborted(format!("multipart: {other}")),
    }
}

fn multipart_error(e: multer::Error, max: u64) -> ApiError {
    body_error(e, max).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ext_query() {
        assert_eq!(query_ext(None).unwrap(), None);
        assert_eq!(query_ext(Some("ext=jpg")).unwrap().as_deref(), Some("jpg"));
        assert_eq!(
            query_ext(Some("a=1&ext=.png")).unwrap().as_deref(),
            Some("png")
        );
        assert_eq!(query_ext(Some("ext=")).unwrap().as_deref(), Some(""));
        assert!(query_ext(Some("ext=../x")).is_err());
        assert!(query_ext(Some("ext=toolong")).is_err());
        assert!(query_ext(Some("ext=%2e%2e")).is_err());
    }
}
