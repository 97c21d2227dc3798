//! POST /api/v1.0/houses/:id/inquiries `{"text"}` (logged in, not the
//! owner): opens the guest's conversation with the landlord about the
//! house, or adds to it ([`messages::inquire`]) → `{"conversation_id",
//! "message_id"}`. Once answered, due notifications are delivered
//! ([`notify::after_commit`]).

use ihome_shared::http::{self, ApiRequest};
use ihome_shared::messages::{self, InquiryRequest, MessageText};
use ihome_shared::{ApiResult, clock, notify, session, store};
use spin_sdk::http::{IncomingRequest, Method, Response, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest, response_out: ResponseOutparam) {
    http::serve_then(
        req,
        response_out,
        &[(Method::Post, inquire)],
        notify::after_commit,
    )
    .await
}

fn inquire(req: &ApiRequest) -> ApiResult<Response> {
    let kv = store::kv()?;
    let guest = session::require(&kv, req)?.user;
    let house_id = req.path_id("id")?;
    let text = MessageText::parse(req.json::<InquiryRequest>()?.text)?;
    let posted = messages::inquire(
        &store::db()?,
        &kv,
        guest.user_id,
        house_id,
        &text,
        clock::now(),
    )?;
    Ok(http::ok(posted))
}
