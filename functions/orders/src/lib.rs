//! POST /api/v1.0/orders `{"house_id","start_date","end_date"}`: book a house
//! → `{"order_id","status"}` (WAIT_ACCEPT, or WAIT_COMMENT on an instant-book
//! house). Logged in (4101), a well-formed stay ([`Booking::parse`], 4103),
//! then [`orders::book`], which checks the house and lets the database decide
//! races (the order of checks is in its docs). Once answered: a bounded
//! sweep of requests past their deadline and the delivery of due
//! notifications, the landlord's among them ([`notify::after_commit`]).

use ihome_shared::clock;
use ihome_shared::http::{self, ApiRequest};
use ihome_shared::orders::{self, Booking, BookingRequest, RequestDeadline};
use ihome_shared::{ApiResult, notify, session, store};
use serde_json::json;
use spin_sdk::http::{IncomingRequest, Method, Response, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest, response_out: ResponseOutparam) {
    http::serve_then(
        req,
        response_out,
        &[(Method::Post, book)],
        notify::after_commit,
    )
    .await
}

fn book(req: &ApiRequest) -> ApiResult<Response> {
    let kv = store::kv()?;
    let guest = session::require(&kv, req)?.user;
    let booking = Booking::parse(&req.json::<BookingRequest>()?, clock::today()?)?;
    let deadline = RequestDeadline::from_config()?;
    let (db, now) = (store::db()?, clock::now());
    let booked = orders::book(&db, &kv, guest.user_id, &booking, now, &deadline)?;
    Ok(http::ok(json!({
        "order_id": booked.order_id,
        "status": booked.status.as_str(),
    })))
}
