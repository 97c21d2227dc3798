//! /api/v1.0/conversations/:id/messages, for the conversation's two parties
//! only (4105; unknown 4002):
//! - GET `?before=<message_id>`: 20 messages older than `before` (the
//!   newest without it), newest first; the other party's ones shown are
//!   marked read ([`messages::page`]);
//! - POST `{"text"}`: a message ([`messages::post`]) → `{"conversation_id",
//!   "message_id"}`; once answered, due notifications are delivered.

use ihome_shared::houses::View;
use ihome_shared::http::{self, ApiRequest};
use ihome_shared::messages::{self, MessageRequest, MessageText};
use ihome_shared::{ApiError, ApiResult, clock, notify, session, store};
use spin_sdk::http::{IncomingRequest, Method, Response, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest, response_out: ResponseOutparam) {
    http::serve_then(
        req,
        response_out,
        &[(Method::Get, read), (Method::Post, write)],
        notify::after_commit,
    )
    .await
}

fn read(req: &ApiRequest) -> ApiResult<Response> {
    let kv = store::kv()?;
    let user = session::require(&kv, req)?.user;
    let conversation_id = req.path_id("id")?;
    let before = match req.query("before") {
        None => None,
        Some(raw) => Some(
            http::parse_id(&raw)
                .ok_or_else(|| ApiError::param(format!("无效的消息编号: {raw}")))?,
        ),
    };
    let page = messages::page(
        &store::db()?,
        &View::from_config()?,
        user.user_id,
        conversation_id,
        before,
        clock::now(),
    )?;
    Ok(http::ok(page))
}

fn write(req: &ApiRequest) -> ApiResult<Response> {
    let kv = store::kv()?;
    let user = session::require(&kv, req)?.user;
    let conversation_id = req.path_id("id")?;
    let text = MessageText::parse(req.json::<MessageRequest>()?.text)?;
    let posted = messages::post(
        &store::db()?,
        &kv,
        user.user_id,
        conversation_id,
        &text,
        clock::now(),
    )?;
    Ok(http::ok(posted))
}
