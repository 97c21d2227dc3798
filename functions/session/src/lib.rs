//! GET /api/v1.0/session: `{"user_id","name"}` of the logged-in user, or 4101.
//! DELETE /api/v1.0/session: log out (the session is deleted server-side, so
//! a copied cookie is dead too) and expire the cookie.

use ihome_shared::http::{self, ApiRequest};
use ihome_shared::{ApiResult, session, store};
use spin_sdk::http::{IncomingRequest, Method, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(req: IncomingRequest) -> Response {
    http::serve(req, &[(Method::Get, who), (Method::Delete, logout)])
}

fn who(req: &ApiRequest) -> ApiResult<Response> {
    let s = session::require(&store::kv()?, req)?;
    Ok(http::ok(s.user))
}

fn logout(req: &ApiRequest) -> ApiResult<Response> {
    let store = store::kv()?;
    let s = session::require(&store, req)?;
    session::destroy(&store, &s.id)?;
    let mut resp = http::ok_empty();
    resp.set_header("set-cookie", session::clear_cookie_header(req.is_https()));
    Ok(resp)
}
