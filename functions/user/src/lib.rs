//! GET /api/v1.0/user: the logged-in user's profile
//! `{"user_id","name","mobile","real_name","id_card","avatar_url"}`
//! (id card masked; never any password material).

use ihome_shared::http;
use ihome_shared::{ApiError, accounts};
use spin_sdk::http::{IncomingRequest, Method, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(req: IncomingRequest) -> Response {
    http::serve(req, |req| match req.method() {
        Method::Get => accounts::profile_response(req),
        _ => Err(ApiError::method_not_allowed()),
    })
}
