//! `PUT /orders/:id/status`: the landlord accepts or rejects, the guest
//! cancels ([`StatusChange`], [`change_status`]). Each moves the order out of
//! WAIT_ACCEPT with one conditional UPDATE, so a repeated or concurrent
//! request applies at most once (the others get 4004, HTTP 409); a reject or
//! cancel frees the order's nights in the same transaction, which also
//! writes the other party's notification ([`crate::notify`]).

use serde::Deserialize;

use crate::cache;
use crate::errno::{ApiError, ApiResult};
use crate::nights;
use crate::notify::{self, OrderEvent};
use crate::params;
use crate::store::{Kv, Sql};

use super::{OrderParties, OrderStatus, Party, note};

/// A reject reason is a short note to the guest.
pub const REJECT_REASON_MAX_CHARS: usize = 200;

/// `PUT /orders/:id/status` as it arrives.
#[derive(Deserialize)]
pub struct StatusRequest {
    pub action: String,
    #[serde(default)]
    pub reason: Option<String>,
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

    /// Who may make this change.
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

    /// Whether the order stops holding its nights (rejected or canceled).
    pub fn frees_nights(&self) -> bool {
        !OrderStatus::ACTIVE.contains(&self.target())
    }

    /// What the other party is told.
    pub fn event(&self) -> OrderEvent {
        match self {
            StatusChange::Accept => OrderEvent::Accepted,
            StatusChange::Reject { reason } => OrderEvent::Rejected {
                reason: reason.clone(),
            },
            // Before acceptance nothing was paid: nothing to refund.
            StatusChange::Cancel => OrderEvent::Canceled {
                by: Party::Guest,
                refund: 0,
            },
        }
    }

    /// What the order's `comment` column carries afterwards.
    pub fn note(&self) -> &str {
        match self {
            StatusChange::Reject { reason } => reason,
            _ => "",
        }
    }
}

/// Parameters: new status, comment, now, order id, expected status.
const TRANSITION: &str = "UPDATE orders SET status = ?1, comment = ?2, updated_at = ?3
    WHERE id = ?4 AND status = ?5 RETURNING id AS order_id";

/// Applies `change` to the order if `user` is the party allowed to make it
/// (else 4105) and the order is still WAIT_ACCEPT (else 4004, HTTP 409: a
/// repeated or concurrent request got there first). Unknown order: 4002.
pub fn change_status(
    db: &impl Sql,
    kv: &impl Kv,
    user: i64,
    order_id: i64,
    change: &StatusChange,
    now: i64,
) -> ApiResult<()> {
    let order = OrderParties::load(db, order_id)?;
    order.require(change.allowed(), user)?;
    db.write_tx(|db| {
        let moved = db.query_i64(
            TRANSITION,
            params![
                change.target().as_str(),
                change.note(),
                now,
                order_id,
                OrderStatus::WaitAccept.as_str(),
            ],
        )?;
        if moved.is_none() {
            return Err(ApiError::conflict("订单状态已改变，无法执行该操作"));
        }
        if change.frees_nights() {
            nights::release_order(db, order_id)?;
        }
        notify::order_event(db, order_id, &change.event(), now)?;
        Ok(())
    })?;
    // Rejected and canceled orders free their nights on the detail calendar.
    cache::invalidate(kv, &[&cache::house_detail(order.house_id)]);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
