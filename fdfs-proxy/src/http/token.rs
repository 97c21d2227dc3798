//! `POST /tokens/<token>/abandon` and `DELETE /tokens/<token>` (see
//! [`crate::tokens`]).

use hyper::{Response, StatusCode};

use super::error::ApiError;
use super::{App, Body, empty};
use crate::store::StoreError;
use crate::tokens::{Record, Token};

/// Deletes the file `token` stored, if any, and leaves a tombstone so it
/// never stores another: 204, also when there was nothing to delete or it
/// was abandoned before. 503 when the file's storage cannot say: the record
/// is kept as it was, and a retry does the rest.
pub async fn abandon(app: &App, raw: &str) -> Result<Response<Body>, ApiError> {
    let token = parse(raw)?;
    let tokens = &app.tokens;
    if let Some(Record::Stored(id)) = tokens
        .create(&token, Record::Abandoned)
        .await
        .map_err(record_error)?
    {
        match app.by(app.answer_deadline(), app.store.delete(&id)).await {
            Ok(()) | Err(StoreError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
        tokens
            .replace(&token, Record::Abandoned)
            .await
            .map_err(record_error)?;
        tracing::info!(%token, file_id = %id, "abandoned upload deleted");
    }
    Ok(no_content())
}

/// Forgets `token`'s record (the client recorded its file): 204, or 404
/// when there is none.
pub async fn forget(app: &App, raw: &str) -> Result<Response<Body>, ApiError> {
    let token = parse(raw)?;
    if app.tokens.remove(&token).await.map_err(record_error)? {
        Ok(no_content())
    } else {
        Err(ApiError::new(StatusCode::NOT_FOUND, "no such token"))
    }
}

pub fn parse(raw: &str) -> Result<Token, ApiError> {
    Token::parse(raw).map_err(ApiError::bad_request)
}

pub fn record_error(e: std::io::Error) -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("token record: {e}"),
    )
}

fn no_content() -> Response<Body> {
    let mut resp = Response::new(empty());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    resp
}
