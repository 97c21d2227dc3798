//! `GET`/`HEAD /files/<file_id>`: the file, streamed.
//!
//! FastDFS files never change once written, so the ETag is derived from the
//! id alone (strong, no disk or server read needed) and responses may be
//! cached forever. Conditional (`If-None-Match` → 304) and single-range
//! (`Range` → 206, or 416) requests are answered from the size before any
//! file byte is read.

use futures::TryStreamExt;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{
    ACCEPT_RANGES, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG, HeaderName,
    HeaderValue, IF_NONE_MATCH, IF_RANGE, RANGE,
};
use hyper::{Request, Response, StatusCode};
use sha2::{Digest, Sha256};

use super::error::ApiError;
use super::range::{self, Plan};
use super::{App, Body, empty, mime};
use crate::body::{SNIFF_LEN, peek_prefix};
use crate::file_id::FileId;

/// Immutable content: cache for a year (the HTTP maximum in practice).
const CACHE_FOREVER: &str = "public, max-age=31536000, immutable";
/// Bytes of SHA-256 in the ETag: 128 bits is plenty to tell ids apart.
const ETAG_HASH_BYTES: usize = 16;

pub async fn handle(
    app: &App,
    req: &Request<Incoming>,
    raw_id: &str,
    head_only: bool,
) -> Result<Response<Body>, ApiError> {
    let _span = crate::telemetry::step("download", opentelemetry::trace::SpanKind::Internal);
    let id = FileId::parse(raw_id)?;
    let deadline = app.answer_deadline();
    let obj = app.by(deadline, app.store.locate(&id)).await?;
    let etag = etag_for(&id);
    let header = |name: HeaderName| req.headers().get(name).and_then(|v| v.to_str().ok());

    if header(IF_NONE_MATCH).is_some_and(|h| range::none_match(h, &etag)) {
        let mut resp = Response::new(empty());
        *resp.status_mut() = StatusCode::NOT_MODIFIED;
        set_common(&mut resp, &etag);
        return Ok(resp);
    }

    let plan = if range::if_range_allows(header(IF_RANGE), &etag) {
        range::plan(header(RANGE), obj.size)
    } else {
        Plan::Full
    };
    let (status, offset, len) = match plan {
        Plan::Full => (StatusCode::OK, 0, obj.size),
        Plan::Partial { start, end } => (StatusCode::PARTIAL_CONTENT, start, end - start + 1),
        Plan::Unsatisfiable => {
            let mut resp = ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                format!("range not satisfiable for a {}-byte file", obj.size),
            )
            .into_response();
            resp.headers_mut().insert(
                CONTENT_RANGE,
                header_value(&format!("bytes */{}", obj.size)),
            );
            return Ok(resp);
        }
    };

    // Open the byte stream first (errors still get a proper status), and
    // sniff the type from it when the extension does not say.
    let mut stream = if len > 0 && !head_only {
        Some(app.by(deadline, app.store.read(&obj, offset, len)).await?)
    } else {
        None
    };
    let content_type = match id.ext().and_then(mime::from_ext) {
        Some(ct) => ct,
        None if obj.size == 0 => mime::OCTET_STREAM,
        None => {
            let head = match stream.take() {
                Some(s) if offset == 0 => {
                    let (prefix, s) = peek_prefix(s)
                        .await
                        .map_err(|e| ApiError::new(StatusCode::BAD_GATEWAY, e.to_string()))?;
                    stream = Some(s);
                    prefix
                }
                other => {
                    stream = other;
                    let probe = app
                        .by(
                            deadline,
                            app.store.read(&obj, 0, obj.size.min(SNIFF_LEN as u64)),
                        )
                        .await?;
                    let (prefix, _) = peek_prefix(probe)
                        .await
                        .map_err(|e| ApiError::new(StatusCode::BAD_GATEWAY, e.to_string()))?;
                    prefix
                }
            };
            mime::sniff(&head).map_or(mime::OCTET_STREAM, |(_, ct)| ct)
        }
    };

    let body = match stream {
        Some(s) => StreamBody::new(s.map_ok(Frame::data)).boxed_unsync(),
        None => empty(),
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    set_common(&mut resp, &etag);
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(CONTENT_LENGTH, HeaderValue::from(len));
    if status == StatusCode::PARTIAL_CONTENT {
        h.insert(
            CONTENT_RANGE,
            header_value(&format!(
                "bytes {}-{}/{}",
                offset,
                offset + len - 1,
                obj.size
            )),
        );
    }
    Ok(resp)
}

/// A strong ETag from the id: the same id always names the same bytes.
pub fn etag_for(id: &FileId) -> String {
    let digest = Sha256::digest(id.to_string().as_bytes());
    let hex: String = digest[..ETAG_HASH_BYTES]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("\"{hex}\"")
}

fn set_common(resp: &mut Response<Body>, etag: &str) {
    let h = resp.headers_mut();
    h.insert(ETAG, header_value(etag));
    h.insert(CACHE_CONTROL, HeaderValue::from_static(CACHE_FOREVER));
    h.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    // User uploads must never be re-interpreted as something executable.
    h.insert(
        HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    );
}

/// Header values built here are ASCII by construction.
fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static(""))
}
