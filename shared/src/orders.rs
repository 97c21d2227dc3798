//! Orders: booking, the state machine, comments, and the `OrderItem` list shape.
//!
//! Every write is one conditional statement, so that the database itself
//! decides races: a booking inserts only when no active order overlaps its
//! nights, and a transition updates only from the state it expects. Whoever
//! loses gets no row back and answers 4004 (HTTP 409).

use serde::{Deserialize, Serialize};
use spin_sdk::sqlite::RowResult;

use crate::clock::Date;
use crate::db::{Db, RowExt, int};
use crate::de::flex_i64;
use crate::domain::DateRange;
use crate::errno::{ApiError, ApiResult};
use crate::houses::View;

/// Statuses whose nights are taken: the calendar, search exclusion and the
/// booking overlap check all use this one list (a macro so that constant SQL
/// can `concat!` it).
macro_rules! active_statuses {
    () => {
        "'WAIT_ACCEPT','WAIT_COMMENT','COMPLETE'"
    };
}
pub const ACTIVE_STATUSES_SQL: &str = active_statuses!();

/// A reject reason is a short note to the guest.
pub const REJECT_REASON_MAX_CHARS: usize = 200;
/// A review: room for a paragraph, not an essay (the detail page shows ten).
pub const COMMENT_MAX_CHARS: usize = 500;
/// How far ahead a stay may start: a year, the calendar hosts keep open.
/// Beyond it a booking would hold nights hosts haven't planned for yet.
pub const BOOKING_HORIZON_DAYS: i64 = 365;
/// The longest stay on a house with `max_days = 0` ("no maximum"): 90
/// nights, a season. Longer stays are tenancies; a landlord who wants them
/// sets `max_days` explicitly (up to 365).
pub const LONGEST_STAY_NIGHTS: i64 = 90;
/// WAIT_ACCEPT orders one guest may hold at once. Each pending order hides
/// the house from date searches until its landlord acts, so an unbounded
/// number would let one account take a city off the market; 10 covers
/// anyone comparing a few places for a few trips.
pub const MAX_PENDING_ORDERS_PER_GUEST: i64 = 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderStatus {
    WaitAccept,
    WaitComment,
    Complete,
    Rejected,
    Canceled,
}

impl OrderStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            OrderStatus::WaitAccept => "WAIT_ACCEPT",
            OrderStatus::WaitComment => "WAIT_COMMENT",
            OrderStatus::Complete => "COMPLETE",
            OrderStatus::Rejected => "REJECTED",
            OrderStatus::Canceled => "CANCELED",
        }
    }
}

/// `POST /orders` as it arrives.
#[derive(Deserialize)]
pub struct BookingRequest {
    #[serde(deserialize_with = "flex_i64")]
    pub house_id: i64,
    pub start_date: String,
    pub end_date: String,
}

/// A well-formed booking request: a house id and a stay starting today or later.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Booking {
    pub house_id: i64,
    pub stay: DateRange,
}

impl Booking {
    pub fn parse(req: &BookingRequest, today: Date) -> ApiResult<Booking> {
        if req.house_id <= 0 {
            return Err(ApiError::param(format!("无效的房屋编号: {}", req.house_id)));
        }
        let stay = DateRange::parse(&req.start_date, &req.end_date)?;
        if stay.start < today {
            return Err(ApiError::param("入住日期不能早于今天"));
        }
        if stay.start > today.add_days(BOOKING_HORIZON_DAYS) {
            return Err(ApiError::param(format!(
                "入住日期不能晚于 {BOOKING_HORIZON_DAYS} 天后"
            )));
        }
        Ok(Booking {
            house_id: req.house_id,
            stay,
        })
    }

    /// The house's stay limits (`max_days` 0 = up to [`LONGEST_STAY_NIGHTS`]).
    pub fn check_length(&self, min_days: i64, max_days: i64) -> ApiResult<()> {
        let nights = self.stay.nights();
        if nights < min_days {
            return Err(ApiError::param(format!("该房屋至少需入住 {min_days} 晚")));
        }
        let longest = if max_days == 0 {
            LONGEST_STAY_NIGHTS
        } else {
            max_days
        };
        if nights > longest {
            return Err(ApiError::param(format!("该房屋最多可入住 {longest} 晚")));
        }
        Ok(())
    }
}

/// What booking needs to know about the house.
pub const HOUSE_FOR_BOOKING_SQL: &str =
    "SELECT user_id, min_days, max_days FROM houses WHERE id = ?";

/// The overlap check, the guest's pending-order cap and the insert in ONE
/// statement: a write statement holds SQLite's write lock from its first
/// read, so two racing bookings of the same nights serialise and the second
/// finds the first, and parallel bookings by one guest can't overshoot the
/// cap. The amount uses the price as of this statement. Parameters: guest,
/// house, start, end, nights, now, the pending cap. No row back = the nights
/// are taken or the guest is at the cap ([`PENDING_ORDERS_SQL`] tells which).
pub const BOOK_SQL: &str = concat!(
    "INSERT INTO orders (user_id, house_id, start_date, end_date, days, house_price,
                        amount, status, comment, created_at, updated_at)
     SELECT ?1, h.id, ?3, ?4, ?5, h.price, ?5 * h.price, 'WAIT_ACCEPT', '', ?6, ?6
     FROM houses h
     WHERE h.id = ?2 AND NOT EXISTS (
         SELECT 1 FROM orders o
         WHERE o.house_id = h.id AND o.status IN (",
    active_statuses!(),
    ") AND o.start_date < ?4 AND o.end_date > ?3)
     AND (SELECT count(*) FROM orders p
          WHERE p.user_id = ?1 AND p.status = 'WAIT_ACCEPT') < ?7
     RETURNING id"
);

/// The guest's WAIT_ACCEPT orders. Parameter: guest.
pub const PENDING_ORDERS_SQL: &str =
    "SELECT count(*) FROM orders WHERE user_id = ?1 AND status = 'WAIT_ACCEPT'";

/// Why [`BOOK_SQL`] inserted nothing: 4004 (409) either way, with the reason.
pub fn booking_refused(pending_orders: i64) -> ApiError {
    if pending_orders >= MAX_PENDING_ORDERS_PER_GUEST {
        ApiError::conflict(format!(
            "待接单的订单最多 {MAX_PENDING_ORDERS_PER_GUEST} 个，请等待房东处理或取消后再订"
        ))
    } else {
        ApiError::conflict("所选日期已被预订")
    }
}

/// The house's nights still taken, for the detail page's calendar: stays
/// not over by today (`?2`), earliest first. Parameters: house, today.
pub const BOOKED_NIGHTS_SQL: &str = concat!(
    "SELECT start_date, end_date FROM orders
     WHERE house_id = ?1 AND status IN (",
    active_statuses!(),
    ") AND end_date > ?2
     ORDER BY start_date"
);

/// The house's newest comments for the detail page: guest name, text and
/// time of finished stays. Parameters: house, how many.
pub const HOUSE_COMMENTS_SQL: &str = "SELECT u.name, o.comment, o.updated_at
     FROM orders o JOIN users u ON u.id = o.user_id
     WHERE o.house_id = ?1 AND o.status = 'COMPLETE'
     ORDER BY o.updated_at DESC, o.id DESC LIMIT ?2";

/// `PUT /orders/:id/status` as it arrives.
#[derive(Deserialize)]
pub struct StatusRequest {
    pub action: String,
    #[serde(default)]
    pub reason: Option<String>,
}

/// Who may make a change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Party {
    Landlord,
    Guest,
}

/// A requested transition out of WAIT_ACCEPT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StatusChange {
    Accept,
    Reject { reason: String },
    Cancel,
}

impl StatusChange {
    pub fn parse(req: StatusRequest) -> ApiResult<StatusChange> {
        match req.action.as_str() {
            "accept" => Ok(StatusChange::Accept),
            "cancel" => Ok(StatusChange::Cancel),
            "reject" => {
                let reason = req
                    .reason
                    .ok_or_else(|| ApiError::param("拒单须填写原因"))?;
                Ok(StatusChange::Reject {
                    reason: note(&reason, REJECT_REASON_MAX_CHARS, "拒单原因")?,
                })
            }
            other => Err(ApiError::param(format!(
                "无效的操作: {other}（accept, reject, cancel）"
            ))),
        }
    }

    pub fn allowed(&self) -> Party {
        match self {
            StatusChange::Accept | StatusChange::Reject { .. } => Party::Landlord,
            StatusChange::Cancel => Party::Guest,
        }
    }

    pub fn target(&self) -> OrderStatus {
        match self {
            StatusChange::Accept => OrderStatus::WaitComment,
            StatusChange::Reject { .. } => OrderStatus::Rejected,
            StatusChange::Cancel => OrderStatus::Canceled,
        }
    }

    /// What the order's `comment` column carries afterwards.
    pub fn note(&self) -> &str {
        match self {
            StatusChange::Reject { reason } => reason,
            _ => "",
        }
    }

    /// Applies the change if the order is still WAIT_ACCEPT; 4004 (409) if a
    /// repeated or concurrent request got there first.
    pub fn apply(&self, db: &Db, order_id: i64, now: i64) -> ApiResult<()> {
        let updated = db.query_i64(
            TRANSITION_SQL,
            &[
                crate::db::text(self.target().as_str()),
                crate::db::text(self.note()),
                int(now),
                int(order_id),
                crate::db::text(OrderStatus::WaitAccept.as_str()),
            ],
        )?;
        match updated {
            Some(_) => Ok(()),
            None => Err(ApiError::conflict("订单状态已改变，无法执行该操作")),
        }
    }
}

/// Parameters: new status, comment, now, order id, expected status.
pub const TRANSITION_SQL: &str = "UPDATE orders SET status = ?1, comment = ?2, updated_at = ?3
     WHERE id = ?4 AND status = ?5 RETURNING id";

/// `PUT /orders/:id/comment` as it arrives.
#[derive(Deserialize)]
pub struct CommentRequest {
    pub comment: String,
}

/// A guest's review of a finished stay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Review(String);

impl Review {
    pub fn parse(req: &CommentRequest) -> ApiResult<Review> {
        note(&req.comment, COMMENT_MAX_CHARS, "评价").map(Review)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// WAIT_COMMENT → COMPLETE, only once the stay is over (check-out day
    /// reached), and the house's order_count + 1, in one transaction. 4004
    /// (409) when the order is not waiting for a comment or the stay is not
    /// over yet. Returns the house id (whose caches change).
    pub fn apply(&self, db: &Db, order_id: i64, today: Date, now: i64) -> ApiResult<i64> {
        db.write_tx(|db| {
            let house_id = db
                .query_i64(
                    COMPLETE_SQL,
                    &[
                        crate::db::text(self.as_str()),
                        int(now),
                        int(order_id),
                        crate::db::text(today.to_string()),
                    ],
                )?
                .ok_or_else(|| ApiError::conflict("订单不在待评价状态，或入住尚未结束"))?;
            db.execute(
                "UPDATE houses SET order_count = order_count + 1 WHERE id = ?",
                &[int(house_id)],
            )?;
            Ok(house_id)
        })
    }
}

/// Parameters: comment, now, order id, today. Returns the house id.
pub const COMPLETE_SQL: &str =
    "UPDATE orders SET status = 'COMPLETE', comment = ?1, updated_at = ?2
     WHERE id = ?3 AND status = 'WAIT_COMMENT' AND end_date <= ?4
     RETURNING house_id";

/// Free text from a textarea: trimmed, `1..=max` characters, line breaks
/// allowed (normalised to `\n`), no other control characters.
fn note(raw: &str, max: usize, what: &str) -> ApiResult<String> {
    let t = raw.trim().replace("\r\n", "\n");
    let n = t.chars().count();
    if n == 0 || n > max {
        return Err(ApiError::param(format!("{what}长度须为 1-{max} 个字符")));
    }
    if t.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ApiError::param(format!("{what}含有非法字符")));
    }
    Ok(t)
}

/// Who is involved in an order, and where it stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderParties {
    pub guest_id: i64,
    pub landlord_id: i64,
    pub house_id: i64,
    pub status: String,
    /// Check-out day.
    pub end_date: String,
}

pub const ORDER_PARTIES_SQL: &str = "SELECT o.user_id, h.user_id, o.house_id, o.status, o.end_date
     FROM orders o JOIN houses h ON h.id = o.house_id WHERE o.id = ?";

impl OrderParties {
    /// The order, or 4002.
    pub fn load(db: &Db, order_id: i64) -> ApiResult<OrderParties> {
        let row = db
            .query_one(ORDER_PARTIES_SQL, &[int(order_id)])?
            .ok_or_else(|| ApiError::not_found(format!("订单 {order_id} 不存在")))?;
        Ok(OrderParties {
            guest_id: row.int(0)?,
            landlord_id: row.int(1)?,
            house_id: row.int(2)?,
            status: row.text(3)?,
            end_date: row.text(4)?,
        })
    }

    /// 4105 unless `user_id` is the `party` of this order.
    pub fn require(&self, party: Party, user_id: i64) -> ApiResult<()> {
        let (id, who) = match party {
            Party::Landlord => (self.landlord_id, "房东"),
            Party::Guest => (self.guest_id, "下单的房客"),
        };
        if id == user_id {
            Ok(())
        } else {
            Err(ApiError::role(format!("只有该订单的{who}可以执行此操作")))
        }
    }
}

/// `GET /user/orders?role=`: the orders I placed, or the orders for my houses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderRole {
    Custom,
    Landlord,
}

impl OrderRole {
    pub fn parse(raw: Option<&str>) -> ApiResult<OrderRole> {
        match raw {
            Some("custom") => Ok(OrderRole::Custom),
            Some("landlord") => Ok(OrderRole::Landlord),
            _ => Err(ApiError::param("role 须为 custom 或 landlord")),
        }
    }

    pub fn list_sql(self) -> &'static str {
        match self {
            OrderRole::Custom => GUEST_ORDERS_SQL,
            OrderRole::Landlord => LANDLORD_ORDERS_SQL,
        }
    }
}

/// One order in a list.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct OrderItem {
    pub order_id: i64,
    pub house_id: i64,
    pub title: String,
    /// The house's cover, `""` when none.
    pub img_url: String,
    pub start_date: String,
    pub end_date: String,
    pub ctime: String,
    /// Nights.
    pub days: i64,
    /// Fen.
    pub amount: i64,
    pub status: String,
    /// The guest's comment, or the landlord's reject reason.
    pub comment: String,
}

macro_rules! order_item_select {
    () => {
        "SELECT o.id, o.house_id, h.title, h.index_image, o.start_date, o.end_date,
                o.created_at, o.days, o.amount, o.status, o.comment
         FROM orders o JOIN houses h ON h.id = o.house_id"
    };
}

/// The guest's orders, newest first.
pub const GUEST_ORDERS_SQL: &str = concat!(
    order_item_select!(),
    " WHERE o.user_id = ? ORDER BY o.id DESC"
);
/// Orders for the landlord's houses, newest first.
pub const LANDLORD_ORDERS_SQL: &str = concat!(
    order_item_select!(),
    " WHERE h.user_id = ? ORDER BY o.id DESC"
);

impl OrderItem {
    pub fn from_row(row: &RowResult, view: &View) -> ApiResult<OrderItem> {
        Ok(OrderItem {
            order_id: row.int(0)?,
            house_id: row.int(1)?,
            title: row.text(2)?,
            img_url: view.image(&row.text_or_empty(3)?),
            start_date: row.text(4)?,
            end_date: row.text(5)?,
            ctime: view.timestamp(row.int(6)?),
            days: row.int(7)?,
            amount: row.int(8)?,
            status: row.text(9)?,
            comment: row.text_or_empty(10)?,
        })
    }

    pub fn list(db: &Db, role: OrderRole, user_id: i64, view: &View) -> ApiResult<Vec<OrderItem>> {
        db.query(role.list_sql(), &[int(user_id)])?
            .iter()
            .map(|row| OrderItem::from_row(row, view))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn booking(start: &str, end: &str, today: Date) -> ApiResult<Booking> {
        let req = BookingRequest {
            house_id: 7,
            start_date: start.into(),
            end_date: end.into(),
        };
        Booking::parse(&req, today)
    }

    #[test]
    fn bookings_start_today_or_later() {
        let today = Date::parse("2026-03-10").unwrap();
        assert!(booking("2026-03-10", "2026-03-11", today).is_ok());
        assert!(booking("2026-03-09", "2026-03-11", today).is_err(), "past");
        assert!(
            booking("2026-03-12", "2026-03-12", today).is_err(),
            "zero nights"
        );
        assert!(
            booking("2026-03-12", "2026-03-11", today).is_err(),
            "end first"
        );
        assert!(
            booking("2026-02-30", "2026-03-11", today).is_err(),
            "no such day"
        );
        let b = booking("2026-03-10", "2026-03-13", today).unwrap();
        assert!(b.check_length(3, 3).is_ok());
        assert!(b.check_length(4, 0).is_err());
        assert!(b.check_length(1, 2).is_err());
        assert!(b.check_length(1, 0).is_ok());
        let json: BookingRequest = serde_json::from_str(
            r#"{"house_id":"7","start_date":"2026-03-10","end_date":"2026-03-11"}"#,
        )
        .unwrap();
        assert_eq!(json.house_id, 7);
    }

    #[test]
    fn stays_are_bounded_by_the_horizon_and_the_longest_stay() {
        let today = Date::parse("2026-03-10").unwrap();
        // The horizon: the last start allowed is today + 365 days.
        let last = today.add_days(BOOKING_HORIZON_DAYS);
        let after = last.add_days(1);
        assert!(booking(&last.to_string(), &after.to_string(), today).is_ok());
        let err = booking(&after.to_string(), &after.add_days(1).to_string(), today).unwrap_err();
        assert_eq!((err.errno, err.status), (crate::Errno::ParamErr, 400));
        assert!(booking("9999-12-30", "9999-12-31", today).is_err());
        // max_days = 0 means up to LONGEST_STAY_NIGHTS, an explicit maximum its own value.
        let stay = |nights: i64| {
            booking(
                &today.to_string(),
                &today.add_days(nights).to_string(),
                today,
            )
            .unwrap()
        };
        assert!(stay(LONGEST_STAY_NIGHTS).check_length(1, 0).is_ok());
        let err = stay(LONGEST_STAY_NIGHTS + 1)
            .check_length(1, 0)
            .unwrap_err();
        assert!(err.message.contains("90"), "{}", err.message);
        assert!(stay(LONGEST_STAY_NIGHTS + 1).check_length(1, 200).is_ok());
        assert!(stay(201).check_length(1, 200).is_err());
        // The refusal names the pending cap only when the guest is at it.
        assert!(
            booking_refused(MAX_PENDING_ORDERS_PER_GUEST)
                .message
                .contains("10")
        );
        assert_eq!(booking_refused(3).message, "所选日期已被预订");
        assert_eq!(booking_refused(3).status, 409);
    }

    #[test]
    fn status_changes() {
        let parse = |json: &str| StatusChange::parse(serde_json::from_str(json).unwrap());
        assert_eq!(
            parse(r#"{"action":"accept"}"#).unwrap().allowed(),
            Party::Landlord
        );
        assert_eq!(
            parse(r#"{"action":"cancel"}"#).unwrap().allowed(),
            Party::Guest
        );
        assert!(parse(r#"{"action":"reject"}"#).is_err(), "reason required");
        assert!(parse(r#"{"action":"reject","reason":"  "}"#).is_err());
        let long = "x".repeat(REJECT_REASON_MAX_CHARS + 1);
        assert!(parse(&format!(r#"{{"action":"reject","reason":"{long}"}}"#)).is_err());
        let r = parse(r#"{"action":"reject","reason":" 已满 "}"#).unwrap();
        assert_eq!((r.target(), r.note()), (OrderStatus::Rejected, "已满"));
        assert!(parse(r#"{"action":"delete"}"#).is_err());
    }

    #[test]
    fn reviews_keep_line_breaks_only() {
        let review = |c: &str| Review::parse(&CommentRequest { comment: c.into() });
        assert_eq!(
            review(" 很好\r\n下次还来 ").unwrap().as_str(),
            "很好\n下次还来"
        );
        assert!(review("").is_err());
        assert!(review("a\u{7}b").is_err());
        assert!(review(&"好".repeat(COMMENT_MAX_CHARS)).is_ok());
        assert!(review(&"好".repeat(COMMENT_MAX_CHARS + 1)).is_err());
        assert_eq!(
            OrderRole::parse(Some("landlord")).unwrap(),
            OrderRole::Landlord
        );
        assert!(OrderRole::parse(Some("admin")).is_err());
        assert!(OrderRole::parse(None).is_err());
    }
}
