//! GET /api/v1.0/user/conversations (logged in): the user's conversations
//! as guest and as landlord, most recent activity first, with the house,
//! the other party's name, the last message and the unread count →
//! `{"conversations":[ConversationItem...]}` ([`messages::list`]).

use ihome_shared::houses::View;
use ihome_shared::http::{self, ApiRequest};
use ihome_shared::messages;
use ihome_shared::{ApiResult, session, store};
use serde_json::json;
use spin_sdk::http::{IncomingRequest, Method, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(req: IncomingRequest) -> Response {
    http::serve(req, &[(Method::Get, my_conversations)])
}

fn my_conversations(req: &ApiRequest) -> ApiResult<Response> {
    let user = session::require(&store::kv()?, req)?.user;
    let conversations = messages::list(&store::db()?, &View::from_config()?, user.user_id)?;
    Ok(http::ok(json!({ "conversations": conversations })))
}
