//! POST /api/v1.0/users `{"mobile","password","sms_code"}`: registration
//! (`ihome_shared::accounts::register`); the new user is logged in right away.

use ihome_shared::accounts::{self, Registration};
use ihome_shared::http::{self, ApiRequest};
use ihome_shared::{ApiResult, clock, session, store};
use spin_sdk::http::{IncomingRequest, Method, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(req: IncomingRequest) -> Response {
    http::serve(req, &[(Method::Post, register)])
}

fn register(req: &ApiRequest) -> ApiResult<Response> {
    let registration = Registration::parse(&req.json()?)?;
    let kv = store::kv()?;
    let session = accounts::register(
        &store::db()?,
        &kv,
        &registration,
        session::presented_id(req),
        clock::now(),
    )?;
    Ok(session::login_response(req, &session))
}
