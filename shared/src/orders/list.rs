//! `GET /user/orders?role=`: the orders a user placed as a guest, or the
//! orders for the user's houses ([`OrderRole`], [`list`]).

use serde::{Deserialize, Serialize};

use crate::errno::{ApiError, ApiResult};
use crate::houses::View;
use crate::params;
use crate::store::{Row, Sql, SqlError};

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
    pub status: String,
    /// The guest's comment, or the landlord's reject reason.
    pub comment: String,
    /// The guest's conversation with the landlord about the house.
    pub conversation_id: Option<i64>,
}

/// The columns [`OrderItem::from_row`] reads; statements append the filter.
macro_rules! order_item_select {
    () => {
        "SELECT o.id AS order_id, o.house_id AS house_id, h.title AS title,
                h.index_image AS cover, o.start_date AS start_date, o.end_date AS end_date,
                o.created_at AS created_at, o.days AS days, o.amount AS amount,
                o.status AS status, o.comment AS comment, c.id AS conversation_id
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
    fn from_row(row: Row<'_>, view: &View) -> Result<OrderItem, SqlError> {
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
            status: row.text("status")?,
            comment: row.text_or_empty("comment")?,
            conversation_id: row.opt_int("conversation_id")?,
        })
    }
}

/// `user`'s orders in `role`, newest first (none: an empty list).
pub fn list(db: &impl Sql, view: &View, user: i64, role: OrderRole) -> ApiResult<Vec<OrderItem>> {
    Ok(db
        .query(role.statement(), params![user])?
        .map(|row| OrderItem::from_row(row, view))?)
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
