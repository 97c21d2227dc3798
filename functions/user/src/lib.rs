//! GET /api/v1.0/user: the logged-in user's profile
//! `{"user_id","name","mobile","real_name","id_card","avatar_url"}`
//! (id card masked; never any password material).

use ihome_shared::accounts;
use ihome_shared::http;
use spin_sdk::http::{IncomingRequest, Method, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(req: IncomingRequest) -> Response {
    http::serve(req, &[(Method::Get, accounts::get_profile)])
}
