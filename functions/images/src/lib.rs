//! GET /images/<file id>: an image from the image store, streamed through
//! from fdfs-proxy. This is the same-origin image route for local
//! development and small deployments; production can point `image_base_url`
//! at a CDN or FastDFS's own nginx instead.
//!
//! - The file id (`spin-path-info` without its leading `/`) must match the
//!   FastDFS grammar ([`valid_file_id`]); anything else is a 404 without a call
//!   to the proxy (a malformed id names no file).
//! - `If-None-Match`, `If-Modified-Since`, `Range` and `If-Range` are forwarded,
//!   so the proxy answers 304 and 206 itself; its `Content-Type`, `ETag`,
//!   `Cache-Control`, `Content-Length`, `Content-Range`, `Accept-Ranges` and
//!   `Last-Modified` are passed back.
//! - The body is streamed chunk by chunk, never held whole.
//! - Missing → 404 (4002), proxy down/failing → 502 (4301): envelopes, since
//!   those are API errors; success is the raw bytes.
//! - HEAD is answered like GET without the body (and without
//!   `Content-Length`: a wasi-http response that declares a length must
//!   send that many bytes, under Spin and edge-host alike).

use futures::{SinkExt, StreamExt};
use ihome_shared::images::store::{ImageStore, StoreError, valid_file_id};
use ihome_shared::{ApiError, Errno, http};
use spin_sdk::http::{
    Fields, IncomingRequest, IncomingResponse, Method, OutgoingResponse, Response, ResponseOutparam,
};
use spin_sdk::http_component;

/// Request headers the proxy needs to answer conditional and range requests.
const FORWARDED_REQUEST_HEADERS: &[&str] =
    &["if-none-match", "if-modified-since", "range", "if-range"];
/// Response headers passed back to the client.
const PASSED_RESPONSE_HEADERS: &[&str] = &[
    "content-type",
    "content-length",
    "etag",
    "cache-control",
    "last-modified",
    "accept-ranges",
    "content-range",
];
/// Proxy statuses passed through as they are (with the proxy's body).
const PASSED_STATUSES: &[u16] = &[200, 206, 304, 416];

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    let head_only = req.method() == Method::Head;
    match fetch(&req).await {
        Ok(resp) => stream_back(resp, out, head_only).await,
        Err(e) => {
            let mut resp = http::error_response(&e);
            if head_only {
                resp.body_mut().clear();
            }
            send_whole(out, resp).await
        }
    }
}

/// A request header; the last value wins, because Spin appends its own
/// `spin-*` headers after any the client sent (as spin-sdk's `Request` does).
fn header(req: &IncomingRequest, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .pop()
        .and_then(|v| String::from_utf8(v).ok())
}

/// Validates the request and asks the proxy; only a passed-through status
/// comes back as `Ok`.
async fn fetch(req: &IncomingRequest) -> Result<IncomingResponse, ApiError> {
    http::read_client_mode()?;
    if !matches!(req.method(), Method::Get | Method::Head) {
        return Err(ApiError::method_not_allowed(&[Method::Get]));
    }
    let path_info = header(req, "spin-path-info").unwrap_or_default();
    let file_id = path_info.strip_prefix('/').unwrap_or(&path_info);
    if !valid_file_id(file_id) {
        return Err(ApiError::not_found("图片不存在"));
    }
    let forwarded: Vec<(&str, String)> = FORWARDED_REQUEST_HEADERS
        .iter()
        .filter_map(|&name| header(req, name).map(|v| (name, v)))
        .collect();
    let store = ImageStore::from_config()?;
    let resp = store.get(file_id, &forwarded).await?;
    match resp.status() {
        s if PASSED_STATUSES.contains(&s) => Ok(resp),
        404 | 400 => Err(ApiError::not_found("图片不存在")),
        s => Err(StoreError::Status(s, format!("reading {file_id}")).into()),
    }
}

/// Sends the proxy's status, the passed headers and (unless `head_only`)
/// its body, chunk by chunk.
async fn stream_back(resp: IncomingResponse, out: ResponseOutparam, head_only: bool) {
    let upstream = resp.headers();
    let status = resp.status();
    let mut headers: Vec<(String, Vec<u8>)> = PASSED_RESPONSE_HEADERS
        .iter()
        // A 304 or a HEAD answer has no body; a length would describe one
        // the host will not send.
        .filter(|&&name| !((status == 304 || head_only) && name == "content-length"))
        .flat_map(|&name| {
            upstream
                .get(name)
                .into_iter()
                .map(move |v| (name.to_string(), v))
        })
        .collect();
    // User uploads served from our own origin: never let a browser reinterpret them.
    headers.push(("x-content-type-options".into(), b"nosniff".to_vec()));
    let outgoing = match Fields::from_list(&headers) {
        Ok(fields) => OutgoingResponse::new(fields),
        Err(e) => {
            let err = ApiError::msg(Errno::UpstreamDown, "图片存储服务返回了无效的响应头")
                .caused_by(format!("upstream headers: {e:?}"));
            return send_whole(out, http::error_response(&err)).await;
        }
    };
    let _ = outgoing.set_status_code(status);
    if head_only {
        if let Err(e) = out.set_with_body(outgoing, Vec::new()).await {
            ihome_shared::log_line!("images: could not answer HEAD: {e:?}");
        }
        return;
    }
    let mut sink = outgoing.take_body();
    out.set(outgoing);
    let mut body = resp.take_body_stream();
    while let Some(chunk) = body.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(e) => {
                // Headers are gone already: the client sees a short body.
                ihome_shared::log_line!("images: upstream body broke: {e:?}");
                return;
            }
        };
        if let Err(e) = sink.send(chunk).await {
            ihome_shared::log_line!("images: client went away: {e:?}");
            return;
        }
    }
}

/// Sends a buffered response (the error envelopes).
async fn send_whole(out: ResponseOutparam, resp: Response) {
    let headers: Vec<(String, Vec<u8>)> = resp
        .headers()
        .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
        .collect();
    let fields = Fields::from_list(&headers).unwrap_or_else(|_| Fields::new());
    let outgoing = OutgoingResponse::new(fields);
    let _ = outgoing.set_status_code(*resp.status());
    if let Err(e) = out.set_with_body(outgoing, resp.into_body()).await {
        ihome_shared::log_line!("images: could not send the error: {e:?}");
    }
}
