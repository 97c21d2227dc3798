//! The reads the native baseline serves, written like the components write
//! them: the areas list and the house detail with its joins.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::dates;

/// spin.toml's `image_base_url` default.
pub const DEFAULT_IMAGE_BASE_URL: &str = "/images/";
/// spin.toml's `utc_offset` default, +08:00.
pub const DEFAULT_UTC_OFFSET_SECS: i64 = 8 * 3600;
/// API.md: the detail shows the newest 10 comments.
pub const DETAIL_COMMENTS: i64 = 10;

/// How responses are rendered (image URLs, timestamps).
#[derive(Clone, Debug)]
pub struct DetailConfig {
    pub image_base: String,
    pub utc_offset_secs: i64,
}

impl DetailConfig {
    fn image(&self, file_id: &str) -> String {
        if file_id.is_empty() {
            String::new()
        } else {
            format!("{}{file_id}", self.image_base)
        }
    }
}

#[derive(Serialize)]
pub struct Area {
    pub aid: i64,
    pub aname: String,
}

pub fn areas(conn: &Connection) -> anyhow::Result<Vec<Area>> {
    let mut stmt = conn.prepare_cached("SELECT id, name FROM areas ORDER BY id")?;
    let rows = stmt.query_map([], |r| {
        Ok(Area {
            aid: r.get(0)?,
            aname: r.get(1)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[derive(Serialize)]
pub struct DetailPage {
    pub user_id: i64,
    pub house: HouseDetail,
}

#[derive(Serialize)]
pub struct Comment {
    pub user_name: String,
    pub comment: String,
    pub ctime: String,
}

#[derive(Serialize)]
pub struct Booked {
    pub start_date: String,
    pub end_date: String,
}

#[derive(Serialize)]
pub struct HouseDetail {
    pub hid: i64,
    pub user_id: i64,
    pub user_name: String,
    pub user_avatar: String,
    pub title: String,
    pub price: i64,
    pub address: String,
    pub room_count: i64,
    pub acreage: i64,
    pub unit: String,
    pub capacity: i64,
    pub beds: String,
    pub deposit: i64,
    pub min_days: i64,
    pub max_days: i64,
    pub img_urls: Vec<String>,
    pub facilities: Vec<i64>,
    pub comments: Vec<Comment>,
    pub booked: Vec<Booked>,
}

const HOUSE_SQL: &str = "SELECT h.id, h.user_id, u.name, u.avatar, h.title, h.price, h.address,
        h.room_count, h.acreage, h.unit, h.capacity, h.beds, h.deposit, h.min_days, h.max_days
     FROM houses h JOIN users u ON u.id = h.user_id WHERE h.id = ?1";
const IMAGES_SQL: &str = "SELECT file_id FROM house_images WHERE house_id = ?1 ORDER BY id";
const FACILITIES_SQL: &str =
    "SELECT facility_id FROM house_facilities WHERE house_id = ?1 ORDER BY facility_id";
const COMMENTS_SQL: &str = "SELECT u.name, o.comment, o.updated_at
     FROM orders o JOIN users u ON u.id = o.user_id
     WHERE o.house_id = ?1 AND o.status = 'COMPLETE'
     ORDER BY o.updated_at DESC, o.id DESC LIMIT ?2";
const BOOKED_SQL: &str = "SELECT start_date, end_date FROM orders
     WHERE house_id = ?1 AND status IN ('WAIT_ACCEPT', 'WAIT_COMMENT', 'COMPLETE')
       AND end_date > ?2
     ORDER BY start_date";

/// The detail of house `id`, `None` when it does not exist.
pub fn house_detail(
    conn: &Connection,
    id: i64,
    config: &DetailConfig,
) -> anyhow::Result<Option<HouseDetail>> {
    let mut stmt = conn.prepare_cached(HOUSE_SQL)?;
    let house = stmt
        .query_row([id], |r| {
            Ok(HouseDetail {
                hid: r.get(0)?,
                user_id: r.get(1)?,
                user_name: r.get(2)?,
                user_avatar: config.image(&r.get::<_, String>(3)?),
                title: r.get(4)?,
                price: r.get(5)?,
                address: r.get(6)?,
                room_count: r.get(7)?,
                acreage: r.get(8)?,
                unit: r.get(9)?,
                capacity: r.get(10)?,
                beds: r.get(11)?,
                deposit: r.get(12)?,
                min_days: r.get(13)?,
                max_days: r.get(14)?,
                img_urls: Vec::new(),
                facilities: Vec::new(),
                comments: Vec::new(),
                booked: Vec::new(),
            })
        })
        .optional()?;
    let Some(mut house) = house else {
        return Ok(None);
    };
    let mut stmt = conn.prepare_cached(IMAGES_SQL)?;
    house.img_urls = stmt
        .query_map([id], |r| Ok(config.image(&r.get::<_, String>(0)?)))?
        .collect::<Result<_, _>>()?;
    let mut stmt = conn.prepare_cached(FACILITIES_SQL)?;
    house.facilities = stmt
        .query_map([id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut stmt = conn.prepare_cached(COMMENTS_SQL)?;
    house.comments = stmt
        .query_map(params![id, DETAIL_COMMENTS], |r| {
            Ok(Comment {
                user_name: r.get(0)?,
                comment: r.get(1)?,
                ctime: dates::format_timestamp(r.get(2)?, config.utc_offset_secs),
            })
        })?
        .collect::<Result<_, _>>()?;
    let today = dates::today(config.utc_offset_secs);
    let mut stmt = conn.prepare_cached(BOOKED_SQL)?;
    house.booked = stmt
        .query_map(params![id, today.to_string()], |r| {
            Ok(Booked {
                start_date: r.get(0)?,
                end_date: r.get(1)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(Some(house))
}
