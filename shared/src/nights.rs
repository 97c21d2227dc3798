//! Nights: the one model of availability.
//!
//! A house's night (the night that starts on a date) is free or held. A
//! held night is one row of `house_nights`, keyed by (house, night), held
//! either by an order (WAIT_ACCEPT, WAIT_COMMENT or COMPLETE) or by the
//! landlord (a blocked night, `order_id` NULL). Because the key is the
//! table's primary key, the database itself refuses to hold a night twice,
//! on SQLite and PostgreSQL alike, whatever the application does.
//!
//! A request's nights carry its deadline (`expires_at`, Unix seconds);
//! accepted orders' and the landlord's carry NULL. Every read counts a
//! night as held only while `expires_at IS NULL OR expires_at > now`
//! ([`held_at`]), so from the deadline on the night is free with nothing
//! running; a write meeting such a night takes it over first
//! ([`crate::orders::expire::take_over`]).
//! - a booking inserts its nights in the transaction that inserts the
//!   order; a night already held is a unique violation, the transaction
//!   rolls back, and the guest gets 4004 ([`hold_for_order`]);
//! - accepting confirms them (no deadline any more, [`confirm_order`]);
//!   rejecting, cancelling or expiring an order deletes them, in the
//!   transaction that changes its status ([`release_order`]);
//! - blocking inserts landlord rows, refused with 4004 when an order holds
//!   any of the nights; unblocking deletes landlord rows only ([`block`],
//!   [`unblock`]);
//! - date search keeps a house when no night of the stay is held: one seek
//!   of the primary key per house, bounded by the stay's length however
//!   long the house's history ([`free_during`]);
//! - the detail calendar shows the nights held by orders and the
//!   landlord's, from today on, as ranges ([`booked_from`],
//!   [`blocked_from`]).
//!
//! Nights are stored as `YYYY-MM-DD` text, whose order is date order.

use crate::clock::Date;
use crate::domain::DateRange;
use crate::errno::{ApiError, ApiResult};
use crate::store::sql::{Sql, SqlError, Value};

/// How far ahead a night may be held: a year, the calendar landlords keep
/// open. A stay may start no later, and a landlord blocks no further
/// (beyond it a booking would hold nights hosts haven't planned for yet).
pub const BOOKING_HORIZON_DAYS: i64 = 365;

/// The next deadline after `?1` of any waiting request (its nights carry
/// the same one; the orders' deadline index answers it in one seek).
const NEXT_DEADLINE: &str = "SELECT min(expires_at) AS next FROM orders
    WHERE status IN ('WAIT_ACCEPT', 'WAIT_PAYMENT') AND expires_at > ?1";

/// The next instant after `now` at which some held night stops being held
/// (a request's or an unpaid booking's deadline), if any: when a cached read that shows held
/// nights stops being true.
pub fn next_deadline(db: &impl Sql, now: i64) -> ApiResult<Option<i64>> {
    Ok(db.query_i64(NEXT_DEADLINE, crate::params![now])?)
}

/// The nights of a stay: from check-in up to, not including, check-out.
pub fn of(stay: DateRange) -> impl Iterator<Item = Date> {
    (stay.start.0..stay.end.0).map(Date)
}

/// The condition "night row `n` is held at `?{now}`": no deadline, or one
/// still ahead. Every read of held nights uses it.
pub fn held_at(now: usize) -> String {
    format!("(n.expires_at IS NULL OR n.expires_at > ?{now})")
}

/// Inserts one row per night of `stay` for `holder` (an order id, or NULL
/// for the landlord) held until `expires_at` (NULL: no deadline).
/// Parameters: ?1 house, ?2 holder, ?3 deadline, ?4… the nights.
fn insert_nights(
    db: &impl Sql,
    house_id: i64,
    holder: Option<i64>,
    expires_at: Option<i64>,
    nights: &[Date],
) -> Result<(), SqlError> {
    if nights.is_empty() {
        return Ok(());
    }
    let rows: Vec<String> = (0..nights.len())
        .map(|i| format!("(?1, ?{}, ?2, ?3)", i + 4))
        .collect();
    let sql = format!(
        "INSERT INTO house_nights (house_id, night, order_id, expires_at) VALUES {}",
        rows.join(", ")
    );
    let mut params = vec![
        Value::Int(house_id),
        Value::from(holder),
        Value::from(expires_at),
    ];
    params.extend(nights.iter().map(|&n| Value::from(n)));
    db.execute(&sql, &params)
}

/// The error a guest or landlord gets when a night is already held.
fn taken() -> ApiError {
    ApiError::conflict("所选日期已被预订")
}

/// Holds the nights of `stay` for order `order_id` until `expires_at`
/// (None: no deadline); 4004 (409) if any is held already. Call inside the
/// transaction that inserts the order, after taking over expired holds
/// ([`crate::orders::expire::take_over`]), so a refusal rolls the order
/// back too.
pub fn hold_for_order(
    db: &impl Sql,
    house_id: i64,
    order_id: i64,
    stay: DateRange,
    expires_at: Option<i64>,
) -> ApiResult<()> {
    let nights: Vec<Date> = of(stay).collect();
    match insert_nights(db, house_id, Some(order_id), expires_at, &nights) {
        Err(e) if e.is_unique_violation() => Err(taken()),
        other => Ok(other?),
    }
}

/// The order's nights lose their deadline (it was accepted). Call inside
/// the transaction that changes its status.
pub fn confirm_order(db: &impl Sql, order_id: i64) -> ApiResult<()> {
    Ok(db.execute(
        "UPDATE house_nights SET expires_at = NULL WHERE order_id = ?1",
        crate::params![order_id],
    )?)
}

/// The order's nights are held until `expires_at` (its card was just
/// authorized: the request's deadline; None: accepted). Call inside the
/// transaction that changes its status.
pub fn hold_order_until(db: &impl Sql, order_id: i64, expires_at: Option<i64>) -> ApiResult<()> {
    Ok(db.execute(
        "UPDATE house_nights SET expires_at = ?2 WHERE order_id = ?1",
        crate::params![order_id, expires_at],
    )?)
}

/// Frees the nights an order held (it was rejected, cancelled or expired).
/// Call inside the transaction that changes its status.
pub fn release_order(db: &impl Sql, order_id: i64) -> ApiResult<()> {
    Ok(db.execute(
        "DELETE FROM house_nights WHERE order_id = ?1",
        crate::params![order_id],
    )?)
}

/// Blocks the nights of `range` on the landlord's calendar at `now`, in
/// one write transaction: 4004 (409) when an order holds any of them
/// (nothing is blocked then); nights already blocked stay blocked; a
/// request's nights past its deadline are taken over.
pub fn block(db: &impl Sql, house_id: i64, range: DateRange, now: i64) -> ApiResult<()> {
    db.write_tx(|db| {
        crate::orders::expire::take_over(db, house_id, range, now)?;
        let held = db.query(
            "SELECT night, order_id FROM house_nights
             WHERE house_id = ?1 AND night >= ?2 AND night < ?3",
            crate::params![house_id, range.start, range.end],
        )?;
        let mut already_blocked = Vec::new();
        for row in held.iter() {
            if row.opt_int("order_id")?.is_some() {
                return Err(ApiError::conflict("所选日期中有已被预订的夜晚，无法关闭"));
            }
            already_blocked.push(row.date("night")?);
        }
        let new: Vec<Date> = of(range).filter(|n| !already_blocked.contains(n)).collect();
        // A booking that commits between the read and this insert holds its
        // night first: the primary key refuses the block then (on servers
        // whose transactions don't serialise writers like SQLite's do).
        match insert_nights(db, house_id, None, None, &new) {
            Err(e) if e.is_unique_violation() => Err(taken()),
            other => Ok(other?),
        }
    })
}

/// Unblocks the landlord's nights of `range` (nights held by orders stay).
pub fn unblock(db: &impl Sql, house_id: i64, range: DateRange) -> ApiResult<()> {
    Ok(db.execute(
        "DELETE FROM house_nights
         WHERE house_id = ?1 AND night >= ?2 AND night < ?3 AND order_id IS NULL",
        crate::params![house_id, range.start, range.end],
    )?)
}

/// The landlord's blocked nights from `today` on, as `[start, end)` ranges
/// of consecutive nights, earliest first.
pub fn blocked_from(db: &impl Sql, house_id: i64, today: Date) -> ApiResult<Vec<DateRange>> {
    let rows = db.query(
        "SELECT night FROM house_nights
         WHERE house_id = ?1 AND night >= ?2 AND order_id IS NULL
         ORDER BY night",
        crate::params![house_id, today],
    )?;
    let nights = rows.map(|r| r.date("night"))?;
    Ok(ranges(&nights))
}

/// The nights orders hold at `now` from `today` on, as `[start, end)`
/// ranges of consecutive nights, earliest first, and the earliest deadline
/// among them (when the answer changes by itself; None: it doesn't).
pub fn booked_from(
    db: &impl Sql,
    house_id: i64,
    today: Date,
    now: i64,
) -> ApiResult<(Vec<DateRange>, Option<i64>)> {
    let rows = db.query(
        &format!(
            "SELECT n.night AS night, n.expires_at AS expires_at FROM house_nights n
             WHERE n.house_id = ?1 AND n.night >= ?2 AND n.order_id IS NOT NULL AND {}
             ORDER BY n.night",
            held_at(3)
        ),
        crate::params![house_id, today, now],
    )?;
    let mut next_change: Option<i64> = None;
    let mut nights = Vec::with_capacity(rows.len());
    for row in rows.iter() {
        nights.push(row.date("night")?);
        if let Some(deadline) = row.opt_int("expires_at")? {
            next_change = Some(next_change.map_or(deadline, |t| t.min(deadline)));
        }
    }
    Ok((ranges(&nights), next_change))
}

/// Consecutive nights joined into `[start, end)` ranges.
pub fn ranges(sorted_nights: &[Date]) -> Vec<DateRange> {
    let mut out: Vec<DateRange> = Vec::new();
    for &night in sorted_nights {
        match out.last_mut() {
            Some(r) if r.end == night => r.end = night.add_days(1),
            _ => out.push(DateRange {
                start: night,
                end: night.add_days(1),
            }),
        }
    }
    out
}

/// The condition "house `h` holds no night in `[from, until)` at `now`"
/// for a search's WHERE clause, with `from`/`until`/`now` the numbers of
/// the statement parameters carrying those values (`until` None: no end).
pub fn free_during(from: usize, until: Option<usize>, now: usize) -> String {
    let until = until.map_or(String::new(), |u| format!(" AND n.night < ?{u}"));
    format!(
        "NOT EXISTS (SELECT 1 FROM house_nights n \
         WHERE n.house_id = h.id AND n.night >= ?{from}{until} AND {})",
        held_at(now)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::native::NativeSqlite;

    fn d(n: i64) -> Date {
        Date::parse("2030-01-01").unwrap().add_days(n)
    }

    fn stay(a: i64, b: i64) -> DateRange {
        DateRange {
            start: d(a),
            end: d(b),
        }
    }

    fn house(db: &NativeSqlite) -> i64 {
        db.execute(
            "INSERT INTO users (id, name, mobile, password_hash, created_at)
             VALUES (1, 'u', '13800000000', 'x', 0)",
            &[],
        )
        .unwrap();
        db.query_i64(
            "INSERT INTO houses (user_id, area_id, title, price, address, room_count, acreage,
                 unit, capacity, beds, deposit, min_days, max_days, created_at)
             VALUES (1, 1, 't', 100, 'a', 1, 1, 'u', 1, 'b', 0, 1, 0, 0) RETURNING id",
            &[],
        )
        .unwrap()
        .unwrap()
    }

    /// Orders 1..=5 of house `h` (the nights rows reference them).
    fn orders(db: &NativeSqlite, h: i64) {
        for id in 1..=5 {
            db.execute(
                "INSERT INTO orders (id, user_id, house_id, start_date, end_date, days,
                     house_price, amount, status, created_at, updated_at)
                 VALUES (?1, 1, ?2, '2030-01-01', '2030-01-02', 1, 1, 1, 'WAIT_ACCEPT', 0, 0)",
                crate::params![id, h],
            )
            .unwrap();
        }
    }

    #[test]
    fn a_night_is_held_once_whoever_holds_it() {
        let db = NativeSqlite::in_memory().unwrap();
        let h = house(&db);
        orders(&db, h);
        hold_for_order(&db, h, 1, stay(0, 3), None).unwrap();
        let clash = hold_for_order(&db, h, 2, stay(2, 4), None).unwrap_err();
        assert_eq!((clash.errno.code(), clash.status), ("4004", 409));
        hold_for_order(&db, h, 3, stay(3, 5), None).unwrap();
        // Blocking a booked night is refused and blocks nothing.
        assert_eq!(block(&db, h, stay(4, 7), 0).unwrap_err().status, 409);
        assert!(blocked_from(&db, h, d(0)).unwrap().is_empty());
        block(&db, h, stay(5, 7), 0).unwrap();
        block(&db, h, stay(6, 8), 0).unwrap();
        assert_eq!(blocked_from(&db, h, d(0)).unwrap(), vec![stay(5, 8)]);
        assert_eq!(
            hold_for_order(&db, h, 4, stay(7, 9), None)
                .unwrap_err()
                .status,
            409
        );
        // Releasing an order frees its nights only.
        release_order(&db, 1).unwrap();
        hold_for_order(&db, h, 5, stay(0, 3), None).unwrap();
        unblock(&db, h, stay(0, 7)).unwrap();
        assert_eq!(blocked_from(&db, h, d(0)).unwrap(), vec![stay(7, 8)]);
        assert_eq!(blocked_from(&db, h, d(8)).unwrap(), vec![]);
    }

    #[test]
    fn a_request_holds_its_nights_until_its_deadline_and_no_longer() {
        let db = NativeSqlite::in_memory().unwrap();
        let h = house(&db);
        orders(&db, h);
        db.execute("UPDATE orders SET expires_at = 1000 WHERE id = 1", &[])
            .unwrap();
        hold_for_order(&db, h, 1, stay(0, 3), Some(1000)).unwrap();
        let free = |now: i64| {
            db.query_i64(
                &format!(
                    "SELECT count(*) FROM houses h WHERE {}",
                    free_during(1, Some(2), 3)
                ),
                crate::params![d(1), d(2), now],
            )
            .unwrap()
                == Some(1)
        };
        assert!(!free(999), "held a second before the deadline");
        assert!(free(1000), "free from the deadline on");
        assert_eq!(
            booked_from(&db, h, d(0), 999).unwrap(),
            (vec![stay(0, 3)], Some(1000))
        );
        assert_eq!(booked_from(&db, h, d(0), 1000).unwrap(), (vec![], None));
        // Before the deadline the nights are taken; from it, a booking (here
        // a block) takes them over and the request is EXPIRED.
        assert_eq!(block(&db, h, stay(1, 2), 999).unwrap_err().status, 409);
        block(&db, h, stay(1, 2), 1000).unwrap();
        let status = db
            .query("SELECT status FROM orders WHERE id = 1", &[])
            .unwrap()
            .first()
            .unwrap()
            .text("status")
            .unwrap();
        assert_eq!(status, "EXPIRED");
        // All of the request's nights are free, not only the blocked one.
        hold_for_order(&db, h, 2, stay(0, 1), None).unwrap();
        hold_for_order(&db, h, 3, stay(2, 3), None).unwrap();
        // A confirmed hold has no deadline.
        db.execute("UPDATE orders SET expires_at = 5 WHERE id = 4", &[])
            .unwrap();
        hold_for_order(&db, h, 4, stay(5, 6), Some(5)).unwrap();
        confirm_order(&db, 4).unwrap();
        assert_eq!(booked_from(&db, h, d(5), 10).unwrap().0, vec![stay(5, 6)]);
    }

    #[test]
    fn ranges_join_consecutive_nights() {
        let nights = [d(1), d(2), d(3), d(5), d(7), d(8)];
        assert_eq!(ranges(&nights), vec![stay(1, 4), stay(5, 6), stay(7, 9)]);
        assert_eq!(ranges(&[]), vec![]);
    }
}
