//! GET /api/v1.0/user/auth: the profile, as GET /user.
//! POST /api/v1.0/user/auth `{"real_name","id_card"}`: real-name
//! verification, once: a set real name can't be changed (4003).

use ihome_shared::accounts::{self, RealNameVerification};
use ihome_shared::http::{self, ApiRequest};
use ihome_shared::{ApiResult, config, session, store};
use spin_sdk::http::{IncomingRequest, Method, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(req: IncomingRequest) -> Response {
    http::serve(req, &[(Method::Get, get_profile), (Method::Post, verify)])
}

/// The profile, as GET /user answers it.
fn get_profile(req: &ApiRequest) -> ApiResult<Response> {
    let kv = store::kv()?;
    let session = session::require(&kv, req)?;
    let profile = accounts::profile(&store::db()?, &kv, &session, &config::image_base_url()?)?;
    Ok(http::ok(profile))
}

fn verify(req: &ApiRequest) -> ApiResult<Response> {
    let session = session::require(&store::kv()?, req)?;
    let verification = RealNameVerification::parse(&req.json()?)?;
    accounts::verify_real_name(&store::db()?, session.user.user_id, &verification)?;
    Ok(http::ok_empty())
}
