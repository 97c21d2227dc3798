//! Houses: the publish form (validated once at the edge), the `HouseItem`
//! list shape that search, the index carousel and "my houses" all return, and
//! the search query.
//!
//! Every SQL text here is a constant or is assembled from constant fragments;
//! user input only ever reaches SQLite as a bound parameter. The tests at the
//! bottom prepare each statement against the migrated schema and check that
//! search uses the indexes of migration 2.

use std::ops::RangeInclusive;

use serde::{Deserialize, Serialize};
use spin_sdk::sqlite::{RowResult, Value};

use crate::clock::{self, Date};
use crate::db::{Db, RowExt, int, text};
use crate::de::{Decimal, flex_i64, flex_i64_vec};
use crate::domain::{DateRange, PriceFen, bounded_text};
use crate::errno::{ApiError, ApiResult};
use crate::http::parse_id;
use crate::images;
use crate::orders::ACTIVE_STATUSES_SQL;

/// Limits of the publish form (API.md, "Publishing a house").
pub const TITLE_CHARS: RangeInclusive<usize> = 1..=64;
pub const ADDRESS_CHARS: RangeInclusive<usize> = 1..=512;
/// The layout text ("两室一厅"); API.md is silent, a short phrase is plenty.
pub const UNIT_CHARS: RangeInclusive<usize> = 1..=32;
/// The beds text ("双人床2张"); API.md is silent, likewise.
pub const BEDS_CHARS: RangeInclusive<usize> = 1..=64;
pub const PRICE_YUAN: RangeInclusive<i64> = 1..=1_000_000;
pub const DEPOSIT_YUAN: RangeInclusive<i64> = 0..=1_000_000;
pub const ROOM_COUNT: RangeInclusive<i64> = 1..=50;
pub const ACREAGE: RangeInclusive<i64> = 1..=10_000;
pub const CAPACITY: RangeInclusive<i64> = 1..=100;
/// min_days / max_days bound. API.md only asks min_days ≥ 1; without an upper
/// bound a typo (or 10^18) would make a house unbookable forever. A short-stay
/// site's longest sensible minimum or maximum stay is a year.
pub const STAY_DAYS: RangeInclusive<i64> = 1..=365;
/// More entries than there are facilities can only be junk (23 are seeded;
/// the slack leaves room for new ones without a code change).
pub const MAX_FACILITY_IDS: usize = 64;

/// Search results per page (API.md).
pub const PAGE_SIZE: i64 = 10;
/// Houses in the index carousel (API.md).
pub const INDEX_SIZE: i64 = 5;

/// The publish form as it arrives: numbers as JSON numbers or decimal strings.
/// `facility` may be omitted (a house without listed facilities).
#[derive(Deserialize)]
pub struct NewHouseRequest {
    pub title: String,
    pub price: Decimal,
    #[serde(deserialize_with = "flex_i64")]
    pub area_id: i64,
    pub address: String,
    #[serde(deserialize_with = "flex_i64")]
    pub room_count: i64,
    #[serde(deserialize_with = "flex_i64")]
    pub acreage: i64,
    pub unit: String,
    #[serde(deserialize_with = "flex_i64")]
    pub capacity: i64,
    pub beds: String,
    pub deposit: Decimal,
    #[serde(deserialize_with = "flex_i64")]
    pub min_days: i64,
    #[serde(deserialize_with = "flex_i64")]
    pub max_days: i64,
    #[serde(default, deserialize_with = "flex_i64_vec")]
    pub facility: Vec<i64>,
}

/// A validated house. Whether `area_id` and `facilities` exist is checked
/// against the database when it is inserted ([`NewHouse::insert`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewHouse {
    pub title: String,
    pub price: PriceFen,
    pub area_id: i64,
    pub address: String,
    pub room_count: i64,
    pub acreage: i64,
    pub unit: String,
    pub capacity: i64,
    pub beds: String,
    pub deposit: PriceFen,
    pub min_days: i64,
    /// 0 = unlimited.
    pub max_days: i64,
    /// Sorted, without duplicates.
    pub facilities: Vec<i64>,
}

fn text_field(raw: &str, chars: &RangeInclusive<usize>, what: &str) -> ApiResult<String> {
    bounded_text(raw, *chars.start(), *chars.end(), what)
}

fn int_field(v: i64, range: &RangeInclusive<i64>, what: &str) -> ApiResult<i64> {
    if range.contains(&v) {
        Ok(v)
    } else {
        Err(ApiError::param(format!(
            "{what}须在 {}-{} 之间",
            range.start(),
            range.end()
        )))
    }
}

impl NewHouse {
    pub fn parse(req: NewHouseRequest) -> ApiResult<NewHouse> {
        let min_days = int_field(req.min_days, &STAY_DAYS, "最短入住天数")?;
        let max_days = if req.max_days == 0 {
            0
        } else {
            int_field(req.max_days, &STAY_DAYS, "最长入住天数")?
        };
        if max_days != 0 && max_days < min_days {
            return Err(ApiError::param(
                "最长入住天数须为 0（不限）或不小于最短入住天数",
            ));
        }
        if req.facility.len() > MAX_FACILITY_IDS {
            return Err(ApiError::param("设施过多"));
        }
        let mut facilities = req.facility;
        if facilities.iter().any(|&id| id <= 0) {
            return Err(ApiError::param("无效的设施编号"));
        }
        facilities.sort_unstable();
        facilities.dedup();
        if req.area_id <= 0 {
            return Err(ApiError::param("无效的城区编号"));
        }
        Ok(NewHouse {
            title: text_field(&req.title, &TITLE_CHARS, "标题")?,
            price: PriceFen::from_yuan(&req.price, *PRICE_YUAN.start(), *PRICE_YUAN.end(), "价格")?,
            area_id: req.area_id,
            address: text_field(&req.address, &ADDRESS_CHARS, "地址")?,
            room_count: int_field(req.room_count, &ROOM_COUNT, "房间数")?,
            acreage: int_field(req.acreage, &ACREAGE, "面积")?,
            unit: text_field(&req.unit, &UNIT_CHARS, "户型")?,
            capacity: int_field(req.capacity, &CAPACITY, "宜住人数")?,
            beds: text_field(&req.beds, &BEDS_CHARS, "卧床配置")?,
            deposit: PriceFen::from_yuan(
                &req.deposit,
                *DEPOSIT_YUAN.start(),
                *DEPOSIT_YUAN.end(),
                "押金",
            )?,
            min_days,
            max_days,
            facilities,
        })
    }

    /// Inserts the house and its facilities in one transaction; an unknown
    /// area or facility id is 4103 and leaves nothing behind.
    pub fn insert(&self, db: &Db, owner: i64, now: i64) -> ApiResult<i64> {
        db.write_tx(|db| {
            let house_id = db
                .query_i64(
                    INSERT_HOUSE_SQL,
                    &[
                        int(owner),
                        int(self.area_id),
                        text(self.title.as_str()),
                        int(self.price.0),
                        text(self.address.as_str()),
                        int(self.room_count),
                        int(self.acreage),
                        text(self.unit.as_str()),
                        int(self.capacity),
                        text(self.beds.as_str()),
                        int(self.deposit.0),
                        int(self.min_days),
                        int(self.max_days),
                        int(now),
                    ],
                )?
                .ok_or_else(|| ApiError::param(format!("不存在的城区: {}", self.area_id)))?;
            if !self.facilities.is_empty() {
                let mut params = vec![int(house_id)];
                params.extend(self.facilities.iter().map(|&id| int(id)));
                db.execute(&insert_facilities_sql(self.facilities.len()), &params)?;
                if db.changes()? != self.facilities.len() as i64 {
                    return Err(ApiError::param("含有不存在的设施编号"));
                }
            }
            Ok(house_id)
        })
    }
}

/// Inserts only when the area exists (no row, no id: the caller's 4103).
pub const INSERT_HOUSE_SQL: &str = "INSERT INTO houses (user_id, area_id, title, price, address,
        room_count, acreage, unit, capacity, beds, deposit, min_days, max_days, created_at)
    SELECT ?1, a.id, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14
    FROM areas a WHERE a.id = ?2
    RETURNING id";

/// Links only the facility ids that exist, so `changes()` tells whether all did.
pub fn insert_facilities_sql(n: usize) -> String {
    let marks = vec!["?"; n].join(", ");
    format!(
        "INSERT INTO house_facilities (house_id, facility_id)
         SELECT ?1, f.id FROM facilities f WHERE f.id IN ({marks})"
    )
}

/// Whether the user passed real-name verification (needed to publish).
pub const IS_VERIFIED_SQL: &str =
    "SELECT count(*) FROM users WHERE id = ? AND coalesce(real_name, '') <> ''";

pub const AREA_EXISTS_SQL: &str = "SELECT count(*) FROM areas WHERE id = ?";

/// How list entries are rendered: the image base URL and the time zone, read
/// once per request rather than once per row.
#[derive(Clone, Debug)]
pub struct View {
    pub image_base: String,
    pub utc_offset: i64,
}

impl View {
    /// From the component's Spin variables.
    pub fn from_config() -> View {
        View {
            image_base: images::base_url(),
            utc_offset: clock::utc_offset_secs(),
        }
    }

    pub fn image(&self, file_id: &str) -> String {
        images::url_with(&self.image_base, file_id)
    }

    pub fn timestamp(&self, unix: i64) -> String {
        clock::format_timestamp_at(unix, self.utc_offset)
    }
}

/// One house in a list (search, index carousel, the landlord's houses).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct HouseItem {
    pub house_id: i64,
    pub title: String,
    /// Fen per night.
    pub price: i64,
    pub area_name: String,
    /// The cover image, `""` when none.
    pub img_url: String,
    pub room_count: i64,
    pub order_count: i64,
    pub address: String,
    /// The landlord's avatar, `""` when none.
    pub user_avatar: String,
    pub ctime: String,
}

/// The columns [`HouseItem::from_row`] reads, with the joins they need;
/// callers append `WHERE` / `ORDER BY`.
macro_rules! house_item_select {
    () => {
        "SELECT h.id, h.title, h.price, a.name, h.index_image, h.room_count,
                h.order_count, h.address, u.avatar, h.created_at
         FROM houses h
         JOIN areas a ON a.id = h.area_id
         JOIN users u ON u.id = h.user_id"
    };
}

/// The landlord's houses, newest first.
pub const USER_HOUSES_SQL: &str = concat!(
    house_item_select!(),
    " WHERE h.user_id = ? ORDER BY h.id DESC"
);

/// The carousel: houses with a cover, most booked first (ties: newest).
pub const INDEX_HOUSES_SQL: &str = concat!(
    house_item_select!(),
    " WHERE h.index_image <> '' ORDER BY h.order_count DESC, h.id DESC LIMIT ?"
);

impl HouseItem {
    pub fn from_row(row: &RowResult, view: &View) -> ApiResult<HouseItem> {
        Ok(HouseItem {
            house_id: row.int(0)?,
            title: row.text(1)?,
            price: row.int(2)?,
            area_name: row.text(3)?,
            img_url: view.image(&row.text_or_empty(4)?),
            room_count: row.int(5)?,
            order_count: row.int(6)?,
            address: row.text(7)?,
            user_avatar: view.image(&row.text_or_empty(8)?),
            ctime: view.timestamp(row.int(9)?),
        })
    }

    /// Runs a `house_item_select!`-based query.
    pub fn list(db: &Db, sql: &str, params: &[Value], view: &View) -> ApiResult<Vec<HouseItem>> {
        db.query(sql, params)?
            .iter()
            .map(|row| HouseItem::from_row(row, view))
            .collect()
    }
}

/// Search order (`sk`). Ties are broken by house id in the direction of the
/// main key, so each order is exactly an index order (see migration 2) and
/// pages are stable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortKey {
    /// Newest first (house ids grow with publication time).
    New,
    /// Most completed orders first, then newest.
    Booking,
    /// Cheapest first, then oldest.
    PriceInc,
    /// Dearest first, then newest.
    PriceDes,
}

impl SortKey {
    pub fn parse(raw: Option<&str>) -> ApiResult<SortKey> {
        match raw {
            None | Some("new") => Ok(SortKey::New),
            Some("booking") => Ok(SortKey::Booking),
            Some("price-inc") => Ok(SortKey::PriceInc),
            Some("price-des") => Ok(SortKey::PriceDes),
            Some(other) => Err(ApiError::param(format!(
                "无效的排序方式: {other}（new, booking, price-inc, price-des）"
            ))),
        }
    }

    fn order_by(self) -> &'static str {
        match self {
            SortKey::New => "h.id DESC",
            SortKey::Booking => "h.order_count DESC, h.id DESC",
            SortKey::PriceInc => "h.price ASC, h.id ASC",
            SortKey::PriceDes => "h.price DESC, h.id DESC",
        }
    }
}

/// The stay a search asks about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StayWindow {
    Any,
    /// Only `sd`: nights from `sd` on.
    From(Date),
    /// Only `ed`: nights before `ed` (and, since past nights cannot be
    /// booked, from today on).
    Until(Date),
    Between(DateRange),
}

/// A parsed `GET /houses` query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SearchQuery {
    pub area_id: Option<i64>,
    pub window: StayWindow,
    pub sort: SortKey,
    /// 1-based.
    pub page: i64,
}

impl SearchQuery {
    /// Query-string values, absent or empty meaning "not given".
    pub fn parse(
        aid: Option<&str>,
        sd: Option<&str>,
        ed: Option<&str>,
        sk: Option<&str>,
        p: Option<&str>,
    ) -> ApiResult<SearchQuery> {
        let area_id = aid
            .map(|a| parse_id(a).ok_or_else(|| ApiError::param(format!("无效的城区编号: {a}"))))
            .transpose()?;
        let date =
            |s: &str| Date::parse(s).ok_or_else(|| ApiError::param(format!("无效的日期: {s}")));
        let window = match (sd, ed) {
            (None, None) => StayWindow::Any,
            (Some(sd), None) => StayWindow::From(date(sd)?),
            (None, Some(ed)) => StayWindow::Until(date(ed)?),
            (Some(sd), Some(ed)) => StayWindow::Between(DateRange::parse(sd, ed)?),
        };
        let page = match p {
            None => 1,
            Some(p) => parse_id(p).ok_or_else(|| ApiError::param(format!("无效的页码: {p}")))?,
        };
        Ok(SearchQuery {
            area_id,
            window,
            sort: SortKey::parse(sk)?,
            page,
        })
    }

    /// ` WHERE …` (or nothing) and its parameters, shared by the count and
    /// the page query so both see the same houses.
    fn filter(&self, today: Date) -> (String, Vec<Value>) {
        let mut clauses: Vec<String> = Vec::new();
        let mut params = Vec::new();
        if let Some(area) = self.area_id {
            clauses.push("h.area_id = ?".into());
            params.push(int(area));
        }
        // An active order on any of the asked nights excludes the house:
        // `o.start < ed AND o.end > sd`, or its one-sided forms.
        let overlap = match self.window {
            StayWindow::Any => None,
            StayWindow::From(sd) => {
                params.push(text(sd.to_string()));
                Some("o.end_date > ?")
            }
            StayWindow::Until(ed) => {
                params.push(text(ed.to_string()));
                params.push(text(today.to_string()));
                Some("o.start_date < ? AND o.end_date > ?")
            }
            StayWindow::Between(range) => {
                clauses.push("h.min_days <= ? AND (h.max_days = 0 OR h.max_days >= ?)".into());
                params.push(int(range.nights()));
                params.push(int(range.nights()));
                params.push(text(range.end.to_string()));
                params.push(text(range.start.to_string()));
                Some("o.start_date < ? AND o.end_date > ?")
            }
        };
        if let Some(overlap) = overlap {
            clauses.push(format!(
                "NOT EXISTS (SELECT 1 FROM orders o WHERE o.house_id = h.id \
                 AND o.status IN ({}) AND {overlap})",
                ACTIVE_STATUSES_SQL
            ));
        }
        if clauses.is_empty() {
            (String::new(), params)
        } else {
            (format!(" WHERE {}", clauses.join(" AND ")), params)
        }
    }

    /// `SELECT count(*)` of every matching house.
    pub fn count_sql(&self, today: Date) -> (String, Vec<Value>) {
        let (filter, params) = self.filter(today);
        (format!("SELECT count(*) FROM houses h{filter}"), params)
    }

    /// The requested page of [`HouseItem`] rows.
    pub fn page_sql(&self, today: Date) -> (String, Vec<Value>) {
        let (filter, mut params) = self.filter(today);
        params.push(int(PAGE_SIZE));
        params.push(int((self.page - 1).saturating_mul(PAGE_SIZE)));
        (
            format!(
                "{}{filter} ORDER BY {} LIMIT ? OFFSET ?",
                house_item_select!(),
                self.sort.order_by()
            ),
            params,
        )
    }
}

/// Pages needed for `total` results (0 for none).
pub fn total_pages(total: i64) -> i64 {
    (total + PAGE_SIZE - 1) / PAGE_SIZE
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(json: &str) -> ApiResult<NewHouse> {
        let req: NewHouseRequest =
            serde_json::from_str(json).map_err(|e| ApiError::param(e.to_string()))?;
        NewHouse::parse(req)
    }

    const GOOD: &str = r#"{"title":" 海景房 ","price":"199.5","area_id":"3","address":"朝阳路1号",
        "room_count":2,"acreage":"80","unit":"两室一厅","capacity":4,"beds":"双人床2张",
        "deposit":0,"min_days":"1","max_days":0,"facility":["3",1,3]}"#;

    #[test]
    fn a_good_house_is_normalised() {
        let h = request(GOOD).unwrap();
        assert_eq!(h.title, "海景房");
        assert_eq!(h.price, PriceFen(19_950));
        assert_eq!(h.deposit, PriceFen(0));
        assert_eq!((h.area_id, h.acreage, h.max_days), (3, 80, 0));
        assert_eq!(h.facilities, vec![1, 3]);
    }

    #[test]
    fn every_field_is_bounded() {
        let with = |field: &str, value: &str| {
            let mut v: serde_json::Value = serde_json::from_str(GOOD).unwrap();
            v[field] = serde_json::from_str(value).unwrap();
            request(&v.to_string())
        };
        for (field, bad) in [
            ("title", r#""""#),
            ("title", &format!("\"{}\"", "x".repeat(65))),
            ("title", "12"),
            ("price", "0"),
            ("price", "0.99"),
            ("price", "1000000.01"),
            ("price", r#""12.345""#),
            ("price", r#""abc""#),
            ("price", "-5"),
            ("deposit", "-0.01"),
            ("deposit", "1e300"),
            ("area_id", "0"),
            ("area_id", "-1"),
            ("area_id", "1.5"),
            ("room_count", "0"),
            ("room_count", "51"),
            ("acreage", "10001"),
            ("capacity", "0"),
            ("capacity", "101"),
            ("capacity", "true"),
            ("unit", r#""""#),
            ("beds", &format!("\"{}\"", "床".repeat(65))),
            ("address", r#"" ""#),
            ("min_days", "0"),
            ("min_days", "366"),
            ("max_days", "-1"),
            ("max_days", "100000000000000000000"),
            ("facility", "[0]"),
            ("facility", "[\"x\"]"),
            ("facility", "3"),
        ] {
            assert!(with(field, bad).is_err(), "{field} = {bad} was accepted");
        }
        assert!(with("max_days", "1").is_ok());
        let mut v: serde_json::Value = serde_json::from_str(GOOD).unwrap();
        v["min_days"] = 5.into();
        v["max_days"] = 4.into();
        assert!(request(&v.to_string()).is_err(), "max below min");
        v.as_object_mut().unwrap().remove("facility");
        v["max_days"] = 0.into();
        assert_eq!(
            request(&v.to_string()).unwrap().facilities,
            Vec::<i64>::new()
        );
        v.as_object_mut().unwrap().remove("title");
        assert!(request(&v.to_string()).is_err(), "missing title");
    }

    #[test]
    fn search_parameters() {
        let q = |aid, sd, ed, sk, p| SearchQuery::parse(aid, sd, ed, sk, p);
        let d = SearchQuery::parse(None, None, None, None, None).unwrap();
        assert_eq!(
            (d.area_id, d.window, d.sort, d.page),
            (None, StayWindow::Any, SortKey::New, 1)
        );
        assert!(q(Some("x"), None, None, None, None).is_err());
        assert!(q(None, Some("2026-02-30"), None, None, None).is_err());
        assert!(q(None, Some("2026-03-02"), Some("2026-03-02"), None, None).is_err());
        assert!(q(None, Some("2026-03-03"), Some("2026-03-02"), None, None).is_err());
        assert!(q(None, None, None, Some("cheap"), None).is_err());
        for bad_page in ["0", "-1", "1.5", "a"] {
            assert!(
                q(None, None, None, None, Some(bad_page)).is_err(),
                "{bad_page}"
            );
        }
        let r = q(
            Some("2"),
            Some("2026-03-01"),
            Some("2026-03-04"),
            Some("price-des"),
            Some("3"),
        )
        .unwrap();
        assert_eq!((r.area_id, r.sort, r.page), (Some(2), SortKey::PriceDes, 3));
        assert!(matches!(r.window, StayWindow::Between(range) if range.nights() == 3));
        assert_eq!(total_pages(0), 0);
        assert_eq!(total_pages(10), 1);
        assert_eq!(total_pages(11), 2);
    }
}
