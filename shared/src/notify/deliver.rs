//! Delivering the notifications: claim a due one, send it, record the
//! outcome ([`deliver_due`]), by the claim, lease and backoff every outbox
//! shares ([`crate::outbox`]): a notification is delivered once however
//! many instances deliver at the same time, and retried with backoff until
//! the gateway takes it.

use std::future::Future;

use crate::errno::ApiResult;
use crate::outbox::{self, Outbox};
use crate::store::{Row, SqlError};

pub use crate::outbox::{Delivery, FIRST_BACKOFF_SECS, LEASE_SECS, MAX_BACKOFF_SECS, backoff_secs};

/// What a [`Sender`] sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outgoing {
    /// The Idempotency-Key.
    pub key: String,
    pub mobile: String,
    pub template: String,
    /// A JSON object, as stored.
    pub params: String,
}

/// Sends notifications (the SMS gateway, or the log).
pub trait Sender {
    /// `Err` says why it was not taken, for the log.
    fn send(&self, n: &Outgoing) -> impl Future<Output = Result<(), String>>;
}

/// The `notifications` table as an [`Outbox`].
struct Notifications;

impl Outbox for Notifications {
    const ANY_DUE: &'static str = "SELECT id FROM notifications
        WHERE delivered_at IS NULL AND next_attempt_at <= ?1
        ORDER BY next_attempt_at LIMIT 1";
    const CLAIM: &'static str = "UPDATE notifications
        SET next_attempt_at = ?2, claim = ?3, attempts = attempts + 1
        WHERE id = (SELECT id FROM notifications
                    WHERE delivered_at IS NULL AND next_attempt_at <= ?1
                    ORDER BY next_attempt_at, id LIMIT 1)
          AND delivered_at IS NULL AND next_attempt_at <= ?1
        RETURNING id, idempotency_key, mobile, template, params, attempts";
    const DONE: &'static str = "UPDATE notifications SET delivered_at = ?1, claim = NULL
        WHERE id = ?2 AND claim = ?3";
    const RETRY_LATER: &'static str = "UPDATE notifications SET next_attempt_at = ?1, claim = NULL
        WHERE id = ?2 AND claim = ?3";
    type Item = Outgoing;

    fn item(row: &Row<'_>) -> Result<Outgoing, SqlError> {
        Ok(Outgoing {
            key: row.text("idempotency_key")?,
            mobile: row.text("mobile")?,
            template: row.text("template")?,
            params: row.text("params")?,
        })
    }

    fn label(n: &Outgoing) -> String {
        format!("notification {}", n.key)
    }
}

/// Delivers up to `limit` due notifications through `sender`, oldest due
/// first, one claim at a time. Stops at the first failure (a gateway that
/// is down or slow is not asked again in this call) and when nothing is
/// due or another instance claimed what was.
pub async fn deliver_due(
    db: &impl crate::store::Sql,
    sender: &impl Sender,
    now: i64,
    limit: usize,
) -> ApiResult<Delivery> {
    outbox::deliver_due::<Notifications>(db, now, limit, async |n: &Outgoing| sender.send(n).await)
        .await
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    use super::*;
    use crate::notify::order_event;
    use crate::orders::OrderEvent;
    use crate::params;
    use crate::store::Sql;
    use crate::store::native::NativeSqlite;

    /// Records what it is given; fails while `failing`.
    #[derive(Default)]
    struct Recorder {
        sent: RefCell<Vec<Outgoing>>,
        failing: std::cell::Cell<bool>,
    }

    impl Sender for Recorder {
        async fn send(&self, n: &Outgoing) -> Result<(), String> {
            if self.failing.get() {
                return Err("down".into());
            }
            self.sent.borrow_mut().push(n.clone());
            Ok(())
        }
    }

    fn run<T>(f: impl Future<Output = T>) -> T {
        let mut f = pin!(f);
        match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(v) => v,
            Poll::Pending => panic!("the test sender never waits"),
        }
    }

    const T0: i64 = 1_800_000_000;

    fn db_with_order() -> (NativeSqlite, i64) {
        let db = NativeSqlite::in_memory().unwrap();
        for (id, mobile) in [(1, "13800000001"), (2, "13800000002")] {
            db.execute(
                "INSERT INTO users (id, name, mobile, password_hash, created_at)
                 VALUES (?1, ?2, ?2, 'x', 0)",
                params![id, mobile],
            )
            .unwrap();
        }
        db.execute(
            "INSERT INTO houses (id, user_id, area_id, title, price, address, room_count,
                acreage, unit, capacity, beds, deposit, min_days, max_days, created_at)
             VALUES (1, 1, 1, 'Sea view', 100, 'a', 1, 1, 'u', 1, 'b', 0, 1, 0, 0)",
            &[],
        )
        .unwrap();
        db.execute(
            "INSERT INTO orders (id, user_id, house_id, start_date, end_date, days, house_price,
                amount, status, created_at, updated_at)
             VALUES (7, 2, 1, '2030-01-01', '2030-01-03', 2, 100, 200, 'WAIT_ACCEPT', 0, 0)",
            &[],
        )
        .unwrap();
        (db, 7)
    }

    #[test]
    fn a_notification_is_delivered_once_and_retried_with_backoff() {
        let (db, order) = db_with_order();
        db.write_tx(|db| order_event(db, order, &OrderEvent::Requested, T0))
            .unwrap();
        // The same event again (a retried transaction) is the same row.
        db.write_tx(|db| order_event(db, order, &OrderEvent::Requested, T0))
            .unwrap();
        let sender = Recorder::default();
        sender.failing.set(true);
        let d = run(deliver_due(&db, &sender, T0, 5)).unwrap();
        assert_eq!(
            d,
            Delivery {
                delivered: 0,
                failed: 1
            }
        );
        // Not due again before the backoff.
        let d = run(deliver_due(&db, &sender, T0 + FIRST_BACKOFF_SECS - 1, 5)).unwrap();
        assert_eq!(d, Delivery::default());
        sender.failing.set(false);
        let d = run(deliver_due(&db, &sender, T0 + FIRST_BACKOFF_SECS, 5)).unwrap();
        assert_eq!(
            d,
            Delivery {
                delivered: 1,
                failed: 0
            }
        );
        let sent = sender.sent.borrow();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].key, "order-7-order_requested");
        assert_eq!(sent[0].mobile, "13800000001", "the landlord");
        let params: serde_json::Value = serde_json::from_str(&sent[0].params).unwrap();
        assert_eq!(params["house_title"], "Sea view");
        assert_eq!(params["name"], "13800000002");
        drop(sent);
        // Delivered: never again.
        let d = run(deliver_due(&db, &sender, T0 + 10_000, 5)).unwrap();
        assert_eq!(d, Delivery::default());
    }

    #[test]
    fn a_claimed_notification_is_not_claimed_again_until_its_lease_ends() {
        let (db, order) = db_with_order();
        db.write_tx(|db| order_event(db, order, &OrderEvent::Accepted, T0))
            .unwrap();
        let claimed = db
            .query(Notifications::CLAIM, params![T0, T0 + LEASE_SECS, "a"])
            .unwrap();
        assert_eq!(claimed.len(), 1);
        assert!(
            db.query(Notifications::CLAIM, params![T0, T0 + LEASE_SECS, "b"])
                .unwrap()
                .is_empty()
        );
        // A delivery that died: the row is due again when the lease ends,
        // and the dead claim's outcome no longer applies.
        let sender = Recorder::default();
        let d = run(deliver_due(&db, &sender, T0 + LEASE_SECS - 1, 5)).unwrap();
        assert_eq!(d, Delivery::default());
        let d = run(deliver_due(&db, &sender, T0 + LEASE_SECS, 5)).unwrap();
        assert_eq!(d.delivered, 1);
        db.execute(
            Notifications::RETRY_LATER,
            params![T0, claimed.first().unwrap().int("id").unwrap(), "a"],
        )
        .unwrap();
        let d = run(deliver_due(&db, &sender, T0 + 10_000, 5)).unwrap();
        assert_eq!(d, Delivery::default(), "delivered stays delivered");
    }
}
