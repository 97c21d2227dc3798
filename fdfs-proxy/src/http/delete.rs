//! `DELETE /files/<file_id>`: 204, or 404 if there is no such file; 503
//! when the file's storage cannot be reached (the id is worth a retry).

use hyper::{Response, StatusCode};

use super::error::ApiError;
use super::{App, Body, empty};
use crate::file_id::FileId;

pub async fn handle(app: &App, raw_id: &str) -> Result<Response<Body>, ApiError> {
    let id = FileId::parse(raw_id)?;
    app.by(app.answer_deadline(), app.store.delete(&id)).await?;
    tracing::info!(file_id = %id, "deleted");
    let mut resp = Response::new(empty());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    Ok(resp)
}
