//! API errors: one place that decides the HTTP status of every failure.
//! Bodies are always `{"error": "..."}`.

use hyper::StatusCode;
use hyper::header::{ALLOW, HeaderValue};

use super::{Body, json_response};
use crate::body::BodyError;
use crate::file_id::FileIdError;
use crate::store::StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// For 405: the methods the route does allow.
    pub allow: Option<&'static str>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            allow: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn method_not_allowed(allow: &'static str) -> ApiError {
        ApiError {
            allow: Some(allow),
            ..ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("method not allowed; use {allow}"),
            )
        }
    }

    pub fn into_response(self) -> hyper::Response<Body> {
        if self.status.is_server_error() {
            tracing::warn!(status = %self.status, error = %self.message, "request failed");
        } else {
            tracing::debug!(status = %self.status, error = %self.message, "request refused");
        }
        let mut resp = json_response(self.status, &serde_json::json!({ "error": self.message }));
        if let Some(allow) = self.allow {
            resp.headers_mut()
                .insert(ALLOW, HeaderValue::from_static(allow));
        }
        resp
    }
}

impl From<FileIdError> for ApiError {
    fn from(e: FileIdError) -> Self {
        ApiError::bad_request(format!("invalid file id: {e}"))
    }
}

impl From<BodyError> for ApiError {
    fn from(e: BodyError) -> Self {
        let status = match e {
            BodyError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::Aborted(_) | BodyError::LengthMismatch { .. } => StatusCode::BAD_REQUEST,
        };
        ApiError::new(status, e.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let status = match &e {
            StoreError::NotFound => StatusCode::NOT_FOUND,
            StoreError::BadRequest(_) => StatusCode::BAD_REQUEST,
            StoreError::Body(b) => return ApiError::from(b.clone()),
            StoreError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            StoreError::Upstream(_) => StatusCode::BAD_GATEWAY,
            StoreError::InsufficientStorage(_) => StatusCode::INSUFFICIENT_STORAGE,
            StoreError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}
