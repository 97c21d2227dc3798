//! The image store, reached over HTTP through `fdfs-proxy` (the FastDFS
//! sidecar) at the origin in the Spin variable `fdfs_proxy_origin`:
//!
//! - `POST /files?ext=jpg` raw body → `{"file_id","size"}`
//! - `GET /files/<file_id>` → the bytes (ETag, `If-None-Match` → 304, `Range` → 206)
//! - `DELETE /files/<file_id>` → 204, or 404 when missing
//!
//! Requests carry explicit timeouts (wasi-http request options), so a hung
//! proxy costs a bounded wait and becomes 4301, never a request stuck until
//! the host's default of 600 s. Every call is made by one request's own
//! component instance, so waiting for the response head blocks nothing else.
//!
//! [`valid_file_id`] is the FastDFS file id grammar; ids that fail it never
//! reach the proxy.
//!
//! Files the app stops referencing are deleted through the
//! `pending_image_deletes` table (migration 5), so an outage of the store
//! never leaves an orphan behind unnoticed: [`queue_delete`] records the id
//! (inside the transaction that drops the reference, where there is one),
//! [`ImageStore::delete_queued`] removes the row only once the proxy
//! confirms (204, or 404: already gone), and [`ImageStore::retry_pending`]
//! retries the oldest rows after later image requests. The proxy answers
//! 404 only for a file that cannot exist, and 503/502 when it cannot tell.

use futures::{SinkExt, StreamExt};
use spin_sdk::http::{Fields, IncomingResponse, Method, OutgoingRequest, Scheme};
use spin_sdk::wit::wasi::http0_2_0::outgoing_handler;
use spin_sdk::wit::wasi::http0_2_0::types::RequestOptions;

use crate::config;
use crate::db::{self, Db, RowExt};
use crate::errno::{ApiError, ApiResult, Errno};
use crate::upload::ImageKind;

/// Variable naming the proxy, and its default (spin.toml has the same).
pub const ORIGIN_VARIABLE: &str = "fdfs_proxy_origin";
pub const DEFAULT_ORIGIN: &str = "http://127.0.0.1:8090";

const NANOS_PER_MILLI: u64 = 1_000_000;
/// Connecting to the proxy (a local sidecar: should take well under a second).
pub const CONNECT_TIMEOUT_MS: u64 = 2_000;
/// From sending an upload to the response head: covers streaming up to 10 MiB
/// and the proxy's own round trip to a FastDFS storage server.
pub const UPLOAD_RESPONSE_TIMEOUT_MS: u64 = 30_000;
/// From sending a read or delete to the response head.
pub const RESPONSE_TIMEOUT_MS: u64 = 10_000;
/// Longest pause between two chunks of a response body.
pub const BETWEEN_BYTES_TIMEOUT_MS: u64 = 10_000;
/// Largest JSON answer we read from the proxy (`{"file_id","size"}` or `{"error"}`).
pub const MAX_JSON_RESPONSE: usize = 16 * 1024;
/// Queued deletions one request retries at most, oldest first: enough to
/// drain a backlog over a few uploads, few enough that a request pays at
/// most this many round trips (each bounded by [`RESPONSE_TIMEOUT_MS`],
/// and a failure ends the batch).
pub const RETRY_BATCH: i64 = 3;
/// FastDFS limits: group names are at most 16 characters, remote file names
/// shorter than 128.
pub const MAX_GROUP_LEN: usize = 16;
pub const MAX_REMOTE_NAME_LEN: usize = 127;

/// Whether `id` is a FastDFS file id we would store or serve:
/// `group/Mxx/HH/HH/name` with a group of 1-16 ASCII letters or digits, two hex
/// digits after `M` and in each sub-directory, and a name of
/// `[A-Za-z0-9_.-]` that is not `.`-only and contains no `..`. Nothing else
/// (no `%`, `/` past the sub-directories, backslashes) can pass, so a valid id
/// is also a safe path.
pub fn valid_file_id(id: &str) -> bool {
    let Some((group, remote)) = id.split_once('/') else {
        return false;
    };
    if group.is_empty()
        || group.len() > MAX_GROUP_LEN
        || !group.bytes().all(|b| b.is_ascii_alphanumeric())
        || remote.len() > MAX_REMOTE_NAME_LEN
    {
        return false;
    }
    let mut segments = remote.split('/');
    let (Some(store), Some(d1), Some(d2), Some(name), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return false;
    };
    let two_hex = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_hexdigit());
    store.len() == 3
        && store.starts_with('M')
        && two_hex(&store[1..])
        && two_hex(d1)
        && two_hex(d2)
        && !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
        && !name.contains("..")
        && name.bytes().any(|b| b != b'.')
}

/// Why a call to the proxy failed.
#[derive(Debug)]
pub enum StoreError {
    /// Could not reach it, it timed out, or the transfer broke.
    Unavailable(String),
    /// It answered with this unexpected status (and its error message).
    Status(u16, String),
    /// It answered 200 with something that is not a valid answer.
    BadAnswer(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Unavailable(e) => write!(f, "image store unreachable: {e}"),
            StoreError::Status(s, e) => write!(f, "image store answered {s}: {e}"),
            StoreError::BadAnswer(e) => write!(f, "image store answer not understood: {e}"),
        }
    }
}

impl From<StoreError> for ApiError {
    /// 4301 (HTTP 502); the cause goes to the log only.
    fn from(e: StoreError) -> Self {
        eprintln!("image store error: {e}");
        ApiError::msg(Errno::ThirdErr, "图片存储服务暂不可用，请稍后再试")
    }
}

/// The proxy's origin, split for wasi-http.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageStore {
    https: bool,
    authority: String,
}

impl ImageStore {
    /// The store configured by `fdfs_proxy_origin`.
    pub fn from_config() -> Result<ImageStore, ApiError> {
        let origin = config::get_or(ORIGIN_VARIABLE, DEFAULT_ORIGIN);
        ImageStore::parse(&origin).ok_or_else(|| {
            ApiError::internal(format!("{ORIGIN_VARIABLE} is not an origin: {origin}"))
        })
    }

    /// `http://host:port` or `https://host[:port]`; a trailing `/` is allowed,
    /// a path is not.
    pub fn parse(origin: &str) -> Option<ImageStore> {
        let origin = origin.trim().trim_end_matches('/');
        let (https, authority) = if let Some(a) = origin.strip_prefix("http://") {
            (false, a)
        } else if let Some(a) = origin.strip_prefix("https://") {
            (true, a)
        } else {
            return None;
        };
        if authority.is_empty() || authority.contains(['/', '?', '#', '@', ' ']) {
            return None;
        }
        Some(ImageStore {
            https,
            authority: authority.to_string(),
        })
    }

    /// Stores an image; returns its file id.
    pub async fn upload(&self, bytes: &[u8], kind: ImageKind) -> Result<String, StoreError> {
        let path = format!("/files?ext={}", kind.ext());
        let headers = [
            ("content-type", kind.content_type().to_string()),
            ("content-length", bytes.len().to_string()),
        ];
        let resp = self
            .send(
                Method::Post,
                &path,
                &headers,
                Some(bytes),
                UPLOAD_RESPONSE_TIMEOUT_MS,
            )
            .await?;
        let status = resp.status();
        let body = read_small(resp).await?;
        if status != 200 && status != 201 {
            return Err(StoreError::Status(status, error_message(&body)));
        }
        #[derive(serde::Deserialize)]
        struct Stored {
            file_id: String,
        }
        let stored: Stored = serde_json::from_slice(&body)
            .map_err(|e| StoreError::BadAnswer(format!("upload answer: {e}")))?;
        if !valid_file_id(&stored.file_id) {
            return Err(StoreError::BadAnswer(format!(
                "invalid file id {:?}",
                stored.file_id
            )));
        }
        Ok(stored.file_id)
    }

    /// Deletes a file; `Ok(false)` when it was already gone.
    pub async fn delete(&self, file_id: &str) -> Result<bool, StoreError> {
        if !valid_file_id(file_id) {
            return Err(StoreError::BadAnswer(format!(
                "invalid file id {file_id:?}"
            )));
        }
        let resp = self
            .send(
                Method::Delete,
                &format!("/files/{file_id}"),
                &[],
                None,
                RESPONSE_TIMEOUT_MS,
            )
            .await?;
        let status = resp.status();
        let body = read_small(resp).await?;
        match status {
            200 | 204 => Ok(true),
            404 => Ok(false),
            _ => Err(StoreError::Status(status, error_message(&body))),
        }
    }

    /// Deletes a file already recorded with [`queue_delete`] and drops the
    /// record once the store confirms (deleted, or already gone). When the
    /// store cannot confirm, the record stays for [`retry_pending`]
    /// (`Self::retry_pending`). Never fails the request; returns whether
    /// the file is confirmed gone.
    pub async fn delete_queued(&self, db: &Db, file_id: &str) -> bool {
        match self.delete(file_id).await {
            Ok(existed) => {
                if !existed {
                    eprintln!("image store: {file_id} was already gone");
                }
                if let Err(e) = db.execute(
                    "DELETE FROM pending_image_deletes WHERE file_id = ?",
                    &[db::text(file_id)],
                ) {
                    // Harmless: the next retry finds it gone (404) and tries again.
                    eprintln!("image store: {file_id} deleted but still queued: {e}");
                }
                true
            }
            Err(e) => {
                eprintln!("image store: could not delete {file_id}, kept for a retry: {e}");
                if let Err(e) = db.execute(
                    "UPDATE pending_image_deletes SET attempts = attempts + 1 WHERE file_id = ?",
                    &[db::text(file_id)],
                ) {
                    eprintln!("image store: could not count the attempt on {file_id}: {e}");
                }
                false
            }
        }
    }

    /// A clean-up outside any transaction (e.g. a file uploaded for a
    /// write that then failed): queue it, then try to delete it. If even the
    /// queue cannot be written (the database is what failed) the deletion is
    /// still tried, and a failure of both is logged.
    pub async fn delete_or_queue(&self, db: &Db, file_id: &str, why: &str) {
        match queue_delete(db, file_id, why) {
            Ok(()) => {
                self.delete_queued(db, file_id).await;
            }
            Err(queue_error) => match self.delete(file_id).await {
                Ok(_) => {}
                Err(e) => eprintln!(
                    "image store: orphan {file_id} ({why}): not deleted ({e}) and not queued ({queue_error})"
                ),
            },
        }
    }

    /// Retries up to [`RETRY_BATCH`] queued deletions, oldest first, and
    /// stops at the first the store cannot confirm (it is probably still
    /// down; the rest wait for a later request). Called after an image
    /// request has done its own work, so its answer is never held up by
    /// more than this bounded batch.
    pub async fn retry_pending(&self, db: &Db) {
        let rows = match db.query(
            "SELECT file_id FROM pending_image_deletes ORDER BY queued_at, file_id LIMIT ?",
            &[db::int(RETRY_BATCH)],
        ) {
            Ok(rows) => rows,
            Err(e) => {
                eprintln!("image store: cannot read the pending deletions: {e}");
                return;
            }
        };
        for row in rows {
            let Ok(file_id) = row.text(0) else { continue };
            if !self.delete_queued(db, &file_id).await {
                break;
            }
        }
    }

    /// `GET /files/<file_id>` with the given request headers (conditional and
    /// range headers); the caller streams the body.
    pub async fn get(
        &self,
        file_id: &str,
        headers: &[(&str, String)],
    ) -> Result<IncomingResponse, StoreError> {
        if !valid_file_id(file_id) {
            return Err(StoreError::BadAnswer(format!(
                "invalid file id {file_id:?}"
            )));
        }
        self.send(
            Method::Get,
            &format!("/files/{file_id}"),
            headers,
            None,
            RESPONSE_TIMEOUT_MS,
        )
        .await
    }

    async fn send(
        &self,
        method: Method,
        path_with_query: &str,
        headers: &[(&str, String)],
        body: Option<&[u8]>,
        response_timeout_ms: u64,
    ) -> Result<IncomingResponse, StoreError> {
        let list: Vec<(String, Vec<u8>)> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect();
        let fields = Fields::from_list(&list)
            .map_err(|e| StoreError::Unavailable(format!("request headers: {e:?}")))?;
        let request = OutgoingRequest::new(fields);
        let scheme = if self.https {
            Scheme::Https
        } else {
            Scheme::Http
        };
        let malformed = |what: &str| StoreError::Unavailable(format!("cannot set {what}"));
        request
            .set_method(&method)
            .map_err(|()| malformed("method"))?;
        request
            .set_scheme(Some(&scheme))
            .map_err(|()| malformed("scheme"))?;
        request
            .set_authority(Some(&self.authority))
            .map_err(|()| malformed("authority"))?;
        request
            .set_path_with_query(Some(path_with_query))
            .map_err(|()| malformed("path"))?;

        let options = RequestOptions::new();
        // Hosts that do not support a timeout say so; the others still apply.
        let _ = options.set_connect_timeout(Some(CONNECT_TIMEOUT_MS * NANOS_PER_MILLI));
        let _ = options.set_first_byte_timeout(Some(response_timeout_ms * NANOS_PER_MILLI));
        let _ = options.set_between_bytes_timeout(Some(BETWEEN_BYTES_TIMEOUT_MS * NANOS_PER_MILLI));

        // The body sink must be taken before the request is handed over.
        let sink = body.map(|_| request.take_body());
        let future = outgoing_handler::handle(request, Some(options))
            .map_err(|e| StoreError::Unavailable(format!("{e:?}")))?;
        if let (Some(mut sink), Some(bytes)) = (sink, body) {
            // Written in pieces so no single write copies the whole file.
            const CHUNK: usize = 64 * 1024;
            for chunk in bytes.chunks(CHUNK) {
                if let Err(e) = sink.send(chunk.to_vec()).await {
                    // The proxy may have answered early (e.g. 413) and closed:
                    // its answer, below, says more than the write error.
                    eprintln!("image store: request body write stopped: {e:?}");
                    break;
                }
            }
            drop(sink); // finishes the body
        }
        future.subscribe().block();
        match future.get() {
            Some(Ok(Ok(resp))) => Ok(resp),
            Some(Ok(Err(code))) => Err(StoreError::Unavailable(format!("{code:?}"))),
            Some(Err(())) => Err(StoreError::Unavailable("response taken twice".into())),
            None => Err(StoreError::Unavailable("no response after waiting".into())),
        }
    }
}

/// Records that `file_id` is no longer referenced and must be deleted from
/// the store. Call it inside the transaction that drops the reference, so
/// the two commit together; then [`ImageStore::delete_queued`] after the
/// commit. Queuing an id twice keeps the first record.
pub fn queue_delete(db: &Db, file_id: &str, why: &str) -> ApiResult<()> {
    db.execute(
        "INSERT OR IGNORE INTO pending_image_deletes (file_id, reason, queued_at) VALUES (?, ?, ?)",
        &[
            db::text(file_id),
            db::text(why),
            db::int(crate::clock::now()),
        ],
    )?;
    Ok(())
}

/// A short answer body (JSON), read with a cap.
async fn read_small(resp: IncomingResponse) -> Result<Vec<u8>, StoreError> {
    let mut body = Vec::new();
    let mut stream = resp.take_body_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| StoreError::Unavailable(format!("reading answer: {e:?}")))?;
        if body.len() + chunk.len() > MAX_JSON_RESPONSE {
            return Err(StoreError::BadAnswer("answer too long".into()));
        }
        body.extend_from_slice(&chunk);
    }
    drop(stream);
    drop(resp);
    Ok(body)
}

/// The `error` field of a proxy error body, or the body itself (shortened).
fn error_message(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct ProxyError {
        error: String,
    }
    match serde_json::from_slice::<ProxyError>(body) {
        Ok(e) => e.error,
        Err(_) => String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_id_grammar() {
        for good in [
            "group1/M00/00/00/wKgBbF8xyz_-AB.jpg",
            "g/M0a/FF/0e/x",
            "G16charsGroupAbc/M00/00/00/a.b.c",
            "group1/M00/00/00/fwAAAWsE8imAXhu_ABLWh8TuLho152_150x150.jpg",
        ] {
            assert!(valid_file_id(good), "{good}");
        }
        for bad in [
            "",
            "group1",
            "group1/",
            "/M00/00/00/a.jpg",
            "group_1/M00/00/00/a.jpg",
            "G17charsGroupAbcd/M00/00/00/a.jpg",
            "group1/N00/00/00/a.jpg",
            "group1/M0/00/00/a.jpg",
            "group1/M0G/00/00/a.jpg",
            "group1/M00/0/00/a.jpg",
            "group1/M00/00/00/",
            "group1/M00/00/00/..",
            "group1/M00/00/00/.",
            "group1/M00/00/00/a..jpg",
            "group1/M00/00/00/a/b.jpg",
            "group1/M00/00/00/a%2F.jpg",
            "group1/M00/00/00/a b.jpg",
            "group1/M00/00/00/a\\b.jpg",
            "group1/M00/00/00/a.jpg?x=1",
            "group1/M00/../00/a.jpg",
        ] {
            assert!(!valid_file_id(bad), "{bad}");
        }
        let long = format!("group1/M00/00/00/{}", "a".repeat(MAX_REMOTE_NAME_LEN));
        assert!(!valid_file_id(&long));
    }

    #[test]
    fn origins() {
        assert_eq!(
            ImageStore::parse("http://127.0.0.1:8090/"),
            Some(ImageStore {
                https: false,
                authority: "127.0.0.1:8090".into()
            })
        );
        assert!(ImageStore::parse("https://img.example").unwrap().https);
        for bad in [
            "",
            "127.0.0.1:8090",
            "ftp://x",
            "http://",
            "http://x/path",
            "http://u@x",
        ] {
            assert_eq!(ImageStore::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn proxy_error_messages() {
        assert_eq!(error_message(br#"{"error":"too large"}"#), "too large");
        assert_eq!(error_message(b"plain"), "plain");
    }
}
