//! `/api/v1.0/houses/:id/blocked` `{"start_date","end_date"}` (the owner),
//! the nights `[start_date, end_date)`:
//! - POST: close them ([`houses::block`]; 4004, HTTP 409, when any is
//!   booked, and then none is closed);
//! - DELETE: reopen the closed ones among them ([`houses::unblock`]).
//!
//! Checks run 4101, 4103 (the id), 4002, 4105 ([`OwnedHouse::from_request`],
//! before the body is read), then the dates ([`BlockedNights::parse`]:
//! well-formed, end after start, not in the past, within the booking
//! horizon; 4103).

use ihome_shared::houses::{self, BlockedNights, BlockedRequest, OwnedHouse};
use ihome_shared::http::{self, ApiRequest};
use ihome_shared::store::{AppDb, AppKv, LazySql};
use ihome_shared::{ApiResult, clock, store};
use spin_sdk::http::{IncomingRequest, Method, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(req: IncomingRequest) -> Response {
    http::serve(req, &[(Method::Post, block), (Method::Delete, unblock)])
}

fn block(req: &ApiRequest) -> ApiResult<Response> {
    change(req, |db, kv, house, nights| {
        houses::block(db, kv, house, nights, clock::now())
    })
}

fn unblock(req: &ApiRequest) -> ApiResult<Response> {
    change(req, houses::unblock)
}

/// The request as both methods read it, then `operation`.
fn change(
    req: &ApiRequest,
    operation: impl FnOnce(&LazySql<AppDb>, &AppKv, &OwnedHouse, BlockedNights) -> ApiResult<()>,
) -> ApiResult<Response> {
    let kv = store::kv()?;
    let db = store::lazy_db();
    let house = OwnedHouse::from_request(req, &kv, &db)?;
    let nights = BlockedNights::parse(&req.json::<BlockedRequest>()?, clock::today()?)?;
    operation(&db, &kv, &house, nights)?;
    Ok(http::ok_empty())
}
