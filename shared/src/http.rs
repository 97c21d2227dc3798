//! The HTTP edge of every component: the JSON envelope, request helpers and
//! the `serve` wrapper that maps a handler's `Result` to a response.

use serde::Serialize;
use serde::de::DeserializeOwned;
use spin_sdk::http::{Method, Request, Response};

use crate::errno::{ApiError, ApiResult, Errno};

/// Largest JSON request body we read. The biggest legitimate body (a house
/// with a 512-character address and 23 facilities) is well under 8 KiB.
pub const MAX_JSON_BODY: usize = 64 * 1024;

const JSON: &str = "application/json; charset=utf-8";

/// The envelope every JSON answer uses: `errno` is a string, `data` is absent
/// when there is nothing to return.
#[derive(Serialize)]
struct Envelope<'a, T: Serialize> {
    errno: &'static str,
    errmsg: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<T>,
}

fn envelope<T: Serialize>(status: u16, errno: Errno, errmsg: &str, data: Option<T>) -> Response {
    let body = serde_json::to_vec(&Envelope {
        errno: errno.code(),
        errmsg,
        data,
    })
    .expect("envelope serialises");
    Response::builder()
        .status(status)
        .header("content-type", JSON)
        .header("cache-control", "no-store")
        .body(body)
        .build()
}

/// 200 with `data`.
pub fn ok<T: Serialize>(data: T) -> Response {
    envelope(200, Errno::Ok, Errno::Ok.message(), Some(data))
}

/// 200 with no `data`.
pub fn ok_empty() -> Response {
    envelope::<()>(200, Errno::Ok, Errno::Ok.message(), None)
}

/// The error as an envelope with its HTTP status.
pub fn error_response(err: &ApiError) -> Response {
    let mut resp = envelope::<()>(err.status, err.errno, &err.message, None);
    if err.status == 405 {
        resp.set_header("allow", "GET, POST, PUT, DELETE");
    }
    if let Some(secs) = err.retry_after {
        resp.set_header("retry-after", secs.to_string());
    }
    resp
}

/// Runs a synchronous handler and turns its error into an envelope.
pub fn serve(req: Request, handler: impl FnOnce(&ApiRequest) -> ApiResult<Response>) -> Response {
    let req = ApiRequest(req);
    handler(&req).unwrap_or_else(|e| error_response(&e))
}

/// The async twin of [`serve`], for handlers that make outbound HTTP calls.
pub async fn serve_async<F, Fut>(req: Request, handler: F) -> Response
where
    F: FnOnce(ApiRequest) -> Fut,
    Fut: std::future::Future<Output = ApiResult<Response>>,
{
    handler(ApiRequest(req))
        .await
        .unwrap_or_else(|e| error_response(&e))
}

/// A request with the parsing helpers handlers need.
pub struct ApiRequest(pub Request);

impl ApiRequest {
    pub fn method(&self) -> &Method {
        self.0.method()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.0.header(name).and_then(|v| v.as_str())
    }

    /// A `:name` route segment, from the `spin-path-match-<name>` header Spin
    /// sets (percent-encoded as it arrived; our params are ids and uuids).
    pub fn path_param(&self, name: &str) -> ApiResult<&str> {
        self.header(&format!("spin-path-match-{name}"))
            .filter(|v| !v.is_empty())
            .ok_or_else(|| ApiError::param(format!("缺少路径参数 {name}")))
    }

    /// A `:id` segment that must be a positive integer id; anything else is 4103.
    pub fn path_id(&self, name: &str) -> ApiResult<i64> {
        let raw = self.path_param(name)?;
        parse_id(raw).ok_or_else(|| ApiError::param(format!("无效的编号: {raw}")))
    }

    /// The trailing-wildcard remainder of the path (`spin-path-info`).
    pub fn path_info(&self) -> &str {
        self.header("spin-path-info").unwrap_or("")
    }

    /// A query-string value, percent-decoded; `None` when absent or empty.
    pub fn query(&self, name: &str) -> Option<String> {
        query_value(self.0.query(), name).filter(|v| !v.is_empty())
    }

    pub fn body(&self) -> &[u8] {
        self.0.body()
    }

    /// Parses a bounded JSON body into `T`; every failure is a 4103 that says why.
    pub fn json<T: DeserializeOwned>(&self) -> ApiResult<T> {
        let body = self.0.body();
        if body.len() > MAX_JSON_BODY {
            return Err(ApiError::param("请求体过大").with_status(413));
        }
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::param("缺少请求体"));
        }
        serde_json::from_slice(body).map_err(|e| ApiError::param(format!("请求体格式错误: {e}")))
    }

    /// The value of one cookie from the `Cookie` header.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        let header = self.header("cookie")?;
        header.split(';').find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == name).then_some(v)
        })
    }

    /// Whether the client reached us over https (directly, or through a proxy
    /// that says so), which decides the cookie's `Secure` flag.
    pub fn is_https(&self) -> bool {
        self.header("spin-full-url")
            .is_some_and(|u| u.starts_with("https://"))
            || self
                .header("x-forwarded-proto")
                .is_some_and(|p| p.eq_ignore_ascii_case("https"))
    }
}

/// A positive decimal id with no sign, no leading `+`, at most 18 digits.
pub fn parse_id(raw: &str) -> Option<i64> {
    if raw.is_empty() || raw.len() > 18 || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse().ok().filter(|&v| v > 0)
}

/// Finds `name` in a raw query string and percent-decodes its value.
pub fn query_value(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k) == name).then(|| percent_decode(v))
    })
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, `%XX` a byte;
/// malformed escapes are kept literally and invalid UTF-8 replaced.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_decoded() {
        assert_eq!(
            query_value("aid=1&sd=2026-01-02", "sd").as_deref(),
            Some("2026-01-02")
        );
        assert_eq!(
            query_value("text=a%20b+c", "text").as_deref(),
            Some("a b c")
        );
        assert_eq!(query_value("x=%zz%4", "x").as_deref(), Some("%zz%4"));
        assert_eq!(query_value("flag", "flag").as_deref(), Some(""));
        assert_eq!(query_value("a=1", "b"), None);
    }

    #[test]
    fn ids_are_strict() {
        assert_eq!(parse_id("42"), Some(42));
        for bad in [
            "",
            "0",
            "-1",
            "+1",
            "1e3",
            "abc",
            "9999999999999999999",
            "4 2",
        ] {
            assert_eq!(parse_id(bad), None, "{bad}");
        }
    }
}
