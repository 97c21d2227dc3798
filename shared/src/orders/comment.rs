//! `PUT /orders/:id/comment`: the guest reviews a finished stay ([`Review`],
//! [`comment`]). Only the order's guest (else 4105), only from WAIT_COMMENT
//! and only once the check-out day has come in the app's time zone (else
//! 4004, HTTP 409): a review of a stay that has not happened yet would be
//! worthless. The order becomes COMPLETE and the house's `order_count` grows
//! by one in the same transaction.

use serde::Deserialize;

use crate::cache;
use crate::clock::Date;
use crate::errno::{ApiError, ApiResult};
use crate::params;
use crate::store::{Kv, Sql};

use super::{OrderParties, OrderStatus, Party, note};

/// A review: room for a paragraph, not an essay (the detail page shows ten).
pub const COMMENT_MAX_CHARS: usize = 500;

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
}

/// WAIT_COMMENT → COMPLETE once the stay is over (`?4`, today). Parameters:
/// comment, now, order id, today. Returns the house id.
const COMPLETE: &str = "UPDATE orders SET status = 'COMPLETE', comment = ?1, updated_at = ?2
    WHERE id = ?3 AND status = 'WAIT_COMMENT' AND end_date <= ?4
    RETURNING house_id";

const COUNT_COMPLETED_ORDER: &str = "UPDATE houses SET order_count = order_count + 1 WHERE id = ?1";

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
            .query_i64(COMPLETE, params![review.as_str(), now, order_id, today])?
            .ok_or_else(|| ApiError::conflict("订单不在待评价状态，或入住尚未结束"))?;
        db.execute(COUNT_COMPLETED_ORDER, params![house_id])?;
        Ok(house_id)
    })?;
    // The detail page lists comments; the carousel ranks by order_count.
    cache::invalidate_house(kv, house_id);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}
