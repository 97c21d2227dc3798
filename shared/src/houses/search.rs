//! `GET /houses`: the query ([`SearchQuery`]) and [`search`], one page of the
//! houses in an area that are free for a stay, in the order asked for.
//!
//! Two statements share one filter, so they see the same houses: the count
//! behind `total_page` and the page itself. Each sort is exactly an index
//! order (migration 2) and the overlap test seeks a house's orders by
//! check-out day (migration 3); `shared/tests/search_plan.rs` checks both
//! plans at scale.

use serde::Serialize;

use crate::clock::Date;
use crate::domain::DateRange;
use crate::errno::{ApiError, ApiResult};
use crate::http::parse_id;
use crate::orders::ACTIVE_STATUSES_SQL;
use crate::params;
use crate::store::{Sql, Value};

use super::{HouseItem, View, house_items};

/// Search results per page (API.md).
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

/// The page of `query`; an unknown area is 4103. A page past the last is
/// empty (with the true `total_page`).
pub fn search(
    db: &impl Sql,
    view: &View,
    query: &SearchQuery,
    today: Date,
) -> ApiResult<SearchPage> {
    if let Some(area) = query.area_id
        && db.query_i64(AREA_EXISTS, params![area])? != Some(1)
    {
        return Err(ApiError::param(format!("不存在的城区: {area}")));
    }
    let (count_sql, params) = query.count_statement(today);
    let total_page = total_pages(db.query_i64(&count_sql, &params)?.unwrap_or(0));
    let houses = if query.page > total_page {
        Vec::new()
    } else {
        let (page_sql, params) = query.page_statement(today);
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
    params.push(value.into());
    format!("?{}", params.len())
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

    /// ` WHERE …` (or nothing) with its parameters in `params`, shared by
    /// the count and the page statement so both see the same houses.
    fn filter(&self, today: Date, params: &mut Vec<Value>) -> String {
        let mut clauses: Vec<String> = Vec::new();
        if let Some(area) = self.area_id {
            clauses.push(format!("h.area_id = {}", bind(params, area)));
        }
        // An active order on any of the asked nights excludes the house:
        // `o.start < ed AND o.end > sd`, or its one-sided forms.
        let overlap = match self.window {
            StayWindow::Any => None,
            StayWindow::From(sd) => Some(format!("o.end_date > {}", bind(params, sd))),
            StayWindow::Until(ed) => Some(format!(
                "o.start_date < {} AND o.end_date > {}",
                bind(params, ed),
                bind(params, today)
            )),
            StayWindow::Between(range) => {
                let nights = bind(params, range.nights());
                clauses.push(format!(
                    "h.min_days <= {nights} AND (h.max_days = 0 OR h.max_days >= {nights})"
                ));
                Some(format!(
                    "o.start_date < {} AND o.end_date > {}",
                    bind(params, range.end),
                    bind(params, range.start)
                ))
            }
        };
        if let Some(overlap) = overlap {
            clauses.push(format!(
                "NOT EXISTS (SELECT 1 FROM orders o WHERE o.house_id = h.id \
                 AND o.status IN ({ACTIVE_STATUSES_SQL}) AND {overlap})"
            ));
        }
        if clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", clauses.join(" AND "))
        }
    }

    /// `SELECT count(*)` of every matching house.
    fn count_statement(&self, today: Date) -> (String, Vec<Value>) {
        let mut params = Vec::new();
        let filter = self.filter(today, &mut params);
        (
            format!("SELECT count(*) AS houses FROM houses h{filter}"),
            params,
        )
    }

    /// The requested page of [`HouseItem`] rows.
    fn page_statement(&self, today: Date) -> (String, Vec<Value>) {
        let mut params = Vec::new();
        let filter = self.filter(today, &mut params);
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

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn both_statements_bind_the_same_filter() {
        let today = Date::parse("2026-03-01").unwrap();
        let q = SearchQuery::parse(
            Some("2"),
            Some("2026-03-05"),
            Some("2026-03-08"),
            Some("booking"),
            Some("3"),
        )
        .unwrap();
        let (count, count_params) = q.count_statement(today);
        let (page, page_params) = q.page_statement(today);
        // Area, nights (used twice), end, start; then the page's limit and offset.
        assert_eq!(
            count_params,
            vec![
                Value::Int(2),
                Value::Int(3),
                Value::from("2026-03-08"),
                Value::from("2026-03-05")
            ]
        );
        assert_eq!(page_params[..4], count_params[..]);
        assert_eq!(page_params[4..], [Value::Int(PAGE_SIZE), Value::Int(20)]);
        assert!(count.contains("h.min_days <= ?2 AND (h.max_days = 0 OR h.max_days >= ?2)"));
        assert!(page.ends_with("LIMIT ?5 OFFSET ?6"), "{page}");
    }
}
