//! `/api/v1.0/houses`
//! - POST: publish a house (logged in and real-name verified, else 4105);
//!   the form is validated by [`NewHouse::parse`], the house and its
//!   facilities are inserted in one transaction → `{"house_id"}`.
//! - GET `?aid=&sd=&ed=&sk=&p=`: search → `{"houses","total_page","current_page"}`
//!   (rules in API.md "Search"; the SQL is [`SearchQuery`]'s).

use ihome_shared::clock::{self, Date};
use ihome_shared::db::{Db, int};
use ihome_shared::houses::{
    AREA_EXISTS_SQL, HouseItem, IS_VERIFIED_SQL, NewHouse, NewHouseRequest, SearchQuery, View,
    total_pages,
};
use ihome_shared::http::{self, ApiRequest};
use ihome_shared::{ApiError, ApiResult, cache, session, store};
use serde_json::json;
use spin_sdk::http::{IncomingRequest, Method, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(req: IncomingRequest) -> Response {
    http::serve(req, &[(Method::Post, publish), (Method::Get, search)])
}

fn publish(req: &ApiRequest) -> ApiResult<Response> {
    let store = store::kv()?;
    let user = session::require(&store, req)?.user;
    let db = Db::open()?;
    if db.query_i64(IS_VERIFIED_SQL, &[int(user.user_id)])? != Some(1) {
        return Err(ApiError::role("发布房源前请先完成实名认证"));
    }
    let house = NewHouse::parse(req.json::<NewHouseRequest>()?)?;
    let house_id = house.insert(&db, user.user_id, clock::now())?;
    // Nothing cached can show a house that did not exist, but a cache entry
    // left behind by an older database under the same id must not survive.
    cache::invalidate_house(&store::kv()?, house_id);
    Ok(http::ok(json!({ "house_id": house_id })))
}

fn search(req: &ApiRequest) -> ApiResult<Response> {
    let (aid, sd, ed, sk, p) = (
        req.query("aid"),
        req.query("sd"),
        req.query("ed"),
        req.query("sk"),
        req.query("p"),
    );
    let query = SearchQuery::parse(
        aid.as_deref(),
        sd.as_deref(),
        ed.as_deref(),
        sk.as_deref(),
        p.as_deref(),
    )?;
    let db = Db::open()?;
    if let Some(area) = query.area_id
        && db.query_i64(AREA_EXISTS_SQL, &[int(area)])? != Some(1)
    {
        return Err(ApiError::param(format!("不存在的城区: {area}")));
    }
    let today = Date::today();
    let (count_sql, params) = query.count_sql(today);
    let total_page = total_pages(db.query_i64(&count_sql, &params)?.unwrap_or(0));
    let houses = if query.page > total_page {
        Vec::new()
    } else {
        let (page_sql, params) = query.page_sql(today);
        HouseItem::list(&db, &page_sql, &params, &View::from_config())?
    };
    Ok(http::ok(json!({
        "houses": houses,
        "total_page": total_page,
        "current_page": query.page,
    })))
}
