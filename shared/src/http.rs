//! The HTTP edge of every component: the JSON envelope, request helpers and
//! the `serve` wrapper that maps a handler's `Result` to a response.
//!
//! Request bodies are never buffered by the SDK: a component receives the
//! `IncomingRequest` stream, [`serve`] dispatches on the method and headers
//! first (a route that refuses the method never reads the body), and the
//! body is read only when the handler asks for it, with the route's cap
//! (`read_capped`). So memory stays bounded whatever a client sends, under
//! any host (real Spin caps nothing itself).
//!
//! HEAD is answered on every GET route: the handler runs as for GET and the
//! body is dropped, so status and headers are the GET's.

use std::cell::RefCell;

use serde::Serialize;
use serde::de::DeserializeOwned;
use spin_sdk::http::{
    IncomingRequest, Method, OutgoingResponse, Request, Response, ResponseOutparam,
};
use wasi::io::streams::StreamError;

use crate::config;
use crate::errno::{ApiError, ApiResult, Errno};

/// Largest JSON request body we read. The biggest legitimate body (a house
/// with a 512-character address and 23 facilities) is well under 8 KiB.
pub const MAX_JSON_BODY: usize = 64 * 1024;
/// A JSON body over [`MAX_JSON_BODY`] is still read and thrown away up to
/// this size, so an ordinary client hears the 413 instead of a reset
/// connection; past it we stop reading and the host closes the connection.
pub const MAX_DRAINED_JSON_BODY: usize = 1024 * 1024;
/// Bytes asked of the body stream per read (the host hands out what it has,
/// at most this).
const READ_CHUNK: usize = 64 * 1024;

const JSON: &str = "application/json; charset=utf-8";

/// The envelope every JSON answer uses: `errno` is a string, `data` is absent
/// when there is nothing to return. Public for the bench's native baseline,
/// which must answer byte for byte the same.
#[derive(Serialize)]
pub struct Envelope<'a, T: Serialize> {
    pub errno: &'static str,
    pub errmsg: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<T>,
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

/// Error statuses kept in the classic-clients mode, because any client
/// depends on them: a 405's method is wrong whatever the body says (`Allow`
/// names the right ones), and after a 413 the server has stopped reading
/// the body, so the client may see the connection close before any reply.
const KEPT_FOR_CLASSIC_CLIENTS: &[u16] = &[405, 413];

/// The status an error envelope is sent with: its own, or, with
/// `legacy_clients` on, 200 (classic clients read `errno` only from a 200:
/// jQuery's success callback), but for [`KEPT_FOR_CLASSIC_CLIENTS`]. A
/// 429 becomes a 200 too, still with its `Retry-After`: a classic
/// register page re-enables its "send SMS code" link only on a 200.
fn sent_status(err: &ApiError, legacy_clients: bool) -> u16 {
    if legacy_clients && !KEPT_FOR_CLASSIC_CLIENTS.contains(&err.status) {
        200
    } else {
        err.status
    }
}

/// Reads the `legacy_clients` mode before anything else runs, so that a
/// malformed value is a 4500 on every request (with its true status), not
/// only on the ones that end in an error. Every entry point of a
/// component calls this first; [`error_response`] then reads the value
/// again from the request's cache.
pub fn read_client_mode() -> ApiResult<()> {
    config::legacy_clients().map(drop)
}

/// The error as an envelope with its HTTP status ([`sent_status`]). The
/// cause of a fault goes to the log here, once per request.
pub fn error_response(err: &ApiError) -> Response {
    if let Some(cause) = err.cause() {
        crate::log_line!("{} ({}): {cause}", err.errno.code(), err.status);
    }
    // A malformed value is the 4500 `read_client_mode` answers, sent with
    // its true status: the mode is unknown.
    let legacy_clients = config::legacy_clients().unwrap_or(false);
    let status = sent_status(err, legacy_clients);
    let mut resp = envelope::<()>(status, err.errno, &err.message, None);
    if let Some(allow) = &err.allow {
        resp.set_header("allow", allow.clone());
    }
    if let Some(secs) = err.retry_after {
        resp.set_header("retry-after", secs.to_string());
    }
    resp
}

/// A route's handler for one method.
pub type Handler = fn(&ApiRequest) -> ApiResult<Response>;

/// The future of an [`AsyncHandler`].
pub type HandlerFuture = std::pin::Pin<Box<dyn std::future::Future<Output = ApiResult<Response>>>>;

/// A handler that awaits outbound calls; it owns the request.
pub type AsyncHandler = fn(ApiRequest) -> HandlerFuture;

/// The handler of `method` in a route's table: HEAD is served by the GET
/// handler; a method the table lacks is 405 with the `Allow` the table gives.
fn route<H: Copy>(table: &[(Method, H)], method: &Method) -> ApiResult<H> {
    table
        .iter()
        .find(|(m, _)| m == method)
        .map(|(_, h)| *h)
        .ok_or_else(|| {
            let methods: Vec<Method> = table.iter().map(|(m, _)| m.clone()).collect();
            ApiError::method_not_allowed(&methods)
        })
}

/// The route Spin matched for `req` (its `spin-component-route` header),
/// for a component serving more than one route. Spin adds its `spin-*`
/// headers after any a client sent, so the last value is Spin's.
pub fn matched_route(req: &IncomingRequest) -> String {
    req.headers()
        .get("spin-component-route")
        .pop()
        .and_then(|v| String::from_utf8(v).ok())
        .unwrap_or_default()
}

/// Serves a route from its method table, turning a handler's error into an
/// envelope: `serve(req, &[(Method::Get, detail), (Method::Put, edit)])`.
pub fn serve(req: IncomingRequest, table: &[(Method, Handler)]) -> Response {
    let req = ApiRequest::new(req);
    let resp = read_client_mode()
        .and_then(|()| route(table, req.method()))
        .and_then(|handler| handler(&req))
        .unwrap_or_else(|e| error_response(&e));
    answer(req.is_head, resp)
}

/// The async twin of [`serve`], for handlers that make outbound HTTP calls.
pub async fn serve_async(req: IncomingRequest, table: &[(Method, AsyncHandler)]) -> Response {
    let req = ApiRequest::new(req);
    let is_head = req.is_head;
    let resp = match read_client_mode().and_then(|()| route(table, req.method())) {
        Ok(handler) => handler(req).await,
        Err(e) => Err(e),
    };
    answer(is_head, resp.unwrap_or_else(|e| error_response(&e)))
}

/// Serves like [`serve`], but sends the answer through `response_out`
/// first and then, for a request that may have changed something (any
/// method but GET and HEAD), runs `after`: work that must neither delay nor
/// fail the answer, such as delivering notifications. Both hosts send the
/// answer when its body is finished, before the component returns
/// (`tests/tests/api/notifications.rs` checks it against a hanging gateway).
pub async fn serve_then<Fut: std::future::Future<Output = ()>>(
    req: IncomingRequest,
    response_out: ResponseOutparam,
    table: &[(Method, Handler)],
    after: impl FnOnce() -> Fut,
) {
    let may_write = !matches!(req.method(), Method::Get | Method::Head);
    respond(response_out, serve(req, table)).await;
    if may_write {
        after().await;
    }
}

/// The async twin of [`serve_then`], for handlers that make outbound HTTP
/// calls (Stripe) before answering.
pub async fn serve_async_then<Fut: std::future::Future<Output = ()>>(
    req: IncomingRequest,
    response_out: ResponseOutparam,
    table: &[(Method, AsyncHandler)],
    after: impl FnOnce() -> Fut,
) {
    let may_write = !matches!(req.method(), Method::Get | Method::Head);
    respond(response_out, serve_async(req, table).await).await;
    if may_write {
        after().await;
    }
}

/// Sends `response` through the host now (what `#[http_component]` does
/// with a returned response): the body is written and finished, so the
/// component can go on working (read the rest of a request body, deliver
/// notifications) after the client has its answer.
pub async fn respond(response_out: ResponseOutparam, mut response: Response) {
    let body = std::mem::take(response.body_mut());
    match OutgoingResponse::try_from(response) {
        Ok(outgoing) => {
            if let Err(e) = response_out.set_with_body(outgoing, body).await {
                crate::log_line!("answer not sent: {e}");
            }
        }
        Err(e) => crate::log_line!("answer not built: {e}"),
    }
}

/// The response as sent: without its body when the client asked with HEAD.
fn answer(is_head: bool, mut resp: Response) -> Response {
    if is_head {
        resp.body_mut().clear();
    }
    resp
}

/// A request with the parsing helpers handlers need. Its body stays in the
/// host until a handler reads it ([`ApiRequest::json`], or an upload).
pub struct ApiRequest {
    /// Method, URI and headers; the body is empty until an upload sets it.
    head: Request,
    /// The method handlers see: GET for a HEAD request.
    method: Method,
    /// Whether the client asked with HEAD (the answer then has no body).
    is_head: bool,
    /// The body stream, until something reads it.
    unread: RefCell<Option<IncomingRequest>>,
}

impl ApiRequest {
    /// Takes the method, URI and headers of `req`; its body is left unread.
    pub fn new(req: IncomingRequest) -> ApiRequest {
        let head = Request::builder()
            .method(req.method())
            .uri(req.uri())
            .headers(req.headers().entries())
            .build();
        let is_head = *head.method() == Method::Head;
        let method = if is_head {
            Method::Get
        } else {
            head.method().clone()
        };
        ApiRequest {
            head,
            method,
            is_head,
            unread: RefCell::new(Some(req)),
        }
    }

    /// The request's method; HEAD reads as GET (see [`serve`]).
    pub fn method(&self) -> &Method {
        &self.method
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.header(name).and_then(|v| v.as_str())
    }

    /// Reads the body once: `Ok(Some(bytes))` when it is at most `keep`
    /// bytes, `Ok(None)` when it is longer (read and dropped up to `drain`,
    /// then left). Only one read gets the body; later ones see it empty.
    pub fn read_body(&self, keep: usize, drain: usize) -> ApiResult<Option<Vec<u8>>> {
        match self.unread.borrow_mut().take() {
            Some(req) => read_capped(req, keep, drain),
            None => Ok(Some(Vec::new())),
        }
    }

    /// Replaces the (read) body that [`body`](Self::body) returns.
    pub fn set_body(&mut self, body: Vec<u8>) {
        *self.head.body_mut() = body;
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
        query_value(self.head.query(), name).filter(|v| !v.is_empty())
    }

    /// The body an upload read and [set](Self::set_body); empty otherwise.
    pub fn body(&self) -> &[u8] {
        self.head.body()
    }

    /// Reads and parses a JSON body of at most [`MAX_JSON_BODY`] bytes into
    /// `T`; a longer one is 413, every other failure a 4103 that says why.
    pub fn json<T: DeserializeOwned>(&self) -> ApiResult<T> {
        if self
            .declared_length()
            .is_some_and(|n| n > MAX_JSON_BODY as u64)
        {
            // Said up front: no need to read a byte of it.
            return Err(json_too_large());
        }
        let body = self
            .read_body(MAX_JSON_BODY, MAX_DRAINED_JSON_BODY)?
            .ok_or_else(json_too_large)?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::param("缺少请求体"));
        }
        serde_json::from_slice(&body).map_err(|e| ApiError::param(format!("请求体格式错误: {e}")))
    }

    /// The body length the client declared (`Content-Length`), if any.
    pub fn declared_length(&self) -> Option<u64> {
        self.header("content-length")?.trim().parse().ok()
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

fn json_too_large() -> ApiError {
    ApiError::param("请求体过大").with_status(413)
}

/// Reads `req`'s body: the bytes when there are at most `keep`; `None` when
/// there are more, after reading and dropping them up to `drain` bytes in
/// all (never more: a body still going after `drain` bytes counts as longer
/// and is left unread; never holding more than `keep` plus one chunk).
/// Blocking reads: a component instance serves one request, so there is
/// nothing else to run.
fn read_capped(req: IncomingRequest, keep: usize, drain: usize) -> ApiResult<Option<Vec<u8>>> {
    let read_error =
        |what: String| ApiError::msg(Errno::InvalidImage, format!("读取请求体失败: {what}"));
    let body = req
        .consume()
        .map_err(|()| read_error("body already taken".into()))?;
    let stream = body
        .stream()
        .map_err(|()| read_error("no body stream".into()))?;
    // Room for the whole cap up front: growing by doubling would hold the
    // old and the new buffer at once (about 2.5 times the cap at the peak),
    // while reserved and unwritten pages cost the host nothing.
    let mut kept = Vec::with_capacity(keep);
    let mut read = 0usize;
    while read < drain {
        let want = (drain - read).min(READ_CHUNK);
        match stream.blocking_read(want as u64) {
            Ok(chunk) => {
                read += chunk.len();
                if read <= keep {
                    kept.extend_from_slice(&chunk);
                } else {
                    kept = Vec::new();
                }
            }
            Err(StreamError::Closed) => return Ok((read <= keep).then_some(kept)),
            Err(StreamError::LastOperationFailed(e)) => {
                return Err(read_error(e.to_debug_string()));
            }
        }
    }
    Ok(None)
}

/// A positive decimal id with no sign and no spaces, up to `i64::MAX` (the
/// ids' column type): `parse` refuses what does not fit, whatever its length.
pub fn parse_id(raw: &str) -> Option<i64> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
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
    fn classic_clients_get_errors_as_200_but_a_405_or_a_413() {
        let cases = [
            (ApiError::not_logged_in(), 401),
            (ApiError::conflict("taken"), 409),
            (ApiError::too_many("slow down", 30), 429),
            (ApiError::internal("boom"), 500),
            (ApiError::msg(Errno::SmsFailed, "gateway"), 502),
            (json_too_large(), 413),
            (ApiError::method_not_allowed(&[Method::Get]), 405),
        ];
        for (err, status) in cases {
            assert_eq!(sent_status(&err, false), status, "{err}");
            let classic = if matches!(status, 405 | 413) {
                status
            } else {
                200
            };
            assert_eq!(sent_status(&err, true), classic, "{err}");
        }
    }

    #[test]
    fn ids_are_strict() {
        assert_eq!(parse_id("42"), Some(42));
        assert_eq!(parse_id("0042"), Some(42));
        assert_eq!(parse_id("9223372036854775807"), Some(i64::MAX));
        for bad in [
            "",
            "0",
            "000",
            "-1",
            "+1",
            "1e3",
            "abc",
            "9223372036854775808",
            "99999999999999999999999",
            "4 2",
        ] {
            assert_eq!(parse_id(bad), None, "{bad}");
        }
    }
}
