//! GET /api/v1.0/user: the logged-in user's profile
//! `{"user_id","name","mobile","real_name","id_card","avatar_url"}`
//! (id card masked; never any password material).

use ihome_shared::http::{self, ApiRequest};
use ihome_shared::{ApiResult, accounts, config, session, store};
use spin_sdk::http::{IncomingRequest, Method, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(req: IncomingRequest) -> Response {
    http::serve(req, &[(Method::Get, get_profile)])
}

fn get_profile(req: &ApiRequest) -> ApiResult<Response> {
    let kv = store::kv()?;
    let session = session::require(&kv, req)?;
    let profile = accounts::profile(&store::db()?, &kv, &session, &config::image_base_url()?)?;
    Ok(http::ok(profile))
}
