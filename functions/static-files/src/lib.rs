//! GET/HEAD `/...`: serves the files of `static/`, which spin.toml mounts
//! read-only at the component's `/` (Spin's usual static file server is a
//! download that cannot be fetched here, so this is our own, small one).
//!
//! - `/` and directories map to `index.html`;
//! - the path is percent-decoded, then refused if any segment is `..`, `.`,
//!   empty-with-backslash or contains NUL — the preopen already confines
//!   reads to the mount, this keeps the errors clear;
//! - `ETag` is a content hash (Spin copies assets at start-up, so mtimes are
//!   meaningless) and `If-None-Match` answers 304;
//! - pages are `no-cache` (always revalidated, so a deploy shows at once),
//!   which with the ETag costs one small 304 per page view;
//! - unknown paths under `/api/` are API clients' mistakes: a JSON envelope
//!   (4002) instead of the HTML 404 page.

use ihome_shared::http::{self, ApiRequest, percent_decode};
use ihome_shared::{ApiError, ApiResult};
use sha2::{Digest, Sha256};
use spin_sdk::http::{IncomingRequest, Method, Response};
use spin_sdk::http_component;

/// Where spin.toml mounts `static/` inside the component.
const MOUNT: &str = "/";
/// Page shown for unknown paths, if present.
const NOT_FOUND_PAGE: &str = "404.html";
/// Files larger than this are not served (static/ holds pages, not media).
const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// The request stream, not the SDK's buffered `Request`: nothing here reads
/// a body, and a POST of gigabytes to a page must not be buffered for a
/// 405. HEAD is answered by the GET handler without the body.
#[http_component]
fn handle(req: IncomingRequest) -> Response {
    http::serve(req, &[(Method::Get, page)])
}

fn page(req: &ApiRequest) -> ApiResult<Response> {
    let raw_path = match req.path_info() {
        "" => "/",
        path => path,
    };
    if raw_path.starts_with("/api/") {
        return Err(ApiError::not_found("接口不存在"));
    }
    Ok(serve_path(raw_path, req.header("if-none-match")))
}

fn serve_path(raw_path: &str, if_none_match: Option<&str>) -> Response {
    let Some(rel) = safe_relative_path(raw_path) else {
        return plain(400, "bad path");
    };
    match read_file(&rel) {
        Some(bytes) => file_response(&rel, bytes, if_none_match, 200),
        None => match read_file(NOT_FOUND_PAGE) {
            Some(bytes) => file_response(NOT_FOUND_PAGE, bytes, None, 404),
            None => plain(404, "not found"),
        },
    }
}

/// The request path as a path relative to the mount, or `None` if it tries
/// to leave it. `/` and `/dir/` name the directory's `index.html`.
fn safe_relative_path(raw: &str) -> Option<String> {
    let path = percent_decode(raw.split('?').next().unwrap_or(""));
    if path.contains('\0') || path.contains('\\') {
        return None;
    }
    let mut parts = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" => continue,
            "." | ".." => return None,
            s => parts.push(s),
        }
    }
    let mut rel = parts.join("/");
    if rel.is_empty() || path.ends_with('/') {
        if !rel.is_empty() {
            rel.push('/');
        }
        rel.push_str("index.html");
    }
    Some(rel)
}

fn read_file(rel: &str) -> Option<Vec<u8>> {
    let full = format!("{MOUNT}{rel}");
    let meta = std::fs::metadata(&full).ok()?;
    if meta.is_dir() {
        return read_file(&format!("{rel}/index.html"));
    }
    if meta.len() > MAX_FILE_BYTES {
        return None;
    }
    std::fs::read(&full).ok()
}

fn file_response(rel: &str, bytes: Vec<u8>, if_none_match: Option<&str>, status: u16) -> Response {
    let digest = Sha256::digest(&bytes);
    let etag: String = format!(
        "\"{}\"",
        digest[..12]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let matches =
        if_none_match.is_some_and(|h| h.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut builder = Response::builder();
    builder
        .header("content-type", content_type(rel))
        .header("etag", etag.as_str())
        .header("cache-control", "no-cache")
        .header("x-content-type-options", "nosniff");
    if matches && status == 200 {
        return builder.status(304).body(Vec::new()).build();
    }
    builder.status(status).body(bytes).build()
}

fn content_type(rel: &str) -> &'static str {
    let ext = rel
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        "webmanifest" => "application/manifest+json",
        _ => "application/octet-stream",
    }
}

fn plain(status: u16, text: &str) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=utf-8")
        .body(text.as_bytes().to_vec())
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_the_mount() {
        assert_eq!(safe_relative_path("/").as_deref(), Some("index.html"));
        assert_eq!(safe_relative_path("").as_deref(), Some("index.html"));
        assert_eq!(
            safe_relative_path("/css/site.css").as_deref(),
            Some("css/site.css")
        );
        assert_eq!(safe_relative_path("/js/").as_deref(), Some("js/index.html"));
        assert_eq!(
            safe_relative_path("/a%20b.html").as_deref(),
            Some("a b.html")
        );
        for bad in [
            "/../etc/passwd",
            "/%2e%2e/x",
            "/a/../../b",
            "/a\\b",
            "/a%00b",
            "/./x",
        ] {
            assert_eq!(safe_relative_path(bad), None, "{bad}");
        }
    }

    #[test]
    fn content_types() {
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("js/app.JS"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("LICENSE"), "application/octet-stream");
    }
}
