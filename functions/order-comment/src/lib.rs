//! PUT /api/v1.0/orders/:id/comment `{"comment","rating"}`: the guest
//! reviews a finished stay with a text and 1-5 stars ([`Review::parse`],
//! 4103 without both; with `legacy_clients` on, a classic client's comment
//! without a rating is unrated), then [`orders::comment`]: only the order's
//! guest, only from WAIT_COMMENT and once the check-out day has come; the
//! house's rating changes with it.

use ihome_shared::clock;
use ihome_shared::http::{self, ApiRequest};
use ihome_shared::orders::{self, CommentRequest, Review};
use ihome_shared::{ApiResult, config, session, store};
use spin_sdk::http::{IncomingRequest, Method, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(req: IncomingRequest) -> Response {
    http::serve(req, &[(Method::Put, comment)])
}

fn comment(req: &ApiRequest) -> ApiResult<Response> {
    let kv = store::kv()?;
    let user = session::require(&kv, req)?.user;
    let order_id = req.path_id("id")?;
    let review = Review::parse(&req.json::<CommentRequest>()?, config::legacy_clients()?)?;
    orders::comment(
        &store::db()?,
        &kv,
        user.user_id,
        order_id,
        &review,
        clock::today()?,
        clock::now(),
    )?;
    Ok(http::ok_empty())
}
