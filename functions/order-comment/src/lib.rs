//! PUT /api/v1.0/orders/:id/comment `{"comment"}`: the guest reviews a
//! finished stay. Only the order's guest (else 4105), only from WAIT_COMMENT
//! and only once the check-out day has come in the app's time zone (else
//! 4004, HTTP 409): a review of a stay that has not happened yet would be
//! worthless. The order becomes COMPLETE and the house's order_count grows
//! by one in the same transaction.

use ihome_shared::clock::{self, Date};
use ihome_shared::db::Db;
use ihome_shared::http::{self, ApiRequest};
use ihome_shared::orders::{CommentRequest, OrderParties, OrderStatus, Party, Review};
use ihome_shared::{ApiError, ApiResult, cache, session, store};
use spin_sdk::http::{IncomingRequest, Method, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(req: IncomingRequest) -> Response {
    http::serve(req, &[(Method::Put, comment)])
}

fn comment(req: &ApiRequest) -> ApiResult<Response> {
    let user = session::require(&store::kv()?, req)?.user;
    let order_id = req.path_id("id")?;
    let review = Review::parse(&req.json::<CommentRequest>()?)?;
    let db = Db::open()?;
    let order = OrderParties::load(&db, order_id)?;
    order.require(Party::Guest, user.user_id)?;
    let today = Date::today();
    // A precise message for the common case; the UPDATE below re-checks both
    // conditions, so a concurrent change still cannot slip through.
    if order.status != OrderStatus::WaitComment.as_str() {
        return Err(ApiError::conflict("只有待评价的订单可以评价"));
    }
    if order.end_date.as_str() > today.to_string().as_str() {
        return Err(ApiError::conflict("入住结束后才能评价"));
    }
    let house_id = review.apply(&db, order_id, today, clock::now())?;
    // The detail page lists comments; the carousel ranks by order_count.
    cache::invalidate_house(&store::kv()?, house_id);
    Ok(http::ok_empty())
}
