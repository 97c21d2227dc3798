//! [`ImageStore`]: `fdfs-proxy`, the FastDFS sidecar, over HTTP.
//!
//! - `POST /files?ext=jpg&token=<token>` raw body → `{"file_id","size"}`,
//!   the token → file id record kept durably before the answer
//! - `POST /tokens/<token>/abandon` → 204: the token's file deleted, the
//!   token refused from then on
//! - `DELETE /tokens/<token>` → 204, or 404 when there is no record
//! - `GET /files/<file_id>` → the bytes (ETag, `If-None-Match` → 304, `Range` → 206)
//! - `DELETE /files/<file_id>` → 204, or 404 when missing
//!
//! The proxy answers 404 only for a file that cannot exist, and 503/502
//! when it cannot tell. Requests carry explicit timeouts (wasi-http request
//! options), so a hung proxy costs a bounded wait and becomes 4301, never a
//! request stuck until the host's default of 600 s. Every call is made by
//! one request's own component instance, so waiting for the response head
//! blocks nothing else.

use futures::{SinkExt, StreamExt};
use spin_sdk::http::{Fields, IncomingResponse, Method, OutgoingRequest, Scheme};
use spin_sdk::wit::wasi::http0_2_0::outgoing_handler;
use spin_sdk::wit::wasi::http0_2_0::types::RequestOptions;

use super::{FileStore, StoreError, UploadToken, valid_file_id};
use crate::config::{self, Origin};
use crate::errno::ApiResult;
use crate::images::ImageKind;

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

/// fdfs-proxy at its origin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageStore {
    origin: Origin,
}

impl ImageStore {
    /// The store at the Spin variable `fdfs_proxy_origin`.
    pub fn from_config() -> ApiResult<ImageStore> {
        Ok(ImageStore {
            origin: config::fdfs_proxy_origin()?,
        })
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
        let scheme = if self.origin.https {
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
            .set_authority(Some(&self.origin.authority))
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
                    crate::log_line!("image store: request body write stopped: {e:?}");
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

impl FileStore for ImageStore {
    async fn upload(
        &self,
        bytes: &[u8],
        kind: ImageKind,
        token: &UploadToken,
    ) -> Result<String, StoreError> {
        let path = format!("/files?ext={}&token={token}", kind.ext());
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

    async fn abandon(&self, token: &UploadToken) -> Result<(), StoreError> {
        match self
            .small_call(Method::Post, &format!("/tokens/{token}/abandon"))
            .await?
        {
            (200 | 204, _) => Ok(()),
            (status, body) => Err(StoreError::Status(status, error_message(&body))),
        }
    }

    async fn forget_token(&self, token: &UploadToken) -> Result<(), StoreError> {
        match self
            .small_call(Method::Delete, &format!("/tokens/{token}"))
            .await?
        {
            (200 | 204 | 404, _) => Ok(()),
            (status, body) => Err(StoreError::Status(status, error_message(&body))),
        }
    }

    async fn delete(&self, file_id: &str) -> Result<bool, StoreError> {
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
}

impl ImageStore {
    /// A bodiless request; its status and short answer.
    async fn small_call(&self, method: Method, path: &str) -> Result<(u16, Vec<u8>), StoreError> {
        let resp = self
            .send(method, path, &[], None, RESPONSE_TIMEOUT_MS)
            .await?;
        let status = resp.status();
        Ok((status, read_small(resp).await?))
    }
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
    fn proxy_error_messages() {
        assert_eq!(error_message(br#"{"error":"too large"}"#), "too large");
        assert_eq!(error_message(b"plain"), "plain");
    }
}
