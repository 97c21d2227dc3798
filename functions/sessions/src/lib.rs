//! POST /api/v1.0/sessions `{"mobile","password"}`: login
//! (`ihome_shared::accounts::login`, whose docs and `ratelimit`'s give the
//! rules: one answer for unknown mobiles and wrong passwords, lock-outs that
//! strangers can't turn against the owner).

use ihome_shared::accounts::{self, Login};
use ihome_shared::client::ClientId;
use ihome_shared::http::{self, ApiRequest};
use ihome_shared::{ApiResult, clock, session, store};
use spin_sdk::http::{IncomingRequest, Method, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(req: IncomingRequest) -> Response {
    http::serve(req, &[(Method::Post, login)])
}

fn login(req: &ApiRequest) -> ApiResult<Response> {
    let login = Login::parse(&req.json()?)?;
    let kv = store::kv()?;
    let session = accounts::login(
        &store::db()?,
        &kv,
        &login,
        &ClientId::of(req)?,
        session::presented_id(req),
        clock::now(),
    )?;
    Ok(session::login_response(req, &session))
}
