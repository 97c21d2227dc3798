//! The detail page of one house: the house and its owner, photos,
//! facilities, the newest comments and the nights still booked.
//!
//! The page is the same for every viewer, so it is cached in the key-value
//! store under [`cache::house_detail`]; every write that changes it (a
//! booking, a status change, a comment, a new photo) invalidates the entry.
//! Who is looking is added by the component ([`DetailPage`]).

use serde::{Deserialize, Serialize};

use crate::cache;
use crate::clock::Date;
use crate::errno::{ApiError, ApiResult};
use crate::orders::active_statuses;
use crate::params;
use crate::store::{Kv, Sql};

use super::View;

/// Comments shown on the detail page (API.md: the newest 10).
pub const MAX_COMMENTS: i64 = 10;

/// The response's `data`: the house and who is looking.
#[derive(Serialize, Debug)]
pub struct DetailPage {
    /// The viewer's user id, -1 for nobody logged in.
    pub user_id: i64,
    pub house: HouseDetail,
}

impl DetailPage {
    pub fn new(viewer: Option<i64>, house: HouseDetail) -> DetailPage {
        DetailPage {
            user_id: viewer.unwrap_or(-1),
            house,
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct HouseDetail {
    pub hid: i64,
    /// The owner.
    pub user_id: i64,
    pub user_name: String,
    pub user_avatar: String,
    pub title: String,
    /// Fen per night.
    pub price: i64,
    pub address: String,
    pub room_count: i64,
    pub acreage: i64,
    pub unit: String,
    pub capacity: i64,
    pub beds: String,
    /// Fen.
    pub deposit: i64,
    pub min_days: i64,
    /// 0 = unlimited.
    pub max_days: i64,
    pub img_urls: Vec<String>,
    pub facilities: Vec<i64>,
    pub comments: Vec<Comment>,
    pub booked: Vec<Booked>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Comment {
    pub user_name: String,
    pub comment: String,
    pub ctime: String,
}

/// Nights taken by an active order: `start_date` up to `end_date`, the
/// check-out day, which is free.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Booked {
    pub start_date: String,
    pub end_date: String,
}

/// The house, or 4002; `open_db` is called only when the cache does not
/// hold it.
pub fn detail<D: Sql>(
    open_db: impl FnOnce() -> ApiResult<D>,
    kv: &impl Kv,
    view: &View,
    house_id: i64,
    today: Date,
) -> ApiResult<HouseDetail> {
    let key = cache::house_detail(house_id);
    let mut house = match cache::get::<HouseDetail>(kv, &key)? {
        Some(house) => house,
        None => cache::fill(kv, &key, || load(&open_db()?, view, house_id, today))?,
    };
    // A cached calendar may have been built days ago: nights that have
    // passed since are dropped on every read, not only when it is rebuilt.
    let today = today.to_string();
    house.booked.retain(|b| b.end_date > today);
    Ok(house)
}

const HOUSE: &str = "SELECT h.id AS hid, h.user_id AS owner_id, u.name AS owner_name,
        u.avatar AS owner_avatar, h.title AS title, h.price AS price, h.address AS address,
        h.room_count AS room_count, h.acreage AS acreage, h.unit AS unit,
        h.capacity AS capacity, h.beds AS beds, h.deposit AS deposit,
        h.min_days AS min_days, h.max_days AS max_days
    FROM houses h JOIN users u ON u.id = h.user_id WHERE h.id = ?1";

/// In upload order; the first is the cover.
const PHOTOS: &str = "SELECT file_id FROM house_images WHERE house_id = ?1 ORDER BY id";

const FACILITIES: &str =
    "SELECT facility_id FROM house_facilities WHERE house_id = ?1 ORDER BY facility_id";

/// Guest name, text and time of finished stays, newest first. Parameters:
/// house, how many.
const COMMENTS: &str = "SELECT u.name AS guest_name, o.comment AS comment,
        o.updated_at AS commented_at
    FROM orders o JOIN users u ON u.id = o.user_id
    WHERE o.house_id = ?1 AND o.status = 'COMPLETE'
    ORDER BY o.updated_at DESC, o.id DESC LIMIT ?2";

/// The calendar: stays not over by today (`?2`), earliest first.
const BOOKED_NIGHTS: &str = concat!(
    "SELECT start_date, end_date FROM orders
     WHERE house_id = ?1 AND status IN (",
    active_statuses!(),
    ") AND end_date > ?2
     ORDER BY start_date"
);

fn load(db: &impl Sql, view: &View, house_id: i64, today: Date) -> ApiResult<HouseDetail> {
    let house = db.query(HOUSE, params![house_id])?;
    let h = house
        .first()
        .ok_or_else(|| ApiError::not_found(format!("房屋 {house_id} 不存在")))?;
    let img_urls = db
        .query(PHOTOS, params![house_id])?
        .map(|r| Ok(view.image(&r.text("file_id")?)))?;
    let facilities = db
        .query(FACILITIES, params![house_id])?
        .map(|r| r.int("facility_id"))?;
    let comments = db
        .query(COMMENTS, params![house_id, MAX_COMMENTS])?
        .map(|r| {
            Ok(Comment {
                user_name: r.text("guest_name")?,
                comment: r.text("comment")?,
                ctime: view.timestamp(r.int("commented_at")?),
            })
        })?;
    let booked = db
        .query(BOOKED_NIGHTS, params![house_id, today])?
        .map(|r| {
            Ok(Booked {
                start_date: r.text("start_date")?,
                end_date: r.text("end_date")?,
            })
        })?;
    Ok(HouseDetail {
        hid: h.int("hid")?,
        user_id: h.int("owner_id")?,
        user_name: h.text("owner_name")?,
        user_avatar: view.image(&h.text_or_empty("owner_avatar")?),
        title: h.text("title")?,
        price: h.int("price")?,
        address: h.text("address")?,
        room_count: h.int("room_count")?,
        acreage: h.int("acreage")?,
        unit: h.text("unit")?,
        capacity: h.int("capacity")?,
        beds: h.text("beds")?,
        deposit: h.int("deposit")?,
        min_days: h.int("min_days")?,
        max_days: h.int("max_days")?,
        img_urls,
        facilities,
        comments,
        booked,
    })
}
