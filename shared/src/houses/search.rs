//! `GET /houses`: the query ([`SearchQuery`]) and [`search`], one page of the
//! published houses that are free for a stay and match the filters, in the
//! order asked for.
//!
//! Availability rests on [`crate::nights`]: a house is free for `[sd, ed)`
//! when `house_nights` holds none of those nights at the moment of the
//! search (booked, blocked, or a request before its deadline), one
//! seek of its primary key per house, bounded by the stay's length however
//! long the house's history. Two statements share one filter, so they see
//! the same houses: the count behind `total_page` and the page itself. Each
//! sort is an index order (migrations 2 and 7); `shared/tests/search_plan.rs`
//! checks the plans at scale.
//!
//! Pages are cached in the key-value store under a key holding the cache
//! generation ([`cache::generation`]), today's date and the whole query.
//! Every write that can change a result (a booking, a status change, a
//! comment, a publish, an edit, blocked nights, an avatar) invalidates
//! through [`cache::invalidate`], which changes the generation, so the next
//! search, on any instance sharing the store, builds its page afresh: no
//! stale page, without tracking which queries a write touched. A page of a
//! date search is also kept no longer than the next request deadline
//! ([`nights::next_deadline`], [`cache::lifetime`]): from that instant
//! the request's nights are free without any write. A hit costs two
//! key-value reads; a miss the two statements (and the deadline seek).

use serde::Serialize;

use crate::cache;
use crate::clock::Date;
use crate::de::Decimal;
use crate::domain::{DateRange, PriceFen};
use crate::errno::{ApiError, ApiResult};
use crate::http::parse_id;
use crate::nights;
use crate::params;
use crate::store::{Kv, Sql, Value};

use super::publish::{CAPACITY, PRICE_YUAN};
use super::{Cached, HouseItem, View, house_items};

/// Search results per page (openapi.yaml, GET `/houses`).
pub const PAGE_SIZE: i64 = 10;

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
    /// Best average rating first, unrated houses last, then newest.
    Rating,
}

impl SortKey {
    pub fn parse(raw: Option<&str>) -> ApiResult<SortKey> {
        match raw {
            None | Some("new") => Ok(SortKey::New),
            Some("booking") => Ok(SortKey::Booking),
            Some("price-inc") => Ok(SortKey::PriceInc),
            Some("price-des") => Ok(SortKey::PriceDes),
            Some("rating") => Ok(SortKey::Rating),
            Some(other) => Err(ApiError::param(format!(
                "无效的排序方式: {other}（new, booking, price-inc, price-des, rating）"
            ))),
        }
    }

    fn order_by(self) -> &'static str {
        match self {
            SortKey::New => "h.id DESC",
            SortKey::Booking => "h.order_count DESC, h.id DESC",
            SortKey::PriceInc => "h.price ASC, h.id ASC",
            SortKey::PriceDes => "h.price DESC, h.id DESC",
            // NULLS LAST is SQLite's default for DESC and explicit for
            // PostgreSQL, whose default puts NULLs first.
            SortKey::Rating => "h.rating_avg DESC NULLS LAST, h.id DESC",
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            SortKey::New => "new",
            SortKey::Booking => "booking",
            SortKey::PriceInc => "price-inc",
            SortKey::PriceDes => "price-des",
            SortKey::Rating => "rating",
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

/// `GET /houses` query-string values as they arrive; absent or empty means
/// "not given".
#[derive(Clone, Copy, Debug, Default)]
pub struct SearchParams<'a> {
    pub aid: Option<&'a str>,
    pub sd: Option<&'a str>,
    pub ed: Option<&'a str>,
    pub sk: Option<&'a str>,
    pub p: Option<&'a str>,
    pub min_price: Option<&'a str>,
    pub max_price: Option<&'a str>,
    pub guests: Option<&'a str>,
}

/// A parsed `GET /houses` query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SearchQuery {
    pub area_id: Option<i64>,
    pub window: StayWindow,
    /// Fen per night, inclusive.
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    /// Houses whose capacity is at least this.
    pub guests: Option<i64>,
    pub sort: SortKey,
    /// 1-based.
    pub page: i64,
}

/// What `GET /houses` answers.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct SearchPage {
    pub houses: Vec<HouseItem>,
    /// Pages of results, 0 for none.
    pub total_page: i64,
    pub current_page: i64,
}

/// 1 when the area exists.
const AREA_EXISTS: &str = "SELECT count(*) AS found FROM areas WHERE id = ?1";

/// Lifetime of a cached page. A write makes every page unreachable at once
/// (the generation in the key moves on); this only bounds how long pages of
/// past generations occupy the store.
const PAGE_TTL_SECS: i64 = 300;
/// Cached pages live in this many slots (`cache:search:<slot>`), each
/// holding the last page stored there with the full key it is for: the
/// store holds at most this many pages however many different queries,
/// dates and generations there are. (A key per page let a burst of new
/// queries fill the store with tens of thousands of pages for their TTL,
/// which every key scan then paid for.) Two queries sharing a slot take
/// turns; a slot never answers for a query other than its own.
pub const PAGE_SLOTS: u64 = 4096;

/// The page of `query` on `today` at `now`, from the cache or built from
/// `db` (read only on a miss). An unknown area is 4103;
/// a page past the last is empty, with the true `total_page`.
pub fn search(
    db: &impl Sql,
    kv: &impl Kv,
    view: &View,
    query: &SearchQuery,
    today: Date,
    now: i64,
) -> ApiResult<Cached<SearchPage>> {
    let key = format!("{}:{today}:{}", cache::generation(kv)?, query.cache_key());
    let slot = format!("cache:search:{}", cache::slot(&key, PAGE_SLOTS));
    if let Some(stored) = kv.get(&slot)?
        && let Some(json) = stored
            .strip_prefix(key.as_bytes())
            .and_then(|rest| rest.strip_prefix(b"\n"))
    {
        let hit = serde_json::from_slice(json).map_err(ApiError::internal)?;
        return Ok(Cached::Hit(hit));
    }
    let page = search_fresh(db, view, query, today, now)?;
    let true_until = match query.window {
        StayWindow::Any => None,
        _ => nights::next_deadline(db, now)?,
    };
    if let Some(ttl) = cache::lifetime(PAGE_TTL_SECS, true_until, now) {
        let mut stored = key.into_bytes();
        stored.push(b'\n');
        serde_json::to_writer(&mut stored, &page).map_err(ApiError::internal)?;
        kv.put(&slot, &stored, ttl)?;
    }
    Ok(Cached::Built(page))
}

/// The page of `query` at `now`, straight from the database.
pub fn search_fresh(
    db: &impl Sql,
    view: &View,
    query: &SearchQuery,
    today: Date,
    now: i64,
) -> ApiResult<SearchPage> {
    if let Some(area) = query.area_id
        && db.query_i64(AREA_EXISTS, params![area])? != Some(1)
    {
        return Err(ApiError::param(format!("不存在的城区: {area}")));
    }
    let (count_sql, params) = query.count_statement(today, now);
    let total_page = total_pages(db.query_i64(&count_sql, &params)?.unwrap_or(0));
    let houses = if query.page > total_page {
        Vec::new()
    } else {
        let (page_sql, params) = query.page_statement(today, now);
        house_items(db, &page_sql, &params, view)?
    };
    Ok(SearchPage {
        houses,
        total_page,
        current_page: query.page,
    })
}

/// Pages needed for `total` results (0 for none).
fn total_pages(total: i64) -> i64 {
    (total + PAGE_SIZE - 1) / PAGE_SIZE
}

/// Binds `value` as the next numbered parameter and returns its mark (`?3`).
fn bind(params: &mut Vec<Value>, value: impl Into<Value>) -> String {
    format!("?{}", bind_mark(params, value))
}

/// Binds `value` as the next numbered parameter and returns its number.
fn bind_mark(params: &mut Vec<Value>, value: impl Into<Value>) -> usize {
    params.push(value.into());
    params.len()
}

impl SearchQuery {
    /// The query string's values, each checked (4103 with the reason).
    pub fn parse(raw: &SearchParams<'_>) -> ApiResult<SearchQuery> {
        let area_id = given(raw.aid)
            .map(|a| parse_id(a).ok_or_else(|| ApiError::param(format!("无效的城区编号: {a}"))))
            .transpose()?;
        let date =
            |s: &str| Date::parse(s).ok_or_else(|| ApiError::param(format!("无效的日期: {s}")));
        let window = match (given(raw.sd), given(raw.ed)) {
            (None, None) => StayWindow::Any,
            (Some(sd), None) => StayWindow::From(date(sd)?),
            (None, Some(ed)) => StayWindow::Until(date(ed)?),
            (Some(sd), Some(ed)) => StayWindow::Between(DateRange::parse(sd, ed)?),
        };
        let page = match given(raw.p) {
            None => 1,
            Some(p) => parse_id(p).ok_or_else(|| ApiError::param(format!("无效的页码: {p}")))?,
        };
        let price = |v: Option<&str>, what: &str| -> ApiResult<Option<i64>> {
            let Some(v) = given(v) else { return Ok(None) };
            let decimal =
                Decimal::parse(v).ok_or_else(|| ApiError::param(format!("{what}须是数字: {v}")))?;
            Ok(Some(
                PriceFen::from_yuan(&decimal, 0, *PRICE_YUAN.end(), what)?.0,
            ))
        };
        let min_price = price(raw.min_price, "最低价格")?;
        let max_price = price(raw.max_price, "最高价格")?;
        if let (Some(min), Some(max)) = (min_price, max_price)
            && min > max
        {
            return Err(ApiError::param("最低价格不能高于最高价格"));
        }
        let guests = given(raw.guests)
            .map(|g| match parse_id(g) {
                Some(n) if CAPACITY.contains(&n) => Ok(n),
                _ => Err(ApiError::param(format!(
                    "入住人数须为 {}-{} 的整数: {g}",
                    CAPACITY.start(),
                    CAPACITY.end()
                ))),
            })
            .transpose()?;
        Ok(SearchQuery {
            area_id,
            window,
            min_price,
            max_price,
            guests,
            sort: SortKey::parse(given(raw.sk))?,
            page,
        })
    }

    /// The whole query as text, for the cache key: two queries with the
    /// same key have the same answer on the same day and generation.
    fn cache_key(&self) -> String {
        let opt = |v: Option<i64>| v.map_or(String::new(), |v| v.to_string());
        let window = match self.window {
            StayWindow::Any => String::new(),
            StayWindow::From(sd) => format!("{sd}~"),
            StayWindow::Until(ed) => format!("~{ed}"),
            StayWindow::Between(r) => format!("{}~{}", r.start, r.end),
        };
        format!(
            "a{}:w{window}:p{}-{}:g{}:s{}:n{}",
            opt(self.area_id),
            opt(self.min_price),
            opt(self.max_price),
            opt(self.guests),
            self.sort.as_str(),
            self.page
        )
    }

    /// ` WHERE …` (or nothing) with its parameters in `params`, shared by
    /// the count and the page statement so both see the same houses.
    fn filter(&self, today: Date, now: i64, params: &mut Vec<Value>) -> String {
        // Unpublished houses are never found.
        let mut clauses: Vec<String> = vec!["h.published = 1".into()];
        if let Some(area) = self.area_id {
            clauses.push(format!("h.area_id = {}", bind(params, area)));
        }
        if let Some(min) = self.min_price {
            clauses.push(format!("h.price >= {}", bind(params, min)));
        }
        if let Some(max) = self.max_price {
            clauses.push(format!("h.price <= {}", bind(params, max)));
        }
        if let Some(guests) = self.guests {
            clauses.push(format!("h.capacity >= {}", bind(params, guests)));
        }
        // A held night (booked, blocked, or a request's before its
        // deadline) among the asked ones excludes the house; with one end
        // open, every night from `sd` on, or from today up to `ed`.
        let free = match self.window {
            StayWindow::Any => None,
            StayWindow::From(sd) => {
                let from = bind_mark(params, sd);
                Some(nights::free_during(from, None, bind_mark(params, now)))
            }
            StayWindow::Until(ed) => {
                let from = bind_mark(params, today);
                let until = bind_mark(params, ed);
                Some(nights::free_during(
                    from,
                    Some(until),
                    bind_mark(params, now),
                ))
            }
            StayWindow::Between(range) => {
                let nights = bind(params, range.nights());
                clauses.push(format!(
                    "h.min_days <= {nights} AND (h.max_days = 0 OR h.max_days >= {nights})"
                ));
                let from = bind_mark(params, range.start);
                let until = bind_mark(params, range.end);
                Some(nights::free_during(
                    from,
                    Some(until),
                    bind_mark(params, now),
                ))
            }
        };
        clauses.extend(free);
        format!(" WHERE {}", clauses.join(" AND "))
    }

    /// `SELECT count(*)` of every matching house.
    fn count_statement(&self, today: Date, now: i64) -> (String, Vec<Value>) {
        let mut params = Vec::new();
        let filter = self.filter(today, now, &mut params);
        (
            format!("SELECT count(*) AS houses FROM houses h{filter}"),
            params,
        )
    }

    /// The requested page of [`HouseItem`] rows.
    fn page_statement(&self, today: Date, now: i64) -> (String, Vec<Value>) {
        let mut params = Vec::new();
        let filter = self.filter(today, now, &mut params);
        let limit = bind(&mut params, PAGE_SIZE);
        let offset = bind(&mut params, (self.page - 1).saturating_mul(PAGE_SIZE));
        (
            format!(
                "{}{filter} ORDER BY {} LIMIT {limit} OFFSET {offset}",
                house_item_select!(),
                self.sort.order_by()
            ),
            params,
        )
    }
}

/// A query-string value, trimmed; empty means not given.
fn given(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(raw: SearchParams<'_>) -> ApiResult<SearchQuery> {
        SearchQuery::parse(&raw)
    }

    #[test]
    fn search_parameters() {
        let d = q(SearchParams::default()).unwrap();
        assert_eq!(
            (d.area_id, d.window, d.sort, d.page),
            (None, StayWindow::Any, SortKey::New, 1)
        );
        let bad = [
            SearchParams {
                aid: Some("x"),
                ..Default::default()
            },
            SearchParams {
                sd: Some("2026-02-30"),
                ..Default::default()
            },
            SearchParams {
                sd: Some("2026-03-02"),
                ed: Some("2026-03-02"),
                ..Default::default()
            },
            SearchParams {
                sd: Some("2026-03-03"),
                ed: Some("2026-03-02"),
                ..Default::default()
            },
            SearchParams {
                sk: Some("cheap"),
                ..Default::default()
            },
        ];
        for raw in bad {
            assert!(q(raw).is_err(), "{raw:?}");
        }
        for bad_page in ["0", "-1", "1.5", "a"] {
            assert!(
                q(SearchParams {
                    p: Some(bad_page),
                    ..Default::default()
                })
                .is_err(),
                "{bad_page}"
            );
        }
        let r = q(SearchParams {
            aid: Some("2"),
            sd: Some("2026-03-01"),
            ed: Some("2026-03-04"),
            sk: Some("price-des"),
            p: Some("3"),
            ..Default::default()
        })
        .unwrap();
        assert_eq!((r.area_id, r.sort, r.page), (Some(2), SortKey::PriceDes, 3));
        assert!(matches!(r.window, StayWindow::Between(range) if range.nights() == 3));
        assert_eq!(total_pages(0), 0);
        assert_eq!(total_pages(10), 1);
        assert_eq!(total_pages(11), 2);
    }

    #[test]
    fn price_and_guest_filters() {
        let r = q(SearchParams {
            min_price: Some("99.5"),
            max_price: Some(" 300 "),
            guests: Some("4"),
            sk: Some("rating"),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            (r.min_price, r.max_price, r.guests, r.sort),
            (Some(9950), Some(30000), Some(4), SortKey::Rating)
        );
        // Empty values are "not given", as for the other filters.
        let r = q(SearchParams {
            min_price: Some(""),
            guests: Some(""),
            ..Default::default()
        })
        .unwrap();
        assert_eq!((r.min_price, r.guests), (None, None));
        for raw in [
            SearchParams {
                min_price: Some("-1"),
                ..Default::default()
            },
            SearchParams {
                min_price: Some("1.234"),
                ..Default::default()
            },
            SearchParams {
                max_price: Some("abc"),
                ..Default::default()
            },
            SearchParams {
                max_price: Some("1e3"),
                ..Default::default()
            },
            SearchParams {
                max_price: Some("1000000.01"),
                ..Default::default()
            },
            SearchParams {
                min_price: Some("300"),
                max_price: Some("299.99"),
                ..Default::default()
            },
            SearchParams {
                guests: Some("0"),
                ..Default::default()
            },
            SearchParams {
                guests: Some("101"),
                ..Default::default()
            },
            SearchParams {
                guests: Some("2.5"),
                ..Default::default()
            },
        ] {
            let err = q(raw).unwrap_err();
            assert_eq!((err.errno.code(), err.status), ("4103", 400), "{raw:?}");
        }
    }

    #[test]
    fn equal_queries_share_a_cache_key_and_different_ones_do_not() {
        let key = |raw| q(raw).unwrap().cache_key();
        let base = SearchParams {
            aid: Some("3"),
            sd: Some("2026-03-01"),
            ed: Some("2026-03-04"),
            ..Default::default()
        };
        assert_eq!(
            key(base),
            key(SearchParams {
                sk: Some("new"),
                p: Some("1"),
                ..base
            })
        );
        let variants = [
            SearchParams {
                aid: Some("4"),
                ..base
            },
            SearchParams { sd: None, ..base },
            SearchParams { ed: None, ..base },
            SearchParams {
                min_price: Some("1"),
                ..base
            },
            SearchParams {
                max_price: Some("1"),
                ..base
            },
            SearchParams {
                guests: Some("2"),
                ..base
            },
            SearchParams {
                sk: Some("rating"),
                ..base
            },
            SearchParams {
                p: Some("2"),
                ..base
            },
        ];
        for v in variants {
            assert_ne!(key(base), key(v), "{v:?}");
        }
    }

    #[test]
    fn both_statements_bind_the_same_filter() {
        let today = Date::parse("2026-03-01").unwrap();
        let query = q(SearchParams {
            aid: Some("2"),
            sd: Some("2026-03-05"),
            ed: Some("2026-03-08"),
            sk: Some("booking"),
            p: Some("3"),
            ..Default::default()
        })
        .unwrap();
        let (count, count_params) = query.count_statement(today, 1_000);
        let (page, page_params) = query.page_statement(today, 1_000);
        // Area, nights (used twice), start, end, now; then the page's limit
        // and offset.
        assert_eq!(
            count_params,
            vec![
                Value::Int(2),
                Value::Int(3),
                Value::from("2026-03-05"),
                Value::from("2026-03-08"),
                Value::Int(1_000)
            ]
        );
        assert_eq!(page_params[..5], count_params[..]);
        assert_eq!(page_params[5..], [Value::Int(PAGE_SIZE), Value::Int(20)]);
        assert!(count.contains("h.published = 1"));
        assert!(count.contains("h.min_days <= ?2 AND (h.max_days = 0 OR h.max_days >= ?2)"));
        assert!(count.contains("n.night >= ?3 AND n.night < ?4"), "{count}");
        assert!(count.contains("n.expires_at > ?5"), "{count}");
        assert!(page.ends_with("LIMIT ?6 OFFSET ?7"), "{page}");
    }
}
