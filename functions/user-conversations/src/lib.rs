//! The user's conversations (logged in; two routes, one component):
//! - GET /api/v1.0/user/conversations: as guest and as landlord, most
//!   recent activity first, with the house, the other party's name, the
//!   last message and the unread count → `{"conversations":
//!   [ConversationItem...]}` ([`messages::list`]);
//! - GET /api/v1.0/user/conversations/unread: their unread messages
//!   together → `{"unread": n}` ([`messages::unread`]), the header's badge.

use ihome_shared::houses::View;
use ihome_shared::http::{self, ApiRequest, Handler};
use ihome_shared::messages;
use ihome_shared::{ApiResult, session, store};
use serde_json::json;
use spin_sdk::http::{IncomingRequest, Method, Response};
use spin_sdk::http_component;

/// How the badge's route (`…/unread` in spin.toml) ends.
const UNREAD_ROUTE_END: &str = "/conversations/unread";

#[http_component]
fn handle(req: IncomingRequest) -> Response {
    let route = http::matched_route(&req);
    let handler: Handler = if route.ends_with(UNREAD_ROUTE_END) {
        my_unread
    } else {
        my_conversations
    };
    http::serve(req, &[(Method::Get, handler)])
}

fn my_conversations(req: &ApiRequest) -> ApiResult<Response> {
    let user = session::require(&store::kv()?, req)?.user;
    let conversations = messages::list(&store::db()?, &View::from_config()?, user.user_id)?;
    Ok(http::ok(json!({ "conversations": conversations })))
}

fn my_unread(req: &ApiRequest) -> ApiResult<Response> {
    let user = session::require(&store::kv()?, req)?.user;
    let unread = messages::unread(&store::db()?, user.user_id)?;
    Ok(http::ok(json!({ "unread": unread })))
}
