//! POST /api/v1.0/orders `{"house_id","start_date","end_date"}`: book a house
//! → `{"order_id"}`.
//!
//! Checks, in order: logged in (4101); well-formed ids and dates, the stay
//! starting today or later in the app's time zone and within the booking
//! horizon (4103); the house exists (4002); it is not the guest's own
//! (4105); the stay length fits the house's min/max nights, 90 at most when
//! `max_days` is 0 (4103). Then [`BOOK_SQL`] checks the nights are free and
//! the guest holds fewer than 10 WAIT_ACCEPT orders, and inserts, in one
//! statement; taken nights or the pending cap are 4004 (HTTP 409).

use ihome_shared::clock::{self, Date};
use ihome_shared::db::{Db, RowExt, int, text};
use ihome_shared::http::{self, ApiRequest};
use ihome_shared::orders::{
    BOOK_SQL, Booking, BookingRequest, HOUSE_FOR_BOOKING_SQL, MAX_PENDING_ORDERS_PER_GUEST,
    PENDING_ORDERS_SQL, booking_refused,
};
use ihome_shared::{ApiError, ApiResult, cache, session, store};
use serde_json::json;
use spin_sdk::http::{IncomingRequest, Method, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(req: IncomingRequest) -> Response {
    http::serve(req, &[(Method::Post, book)])
}

fn book(req: &ApiRequest) -> ApiResult<Response> {
    let guest = session::require(&store::kv()?, req)?.user;
    let booking = Booking::parse(&req.json::<BookingRequest>()?, Date::today())?;
    let db = Db::open()?;
    let house = db
        .query_one(HOUSE_FOR_BOOKING_SQL, &[int(booking.house_id)])?
        .ok_or_else(|| ApiError::not_found(format!("房屋 {} 不存在", booking.house_id)))?;
    if house.int(0)? == guest.user_id {
        return Err(ApiError::role("不能预订自己的房屋"));
    }
    booking.check_length(house.int(1)?, house.int(2)?)?;
    let order_id = db.query_i64(
        BOOK_SQL,
        &[
            int(guest.user_id),
            int(booking.house_id),
            text(booking.stay.start.to_string()),
            text(booking.stay.end.to_string()),
            int(booking.stay.nights()),
            int(clock::now()),
            int(MAX_PENDING_ORDERS_PER_GUEST),
        ],
    )?;
    let Some(order_id) = order_id else {
        let pending = db.query_i64(PENDING_ORDERS_SQL, &[int(guest.user_id)])?;
        return Err(booking_refused(pending.unwrap_or(0)));
    };
    // The detail page's calendar shows booked nights.
    cache::invalidate(&store::kv()?, &[&cache::house_detail(booking.house_id)]);
    Ok(http::ok(json!({ "order_id": order_id })))
}
