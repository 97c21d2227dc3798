//! `GET /health`: 200 when the back end can serve (local: the data
//! directory is there; FastDFS: at least one tracker answers ACTIVE_TEST),
//! else 503. Body: `{"status":"ok"|"unavailable","backend":"local"|"fastdfs",...}`.

use hyper::{Response, StatusCode};
use serde_json::{Value, json};

use super::error::ApiError;
use super::{App, Body, json_response};

pub async fn handle(app: &App) -> Result<Response<Body>, ApiError> {
    let health = app.store.health().await;
    let mut body = json!({
        "status": if health.ok { "ok" } else { "unavailable" },
        "backend": app.store.kind(),
        "max_file_size": app.max_file_size,
    });
    if let (Value::Object(out), Value::Object(detail)) = (&mut body, health.detail) {
        out.extend(detail);
    }
    let status = if health.ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Ok(json_response(status, &body))
}
