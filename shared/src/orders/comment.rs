//! `PUT /orders/:id/comment`: the guest reviews a finished stay ([`Review`],
//! [`comment`]): a text and a rating of 1-5 stars, both required (but for
//! classic clients, which never send a rating: with `legacy_clients` on, a
//! review without one is unrated and left out of the average). Only the
//! order's guest (else 4105), only from WAIT_COMMENT and only once the
//! check-out day has come in the app's time zone (else 4004, HTTP 409): a
//! review of a stay that has not happened yet would be worthless. The order
//! becomes COMPLETE with its rating, and the house's `order_count` and its
//! rating count, sum and average change in the same transaction, so lists
//! and the rating sort read one row and never see a half-counted review.

use std::ops::RangeInclusive;

use serde::Deserialize;

use crate::cache;
use crate::clock::Date;
use crate::errno::{ApiError, ApiResult};
use crate::params;
use crate::store::{Kv, Sql};

use super::{OrderParties, OrderStatus, Party, note};

/// A review: room for a paragraph, not an essay (the detail page shows ten).
pub const COMMENT_MAX_CHARS: usize = 500;

/// Stars a guest gives a stay.
pub const STARS: RangeInclusive<i64> = 1..=5;

/// `PUT /orders/:id/comment` as it arrives. `rating` is kept as raw JSON so
/// that [`Review::parse`] can say what is wrong with it: only a JSON integer
/// counts (not `"5"`, not `4.5`), unlike the form fields that old clients
/// send as strings, because no old client sends a rating. Other fields
/// (classic clients send `order_id` too) are ignored.
#[derive(Deserialize)]
pub struct CommentRequest {
    pub comment: String,
    #[serde(default)]
    pub rating: Option<serde_json::Value>,
}

/// A guest's review of a finished stay: the text and 1-5 stars (`None`:
/// unrated, from a classic client).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Review {
    text: String,
    stars: Option<i64>,
}

impl Review {
    /// The review in `req`. Its rating is required unless `unrated_allowed`
    /// (the `legacy_clients` mode), and then absent or `null` is unrated; a
    /// rating that is given must be an integer from 1 to 5 either way.
    pub fn parse(req: &CommentRequest, unrated_allowed: bool) -> ApiResult<Review> {
        let stars = match req.rating.as_ref() {
            None | Some(serde_json::Value::Null) if unrated_allowed => None,
            rating => Some(
                rating
                    .and_then(serde_json::Value::as_i64)
                    .filter(|n| STARS.contains(n))
                    .ok_or_else(|| {
                        ApiError::param(format!(
                            "评分须为 {}-{} 的整数",
                            STARS.start(),
                            STARS.end()
                        ))
                    })?,
            ),
        };
        Ok(Review {
            text: note(&req.comment, COMMENT_MAX_CHARS, "评价")?,
            stars,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// 1-5, or `None` when unrated.
    pub fn stars(&self) -> Option<i64> {
        self.stars
    }
}

/// WAIT_COMMENT → COMPLETE once the stay is over (`?4`, today), with the
/// review. Parameters: comment, now, order id, today, stars (NULL:
/// unrated). Returns the house id.
const COMPLETE: &str = "UPDATE orders SET status = 'COMPLETE', comment = ?1, rating = ?5,
        updated_at = ?2
    WHERE id = ?3 AND status = 'WAIT_COMMENT' AND end_date <= ?4
    RETURNING house_id";

/// One more completed order and one more rating of `?2` stars. Every SET
/// expression reads the row as it was before the update (SQL's rule), so
/// the average is the new sum over the new count.
const COUNT_REVIEW: &str = "UPDATE houses SET order_count = order_count + 1,
        rating_count = rating_count + 1, rating_sum = rating_sum + ?2,
        rating_avg = CAST(rating_sum + ?2 AS DOUBLE PRECISION) / (rating_count + 1)
    WHERE id = ?1";

/// One more completed order, unrated: the average is left as it is.
const COUNT_UNRATED: &str = "UPDATE houses SET order_count = order_count + 1 WHERE id = ?1";

/// Completes the order with `review` (see the module docs for who and when).
pub fn comment(
    db: &impl Sql,
    kv: &impl Kv,
    user: i64,
    order_id: i64,
    review: &Review,
    today: Date,
    now: i64,
) -> ApiResult<()> {
    let order = OrderParties::load(db, order_id)?;
    order.require(Party::Guest, user)?;
    // A precise message for the common case; the UPDATE below re-checks both
    // conditions, so a concurrent change still cannot slip through.
    if order.status != OrderStatus::WaitComment {
        return Err(ApiError::conflict("只有待评价的订单可以评价"));
    }
    if order.end_date > today {
        return Err(ApiError::conflict("入住结束后才能评价"));
    }
    let house_id = db.write_tx(|db| {
        let house_id = db
            .query_i64(
                COMPLETE,
                params![review.as_str(), now, order_id, today, review.stars()],
            )?
            .ok_or_else(|| ApiError::conflict("订单不在待评价状态，或入住尚未结束"))?;
        match review.stars() {
            Some(stars) => db.execute(COUNT_REVIEW, params![house_id, stars])?,
            None => db.execute(COUNT_UNRATED, params![house_id])?,
        };
        Ok(house_id)
    })?;
    // The detail page lists comments and the rating; the carousel ranks by
    // order_count; lists and the rating sort show the average.
    cache::invalidate_house(kv, house_id);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::photos::test_support::db_with_house;
    use crate::store::native::MemoryKv;

    fn review(comment: &str, rating: serde_json::Value) -> ApiResult<Review> {
        Review::parse(
            &CommentRequest {
                comment: comment.into(),
                rating: Some(rating),
            },
            false,
        )
    }

    #[test]
    fn reviews_keep_line_breaks_only() {
        let text = |c: &str| review(c, 5.into()).map(|r| r.as_str().to_string());
        assert_eq!(text(" 很好\r\n下次还来 ").unwrap(), "很好\n下次还来");
        assert!(text("").is_err());
        assert!(text("a\u{7}b").is_err());
        assert!(text(&"好".repeat(COMMENT_MAX_CHARS)).is_ok());
        assert!(text(&"好".repeat(COMMENT_MAX_CHARS + 1)).is_err());
    }

    #[test]
    fn the_rating_is_a_required_integer_from_one_to_five() {
        for stars in STARS {
            assert_eq!(review("好", stars.into()).unwrap().stars(), Some(stars));
        }
        for bad in ["0", "6", "2.5", "5.0", "\"5\"", "null", "true", "[5]", "-1"] {
            let err = review("好", serde_json::from_str(bad).unwrap()).unwrap_err();
            assert_eq!(
                (err.errno, err.status),
                (crate::Errno::InvalidParam, 400),
                "{bad}"
            );
        }
        let missing: CommentRequest = serde_json::from_str(r#"{"comment":"好"}"#).unwrap();
        assert!(Review::parse(&missing, false).is_err());
    }

    #[test]
    fn classic_clients_may_leave_the_rating_out_but_not_send_a_bad_one() {
        let parse = |body: &str| {
            let req: CommentRequest = serde_json::from_str(body).unwrap();
            Review::parse(&req, true)
        };
        let classic = parse(r#"{"order_id":"7","comment":"好"}"#).unwrap();
        assert_eq!((classic.as_str(), classic.stars()), ("好", None));
        assert_eq!(
            parse(r#"{"comment":"好","rating":null}"#).unwrap().stars(),
            None
        );
        assert_eq!(
            parse(r#"{"comment":"好","rating":4}"#).unwrap().stars(),
            Some(4)
        );
        for bad in ["0", "6", "\"5\"", "4.5", "true"] {
            let err = parse(&format!(r#"{{"comment":"好","rating":{bad}}}"#)).unwrap_err();
            assert_eq!(err.errno, crate::Errno::InvalidParam, "{bad}");
        }
        assert!(parse(r#"{"comment":""}"#).is_err());
    }

    #[test]
    fn a_review_completes_the_order_and_updates_the_average() {
        let (db, kv) = (db_with_house(), MemoryKv::new());
        let today = Date::parse("2030-01-10").unwrap();
        for id in 1..=4 {
            db.execute(
                "INSERT INTO orders (id, user_id, house_id, start_date, end_date, days,
                     house_price, amount, status, created_at, updated_at)
                 VALUES (?1, 2, 1, '2030-01-01', '2030-01-02', 1, 100, 100, 'WAIT_COMMENT', 0, 0)",
                params![id],
            )
            .unwrap();
        }
        let house = || {
            let rows = db
                .query(
                    "SELECT order_count, rating_count, rating_sum, rating_avg FROM houses WHERE id = 1",
                    &[],
                )
                .unwrap();
            let h = rows.first().unwrap();
            (
                h.int("order_count").unwrap(),
                h.int("rating_count").unwrap(),
                h.int("rating_sum").unwrap(),
                h.opt_real("rating_avg").unwrap(),
            )
        };
        assert_eq!(house(), (0, 0, 0, None));
        for (order, stars) in [(1, 5), (2, 4), (3, 4)] {
            let r = review("好", stars.into()).unwrap();
            comment(&db, &kv, 2, order, &r, today, 100).unwrap();
        }
        let (orders, count, sum, avg) = house();
        assert_eq!((orders, count, sum), (3, 3, 13));
        assert!((avg.unwrap() - 13.0 / 3.0).abs() < 1e-9, "{avg:?}");
        let rating = db
            .query_i64("SELECT rating FROM orders WHERE id = 1", &[])
            .unwrap();
        assert_eq!(rating, Some(5));
        // Reviewed once: a second review changes nothing.
        let again = comment(
            &db,
            &kv,
            2,
            1,
            &review("再评", 1.into()).unwrap(),
            today,
            100,
        );
        assert_eq!(again.unwrap_err().status, 409);
        assert_eq!(house().2, 13);
        // A classic client's unrated review completes its order and counts
        // as a stay, not as a rating.
        let unrated: CommentRequest = serde_json::from_str(r#"{"comment":"不错"}"#).unwrap();
        let unrated = Review::parse(&unrated, true).unwrap();
        comment(&db, &kv, 2, 4, &unrated, today, 100).unwrap();
        let (orders, count, sum, avg) = house();
        assert_eq!((orders, count, sum), (4, 3, 13));
        assert!((avg.unwrap() - 13.0 / 3.0).abs() < 1e-9, "{avg:?}");
        let order = db
            .query(
                "SELECT status, rating, comment FROM orders WHERE id = 4",
                &[],
            )
            .unwrap();
        let order = order.first().unwrap();
        assert_eq!(order.text("status").unwrap(), "COMPLETE");
        assert_eq!(order.opt_int("rating").unwrap(), None);
        assert_eq!(order.text("comment").unwrap(), "不错");
    }
}
