//! `GET /health`: 200 when the back end can serve (local: the data
//! directory is there; FastDFS: a tracker answers and every group in scope
//! has an active storage), 200 `"degraded"` when some but not all groups
//! can serve reads, else 503. Body:
//! `{"status":"ok"|"degraded"|"unavailable","backend":"local"|"fastdfs",...}`.
//! Bounded by the answer deadline like every other request.

use hyper::{Response, StatusCode};
use serde_json::{Value, json};

use super::error::ApiError;
use super::{App, Body, json_response};
use crate::store::Health;

pub async fn handle(app: &App) -> Result<Response<Body>, ApiError> {
    let health = match tokio::time::timeout(app.answer_timeout, app.store.health()).await {
        Ok(h) => h,
        Err(_) => Health {
            ok: false,
            degraded: false,
            detail: json!({"error": format!(
                "no health answer within {} ms",
                app.answer_timeout.as_millis()
            )}),
        },
    };
    let status = match (health.ok, health.degraded) {
        (true, false) => "ok",
        (true, true) => "degraded",
        (false, _) => "unavailable",
    };
    let mut body = json!({
        "status": status,
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
