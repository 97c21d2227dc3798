//! GET /api/v1.0/houses/:id → `{"user_id": viewer id or -1, "house": HouseDetail}`.
//!
//! The viewer-independent [`HouseDetail`] is cached in KV under
//! `cache:house:<id>`; every write that changes it (booking, a status change,
//! a comment, a new photo) deletes the entry. The booked nights are filtered
//! against today on every read, so a cached calendar never shows nights that
//! have passed since it was built.

use ihome_shared::clock::Date;
use ihome_shared::db::{Db, RowExt, int, text};
use ihome_shared::houses::View;
use ihome_shared::http::{self, ApiRequest};
use ihome_shared::orders::{BOOKED_NIGHTS_SQL, HOUSE_COMMENTS_SQL};
use ihome_shared::{ApiError, ApiResult, cache, session, store};
use serde::{Deserialize, Serialize};
use spin_sdk::http::{IncomingRequest, Method, Response};
use spin_sdk::http_component;

/// Comments shown on the detail page (API.md: the newest 10).
const MAX_COMMENTS: i64 = 10;

/// The response's `data`: the house and who is looking (-1: nobody).
#[derive(Serialize)]
struct DetailData {
    user_id: i64,
    house: HouseDetail,
}

#[derive(Serialize, Deserialize)]
struct HouseDetail {
    hid: i64,
    /// The owner.
    user_id: i64,
    user_name: String,
    user_avatar: String,
    title: String,
    /// Fen per night.
    price: i64,
    address: String,
    room_count: i64,
    acreage: i64,
    unit: String,
    capacity: i64,
    beds: String,
    /// Fen.
    deposit: i64,
    min_days: i64,
    /// 0 = unlimited.
    max_days: i64,
    img_urls: Vec<String>,
    facilities: Vec<i64>,
    comments: Vec<Comment>,
    booked: Vec<Booked>,
}

#[derive(Serialize, Deserialize)]
struct Comment {
    user_name: String,
    comment: String,
    ctime: String,
}

#[derive(Serialize, Deserialize)]
struct Booked {
    start_date: String,
    end_date: String,
}

#[http_component]
fn handle(req: IncomingRequest) -> Response {
    http::serve(req, &[(Method::Get, detail)])
}

fn detail(req: &ApiRequest) -> ApiResult<Response> {
    let house_id = req.path_id("id")?;
    let store = store::kv()?;
    let viewer = session::current(&store, req)?.map_or(-1, |s| s.user.user_id);
    let today = Date::today();
    let key = cache::house_detail(house_id);
    let mut house = match cache::get::<HouseDetail>(&store, &key)? {
        Some(house) => house,
        None => cache::fill(&store, &key, || load(&Db::open()?, house_id, today))?,
    };
    let today = today.to_string();
    house.booked.retain(|b| b.end_date > today);
    Ok(http::ok(DetailData {
        user_id: viewer,
        house,
    }))
}

fn load(db: &Db, house_id: i64, today: Date) -> ApiResult<HouseDetail> {
    let id = [int(house_id)];
    let h = db
        .query_one(
            "SELECT h.id, h.user_id, u.name, u.avatar, h.title, h.price, h.address,
                    h.room_count, h.acreage, h.unit, h.capacity, h.beds, h.deposit,
                    h.min_days, h.max_days
             FROM houses h JOIN users u ON u.id = h.user_id WHERE h.id = ?",
            &id,
        )?
        .ok_or_else(|| ApiError::not_found(format!("房屋 {house_id} 不存在")))?;
    let view = View::from_config();
    let img_urls = db
        .query(
            "SELECT file_id FROM house_images WHERE house_id = ? ORDER BY id",
            &id,
        )?
        .iter()
        .map(|r| Ok(view.image(&r.text(0)?)))
        .collect::<ApiResult<_>>()?;
    let facilities = db
        .query(
            "SELECT facility_id FROM house_facilities WHERE house_id = ? ORDER BY facility_id",
            &id,
        )?
        .iter()
        .map(|r| r.int(0))
        .collect::<ApiResult<_>>()?;
    let comments = db
        .query(HOUSE_COMMENTS_SQL, &[int(house_id), int(MAX_COMMENTS)])?
        .iter()
        .map(|r| {
            Ok(Comment {
                user_name: r.text(0)?,
                comment: r.text(1)?,
                ctime: view.timestamp(r.int(2)?),
            })
        })
        .collect::<ApiResult<_>>()?;
    let booked = db
        .query(BOOKED_NIGHTS_SQL, &[int(house_id), text(today.to_string())])?
        .iter()
        .map(|r| {
            Ok(Booked {
                start_date: r.text(0)?,
                end_date: r.text(1)?,
            })
        })
        .collect::<ApiResult<_>>()?;
    Ok(HouseDetail {
        hid: h.int(0)?,
        user_id: h.int(1)?,
        user_name: h.text(2)?,
        user_avatar: view.image(&h.text_or_empty(3)?),
        title: h.text(4)?,
        price: h.int(5)?,
        address: h.text(6)?,
        room_count: h.int(7)?,
        acreage: h.int(8)?,
        unit: h.text(9)?,
        capacity: h.int(10)?,
        beds: h.text(11)?,
        deposit: h.int(12)?,
        min_days: h.int(13)?,
        max_days: h.int(14)?,
        img_urls,
        facilities,
        comments,
        booked,
    })
}
