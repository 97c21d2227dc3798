//! `GET /user/orders?role=`: the orders a user placed as a guest, or the
//! orders for the user's houses ([`OrderRole`], [`list`]).

use serde::{Deserialize, Serialize};

use crate::errno::{ApiError, ApiResult};
use crate::houses::View;
use crate::params;
use crate::store::{Row, Sql, SqlError};

use super::{CancelPolicy, OrderStatus};

/// Whose orders: the ones I placed, or the ones for my houses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderRole {
    /// `custom`: as a guest (the classic app's word for customer).
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

    fn statement(self) -> &'static str {
        match self {
            OrderRole::Custom => GUEST_ORDERS,
            OrderRole::Landlord => LANDLORD_ORDERS,
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
    /// A request past its deadline shows as EXPIRED, whether or not
    /// anything has marked it so yet.
    pub status: String,
    /// The guest's comment, or the landlord's reject or cancel reason.
    pub comment: String,
    /// A request's deadline as a timestamp, `""` when none.
    pub expires_at: String,
    pub instant_book: bool,
    pub cancel_policy: CancelPolicy,
    /// Fen given back on a cancellation.
    pub refund: i64,
    /// `guest`, `landlord`, or `""` unless cancelled.
    pub canceled_by: String,
    /// `none`: this version moves no money.
    pub payment: String,
    /// The guest's conversation with the landlord about the house.
    pub conversation_id: Option<i64>,
}

/// The columns [`OrderItem::from_row`] reads; statements append the filter.
macro_rules! order_item_select {
    () => {
        "SELECT o.id AS order_id, o.house_id AS house_id, h.title AS title,
                h.index_image AS cover, o.start_date AS start_date, o.end_date AS end_date,
                o.created_at AS created_at, o.days AS days, o.amount AS amount,
                o.status AS status, o.comment AS comment, o.expires_at AS expires_at,
                o.instant_book AS instant_book, o.cancel_policy AS cancel_policy,
                o.refund AS refund, o.canceled_by AS canceled_by, o.payment AS payment,
                c.id AS conversation_id
         FROM orders o JOIN houses h ON h.id = o.house_id
         LEFT JOIN conversations c ON c.house_id = o.house_id AND c.guest_id = o.user_id"
    };
}

/// The guest's orders, newest first.
const GUEST_ORDERS: &str = concat!(
    order_item_select!(),
    " WHERE o.user_id = ?1 ORDER BY o.id DESC"
);
/// Orders for the landlord's houses, newest first.
const LANDLORD_ORDERS: &str = concat!(
    order_item_select!(),
    " WHERE h.user_id = ?1 ORDER BY o.id DESC"
);

impl OrderItem {
    fn from_row(row: Row<'_>, view: &View, now: i64) -> Result<OrderItem, SqlError> {
        let expires_at = row.opt_int("expires_at")?;
        let mut status = row.text("status")?;
        let waits = OrderStatus::parse(&status).is_some_and(OrderStatus::waits);
        if waits && expires_at.is_some_and(|t| t <= now) {
            status = OrderStatus::Expired.as_str().to_string();
        }
        Ok(OrderItem {
            order_id: row.int("order_id")?,
            house_id: row.int("house_id")?,
            title: row.text("title")?,
            img_url: view.image(&row.text_or_empty("cover")?),
            start_date: row.text("start_date")?,
            end_date: row.text("end_date")?,
            ctime: view.timestamp(row.int("created_at")?),
            days: row.int("days")?,
            amount: row.int("amount")?,
            status,
            comment: row.text_or_empty("comment")?,
            expires_at: expires_at.map_or(String::new(), |t| view.timestamp(t)),
            instant_book: row.int("instant_book")? != 0,
            cancel_policy: CancelPolicy::parse(&row.text("cancel_policy")?)
                .map_err(|e| SqlError::Column(e.message))?,
            refund: row.int("refund")?,
            canceled_by: row.text("canceled_by")?,
            payment: row.text("payment")?,
            conversation_id: row.opt_int("conversation_id")?,
        })
    }
}

/// `user`'s orders in `role` as they stand at `now`, newest first (none:
/// an empty list).
pub fn list(
    db: &impl Sql,
    view: &View,
    user: i64,
    role: OrderRole,
    now: i64,
) -> ApiResult<Vec<OrderItem>> {
    Ok(db
        .query(role.statement(), params![user])?
        .map(|row| OrderItem::from_row(row, view, now))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles() {
        assert_eq!(
            OrderRole::parse(Some("landlord")).unwrap(),
            OrderRole::Landlord
        );
        assert!(OrderRole::parse(Some("admin")).is_err());
        assert!(OrderRole::parse(None).is_err());
    }
}
