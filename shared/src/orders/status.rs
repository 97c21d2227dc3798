//! `PUT /orders/:id/status` ([`StatusChange`], [`change_status`]) and
//! `GET /orders/:id/refund` ([`refund_preview`]).
//!
//! The landlord accepts or rejects a request (WAIT_ACCEPT, before its
//! deadline), or cancels an accepted stay before check-in (`host_cancel`,
//! the guest gets everything back); the guest cancels a request (nothing
//! was charged) or an accepted stay before check-in (refund by the order's
//! [`CancelPolicy`]). Each is one conditional UPDATE from the status it
//! leaves (and, for a request, before its deadline), so a repeated or
//! concurrent request applies at most once (the others get 4004, HTTP 409);
//! the same transaction confirms (accept) or frees (every other) the
//! order's nights and records the [`OrderEvent`].

use serde::{Deserialize, Serialize};

use crate::cache;
use crate::errno::{ApiError, ApiResult};
use crate::nights;
use crate::params;
use crate::payments::actions::{self, PaymentAction};
use crate::payments::checkout::stripe_error;
use crate::payments::{Payments, Transport};
use crate::store::{Kv, Sql};

use super::event::{self, OrderEvent};
use super::policy::{self, CancelPolicy};
use super::{OrderParties, OrderStatus, Party, note};

/// A reject or cancel reason is a short note to the guest.
pub const REJECT_REASON_MAX_CHARS: usize = 200;

/// `PUT /orders/:id/status` as it arrives.
#[derive(Deserialize)]
pub struct StatusRequest {
    pub action: String,
    #[serde(default)]
    pub reason: Option<String>,
    /// With `cancel`: the refund (fen) the guest was shown and agreed to.
    #[serde(default)]
    pub refund: Option<i64>,
}

/// A requested transition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StatusChange {
    Accept,
    Reject {
        reason: String,
    },
    /// The guest cancels; when `agreed_refund` is given, only if that is
    /// what cancelling gives now (the confirm step of a preview: the
    /// landlord may have accepted, or a policy boundary passed, since).
    Cancel {
        agreed_refund: Option<i64>,
    },
    /// The landlord cancels an accepted stay.
    HostCancel {
        reason: String,
    },
}

impl StatusChange {
    pub fn parse(req: StatusRequest) -> ApiResult<StatusChange> {
        let reason = |what: &str| -> ApiResult<String> {
            let raw = req
                .reason
                .as_deref()
                .ok_or_else(|| ApiError::param(format!("{what}须填写原因")))?;
            note(raw, REJECT_REASON_MAX_CHARS, &format!("{what}原因"))
        };
        match req.action.as_str() {
            "accept" => Ok(StatusChange::Accept),
            "cancel" => Ok(StatusChange::Cancel {
                agreed_refund: req.refund,
            }),
            "reject" => Ok(StatusChange::Reject {
                reason: reason("拒单")?,
            }),
            "host_cancel" => Ok(StatusChange::HostCancel {
                reason: reason("取消订单")?,
            }),
            other => Err(ApiError::param(format!(
                "无效的操作: {other}（accept, reject, cancel, host_cancel）"
            ))),
        }
    }

    /// Who may make this change.
    pub fn allowed(&self) -> Party {
        match self {
            StatusChange::Accept
            | StatusChange::Reject { .. }
            | StatusChange::HostCancel { .. } => Party::Landlord,
            StatusChange::Cancel { .. } => Party::Guest,
        }
    }

    /// What the order's `comment` column carries afterwards.
    pub fn note(&self) -> &str {
        match self {
            StatusChange::Reject { reason } | StatusChange::HostCancel { reason } => reason,
            _ => "",
        }
    }
}

/// What a change does to an order as it stands at `now`, decided before
/// the write; the write re-checks the status and deadline it rests on.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Transition {
    from: OrderStatus,
    to: OrderStatus,
    /// Fen back to the guest.
    refund: i64,
    /// `canceled_by`: "" unless cancelled.
    canceled_by: &'static str,
    event: OrderEvent,
    /// `payment` afterwards.
    payment: &'static str,
    /// What is still to do at Stripe once it commits.
    action: Option<PaymentAction>,
}

/// 4004 (409) for a change the order's state doesn't allow.
fn refused(message: &str) -> ApiError {
    ApiError::conflict(message)
}

impl OrderParties {
    /// Whether the order is a request (or a payment) whose deadline has
    /// passed at `now`.
    fn expired_at(&self, now: i64) -> bool {
        self.status.waits() && self.expires_at.is_some_and(|t| t <= now)
    }

    /// `payment` and the Stripe action of a transition that gives the
    /// guest `refund` fen back (a card hold not captured yet is released
    /// whatever the refund).
    fn money(&self, to: OrderStatus, refund: i64) -> (&'static str, Option<PaymentAction>) {
        let Some(_) = &self.payment_intent else {
            return ("none", None);
        };
        match (self.payment.as_str(), to) {
            ("authorized", OrderStatus::WaitComment) => ("captured", None),
            ("captured", _) if refund > 0 => ("refunded", Some(PaymentAction::Refund(refund))),
            ("captured", _) => ("captured", None),
            // Authorized, or 3-D Secure begun (WAIT_PAYMENT): let it go.
            ("authorized" | "none", _) => ("released", Some(PaymentAction::Release)),
            (other, _) => (stored_payment(other), None),
        }
    }

    /// Before check-in (14:00 on the first day, app zone) at `now`.
    fn before_check_in(&self, now: i64, utc_offset: i64) -> bool {
        now < policy::check_in_at(self.start_date, utc_offset)
    }

    /// The refund a guest cancellation gives at `now`, or why there is none
    /// to give (4004).
    fn guest_cancellation(&self, now: i64, utc_offset: i64) -> ApiResult<(OrderStatus, i64)> {
        if self.expired_at(now) {
            return Err(refused("该预订请求已过期"));
        }
        match self.status {
            // A request, or a payment under way: nothing has been charged.
            OrderStatus::WaitAccept | OrderStatus::WaitPayment => Ok((self.status, 0)),
            OrderStatus::WaitComment if self.before_check_in(now, utc_offset) => {
                let refund = policy::guest_refund(
                    self.cancel_policy,
                    self.amount,
                    self.house_price,
                    self.created_at,
                    policy::check_in_at(self.start_date, utc_offset),
                    now,
                );
                Ok((OrderStatus::WaitComment, refund))
            }
            OrderStatus::WaitComment => Err(refused("已过入住时间，无法取消")),
            _ => Err(refused("订单状态已改变，无法执行该操作")),
        }
    }

    /// What `change` does to this order at `now` (4004 when nothing may).
    fn plan(&self, change: &StatusChange, now: i64, utc_offset: i64) -> ApiResult<Transition> {
        let request = |to: OrderStatus, event: OrderEvent| {
            if self.expired_at(now) {
                return Err(refused("该预订请求已过期"));
            }
            if self.status != OrderStatus::WaitAccept {
                return Err(refused("订单状态已改变，无法执行该操作"));
            }
            let (payment, action) = self.money(to, 0);
            Ok(Transition {
                from: OrderStatus::WaitAccept,
                to,
                refund: 0,
                canceled_by: "",
                event,
                payment,
                action,
            })
        };
        match change {
            StatusChange::Accept => request(OrderStatus::WaitComment, OrderEvent::Accepted),
            StatusChange::Reject { reason } => request(
                OrderStatus::Rejected,
                OrderEvent::Rejected {
                    reason: reason.clone(),
                },
            ),
            StatusChange::Cancel { agreed_refund } => {
                let (from, refund) = self.guest_cancellation(now, utc_offset)?;
                if agreed_refund.is_some_and(|agreed| agreed != refund) {
                    return Err(refused("退款金额已变化，请重新确认后再取消"));
                }
                let (payment, action) = self.money(OrderStatus::Canceled, refund);
                Ok(Transition {
                    from,
                    to: OrderStatus::Canceled,
                    refund,
                    canceled_by: Party::Guest.as_str(),
                    event: OrderEvent::Canceled {
                        by: Party::Guest,
                        refund,
                    },
                    payment,
                    action,
                })
            }
            StatusChange::HostCancel { .. } => {
                if self.status != OrderStatus::WaitComment {
                    return Err(refused("只有已接单的订单可以由房东取消"));
                }
                if !self.before_check_in(now, utc_offset) {
                    return Err(refused("已过入住时间，无法取消"));
                }
                let (payment, action) = self.money(OrderStatus::Canceled, self.amount);
                Ok(Transition {
                    payment,
                    action,
                    from: OrderStatus::WaitComment,
                    to: OrderStatus::Canceled,
                    refund: self.amount,
                    canceled_by: Party::Landlord.as_str(),
                    event: OrderEvent::Canceled {
                        by: Party::Landlord,
                        refund: self.amount,
                    },
                })
            }
        }
    }
}

/// The transition, only from `?5` and, for an order with a deadline, only
/// before it (`?3`, now); the deadline goes (an answered request has none).
/// Parameters: new status, comment, now, order id, expected status,
/// refund, canceled_by, payment.
const TRANSITION: &str = "UPDATE orders SET status = ?1, comment = ?2, updated_at = ?3,
        refund = ?6, canceled_by = ?7, expires_at = NULL, payment = ?8
    WHERE id = ?4 AND status = ?5 AND (expires_at IS NULL OR expires_at > ?3)
    RETURNING id AS order_id";

/// Applies `change` to the order at `now` if `user` is the party allowed
/// to make it (else 4105) and the order's state allows it (else 4004, HTTP
/// 409: including a repeated or concurrent request that got there first).
/// Unknown order: 4002. `utc_offset` places check-in.
///
/// Money (an order paid by card, `payments` set): accepting captures the
/// hold at Stripe before anything is written (Stripe failing: 4301, the
/// request stays for a retry); every other change writes what is still to
/// do at Stripe (release the hold, refund) in its own transaction
/// ([`actions`]), done after commit. An accept that captured but then lost
/// its race (expired or cancelled meanwhile) leaves the money to that
/// other change's release, which refunds a captured intent in full.
#[allow(clippy::too_many_arguments)]
pub async fn change_status<T: Transport>(
    db: &impl Sql,
    kv: &impl Kv,
    payments: Option<&Payments<T>>,
    user: i64,
    order_id: i64,
    change: &StatusChange,
    now: i64,
    utc_offset: i64,
) -> ApiResult<()> {
    let order = OrderParties::load(db, order_id)?;
    order.require(change.allowed(), user)?;
    // Decided on the order as read; its status, deadline and dates are
    // checked again by the UPDATE (status, deadline) or never change (dates,
    // amount, policy), so a concurrent change can't slip in between.
    let step = order.plan(change, now, utc_offset)?;
    if step.to == OrderStatus::WaitComment
        && order.payment == "authorized"
        && let Some(intent) = &order.payment_intent
    {
        let payments = payments.ok_or_else(|| {
            ApiError::internal("an authorized order is accepted while payments are off")
        })?;
        payments
            .stripe
            .capture(order_id, intent)
            .await
            .map_err(stripe_error)?;
    }
    db.write_tx(|db| {
        let moved = db.query_i64(
            TRANSITION,
            params![
                step.to.as_str(),
                change.note(),
                now,
                order_id,
                step.from.as_str(),
                step.refund,
                step.canceled_by,
                step.payment,
            ],
        )?;
        if moved.is_none() {
            return Err(refused("订单状态已改变，无法执行该操作"));
        }
        if step.to == OrderStatus::WaitComment {
            nights::confirm_order(db, order_id)?;
        } else {
            nights::release_order(db, order_id)?;
        }
        if let (Some(action), Some(intent)) = (step.action, &order.payment_intent) {
            actions::enqueue(db, order_id, intent, action, now)?;
        }
        // A payment under way asked the landlord nothing yet.
        if step.from != OrderStatus::WaitPayment {
            event::record(db, order_id, &step.event, now)?;
        }
        Ok(())
    })?;
    // The detail calendar shows held nights (and caches their deadlines).
    cache::invalidate(kv, &[&cache::house_detail(order.house_id)]);
    Ok(())
}

/// A stored `payment` value as a `'static` one.
fn stored_payment(text: &str) -> &'static str {
    ["none", "authorized", "captured", "released", "refunded"]
        .into_iter()
        .find(|p| *p == text)
        .unwrap_or("none")
}

/// `GET /orders/:id/refund`: what the guest would get back by cancelling
/// at `now`.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct RefundPreview {
    pub policy: CancelPolicy,
    /// Fen.
    pub refund: i64,
}

/// The order's policy and the refund a guest cancellation at `now` would
/// give: the order's guest only (4105), unknown order 4002, an order that
/// can't be cancelled 4004 (HTTP 409).
pub fn refund_preview(
    db: &impl Sql,
    user: i64,
    order_id: i64,
    now: i64,
    utc_offset: i64,
) -> ApiResult<RefundPreview> {
    let order = OrderParties::load(db, order_id)?;
    order.require(Party::Guest, user)?;
    let (_, refund) = order.guest_cancellation(now, utc_offset)?;
    Ok(RefundPreview {
        policy: order.cancel_policy,
        refund,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Date;

    const DAY: i64 = 86_400;
    const CANCEL: StatusChange = StatusChange::Cancel {
        agreed_refund: None,
    };

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
        assert_eq!(
            parse(r#"{"action":"cancel","refund":0}"#).unwrap(),
            StatusChange::Cancel {
                agreed_refund: Some(0)
            }
        );
        assert!(parse(r#"{"action":"reject"}"#).is_err(), "reason required");
        assert!(
            parse(r#"{"action":"host_cancel"}"#).is_err(),
            "reason required"
        );
        assert!(parse(r#"{"action":"reject","reason":"  "}"#).is_err());
        let long = "x".repeat(REJECT_REASON_MAX_CHARS + 1);
        assert!(parse(&format!(r#"{{"action":"reject","reason":"{long}"}}"#)).is_err());
        assert!(parse(&format!(r#"{{"action":"host_cancel","reason":"{long}"}}"#)).is_err());
        let r = parse(r#"{"action":"reject","reason":" 已满 "}"#).unwrap();
        assert_eq!(r.note(), "已满");
        let c = parse(r#"{"action":"host_cancel","reason":"漏水\r\n维修"}"#).unwrap();
        assert_eq!((c.note(), c.allowed()), ("漏水\n维修", Party::Landlord));
        assert!(parse(r#"{"action":"delete"}"#).is_err());
    }

    /// An order of 3 nights at 100.00 from `start`, booked at `created_at`.
    fn order(status: OrderStatus, expires_at: Option<i64>) -> OrderParties {
        OrderParties {
            guest_id: 2,
            landlord_id: 1,
            house_id: 1,
            status,
            start_date: Date::parse("2030-05-01").unwrap(),
            end_date: Date::parse("2030-05-04").unwrap(),
            amount: 30_000,
            house_price: 10_000,
            cancel_policy: CancelPolicy::Flexible,
            created_at: 0,
            expires_at,
            payment: "none".into(),
            payment_intent: None,
        }
    }

    /// 2030-05-01 14:00 UTC (the app zone is UTC here).
    const CHECK_IN: i64 = 1_903_824_000 + 14 * 3600;

    #[test]
    fn requests_are_answered_only_before_their_deadline() {
        let o = order(OrderStatus::WaitAccept, Some(1000));
        let accept = |now| o.plan(&StatusChange::Accept, now, 0);
        assert_eq!(accept(999).unwrap().to, OrderStatus::WaitComment);
        assert_eq!(accept(1000).unwrap_err().status, 409, "at the deadline");
        let cancel = o.plan(&CANCEL, 999, 0).unwrap();
        assert_eq!((cancel.refund, cancel.canceled_by), (0, "guest"));
        assert!(o.plan(&CANCEL, 1000, 0).is_err());
        let host = StatusChange::HostCancel { reason: "x".into() };
        assert!(
            o.plan(&host, 999, 0).is_err(),
            "host_cancel is for accepted stays"
        );
    }

    #[test]
    fn accepted_stays_are_cancelled_only_before_check_in() {
        let o = order(OrderStatus::WaitComment, None);
        let host = StatusChange::HostCancel { reason: "x".into() };
        let t = o.plan(&host, CHECK_IN - 1, 0).unwrap();
        assert_eq!((t.refund, t.canceled_by), (30_000, "landlord"));
        assert!(o.plan(&host, CHECK_IN, 0).is_err(), "at check-in");
        let t = o.plan(&CANCEL, CHECK_IN - DAY, 0).unwrap();
        assert_eq!(t.refund, 30_000, "flexible, exactly 24 h before");
        let t = o.plan(&CANCEL, CHECK_IN - DAY + 1, 0).unwrap();
        assert_eq!(t.refund, 20_000, "flexible, later: all but the first night");
        assert!(o.plan(&CANCEL, CHECK_IN, 0).is_err());
        // Agreed to what the preview showed: applies only while it is so.
        let agreed = |refund| StatusChange::Cancel {
            agreed_refund: Some(refund),
        };
        assert!(o.plan(&agreed(30_000), CHECK_IN - DAY, 0).is_ok());
        assert!(o.plan(&agreed(30_000), CHECK_IN - DAY + 1, 0).is_err());
        let request = order(OrderStatus::WaitAccept, Some(CHECK_IN));
        assert!(request.plan(&agreed(0), 0, 0).is_ok());
        assert!(o.plan(&agreed(0), 0, 0).is_err(), "accepted meanwhile");
        // Check-in is 14:00 in the app's zone: at +08:00 it comes 8 h sooner.
        assert!(o.plan(&CANCEL, CHECK_IN - 8 * 3600, 8 * 3600).is_err());
        assert!(o.plan(&StatusChange::Accept, 0, 0).is_err());
        for done in [
            OrderStatus::Complete,
            OrderStatus::Canceled,
            OrderStatus::Expired,
        ] {
            assert!(order(done, None).plan(&CANCEL, 0, 0).is_err());
        }
    }

    #[test]
    fn the_money_follows_the_transition() {
        let paid = |status, payment: &str| OrderParties {
            payment: payment.into(),
            payment_intent: Some("pi_1".into()),
            ..order(status, Some(CHECK_IN))
        };
        let request = paid(OrderStatus::WaitAccept, "authorized");
        let t = request.plan(&StatusChange::Accept, 0, 0).unwrap();
        assert_eq!((t.payment, t.action), ("captured", None));
        let reject = StatusChange::Reject { reason: "x".into() };
        let t = request.plan(&reject, 0, 0).unwrap();
        assert_eq!(
            (t.payment, t.action),
            ("released", Some(PaymentAction::Release))
        );
        let t = request.plan(&CANCEL, 0, 0).unwrap();
        assert_eq!(
            (t.payment, t.action),
            ("released", Some(PaymentAction::Release))
        );
        // 3-D Secure begun, then cancelled: its intent is let go.
        let paying = paid(OrderStatus::WaitPayment, "none");
        let t = paying.plan(&CANCEL, 0, 0).unwrap();
        assert_eq!(
            (t.from, t.action),
            (OrderStatus::WaitPayment, Some(PaymentAction::Release))
        );
        let stay = OrderParties {
            expires_at: None,
            ..paid(OrderStatus::WaitComment, "captured")
        };
        let t = stay.plan(&CANCEL, CHECK_IN - DAY + 1, 0).unwrap();
        assert_eq!(
            (t.payment, t.action),
            ("refunded", Some(PaymentAction::Refund(20_000)))
        );
        let host = StatusChange::HostCancel { reason: "x".into() };
        let t = stay.plan(&host, 0, 0).unwrap();
        assert_eq!(
            (t.payment, t.action),
            ("refunded", Some(PaymentAction::Refund(30_000)))
        );
        // A policy giving nothing back: no call to Stripe, still captured.
        let strict = OrderParties {
            cancel_policy: CancelPolicy::Strict,
            ..stay.clone()
        };
        let t = strict.plan(&CANCEL, CHECK_IN - 3600, 0).unwrap();
        assert_eq!((t.refund, t.payment, t.action), (0, "captured", None));
        // Payments off: nothing moves.
        let t = order(OrderStatus::WaitAccept, Some(CHECK_IN))
            .plan(&reject, 0, 0)
            .unwrap();
        assert_eq!((t.payment, t.action), ("none", None));
    }
}
