//! `/api/v1.0/houses`
//! - POST: publish a house → `{"house_id"}`: logged in and real-name
//!   verified (else 4105, before the form is read), the form validated by
//!   [`NewHouse::parse`], then [`houses::publish`].
//! - GET `?aid=&sd=&ed=&sk=&p=&min_price=&max_price=&guests=`: search →
//!   `{"houses","total_page","current_page"}`
//!   (rules in openapi.yaml, GET `/houses`, and README "Behaviour worth
//!   knowing", "Search"; [`houses::search`]).

use ihome_shared::clock;
use ihome_shared::houses::{
    self, NewHouse, NewHouseRequest, Publisher, SearchParams, SearchQuery, View,
};
use ihome_shared::http::{self, ApiRequest};
use ihome_shared::{ApiResult, session, store};
use serde_json::json;
use spin_sdk::http::{IncomingRequest, Method, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(req: IncomingRequest) -> Response {
    http::serve(req, &[(Method::Post, publish), (Method::Get, search)])
}

fn publish(req: &ApiRequest) -> ApiResult<Response> {
    let kv = store::kv()?;
    let user = session::require(&kv, req)?.user;
    let db = store::db()?;
    let publisher = Publisher::verified(&db, user.user_id)?;
    let house = NewHouse::parse(req.json::<NewHouseRequest>()?)?;
    let house_id = houses::publish(&db, &kv, &publisher, &house, clock::now())?;
    Ok(http::ok(json!({ "house_id": house_id })))
}

fn search(req: &ApiRequest) -> ApiResult<Response> {
    let value = |name| req.query(name);
    let (aid, sd, ed, sk, p) = (
        value("aid"),
        value("sd"),
        value("ed"),
        value("sk"),
        value("p"),
    );
    let (min_price, max_price, guests) = (value("min_price"), value("max_price"), value("guests"));
    let query = SearchQuery::parse(&SearchParams {
        aid: aid.as_deref(),
        sd: sd.as_deref(),
        ed: ed.as_deref(),
        sk: sk.as_deref(),
        p: p.as_deref(),
        min_price: min_price.as_deref(),
        max_price: max_price.as_deref(),
        guests: guests.as_deref(),
    })?;
    let page = houses::search(
        &store::lazy_db(),
        &store::kv()?,
        &View::from_config()?,
        &query,
        clock::today()?,
        clock::now(),
    )?;
    Ok(http::ok(page))
}
