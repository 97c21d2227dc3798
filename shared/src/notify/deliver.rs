//! Delivering the outbox: claim a due notification, send it, record the
//! outcome ([`deliver_due`]).
//!
//! A notification is due when it is not delivered and its `next_attempt_at`
//! has come. Claiming it is one conditional UPDATE that moves
//! `next_attempt_at` to the end of a lease ([`LEASE_SECS`]) and writes a
//! random claim token: of two instances claiming the same row, the database
//! lets one through (on PostgreSQL the second UPDATE waits for the first and
//! then finds the row no longer due). The outcome is written only under the
//! same token: delivered (`delivered_at`), or due again after a backoff
//! ([`backoff_secs`]). A delivery that dies in between (a crash, an instance
//! stopped) leaves the row to come due again when its lease ends.

use std::future::Future;

use crate::errno::ApiResult;
use crate::params;
use crate::store::Sql;

/// How long a claim holds a notification: far longer than one attempt may
/// take (a few seconds, [`super::gateway::ATTEMPT_TIMEOUT_NANOS`]), so a
/// claim never ends while its delivery is still under way.
pub const LEASE_SECS: i64 = 120;
/// The first retry waits this long; each failure doubles it, up to
/// [`MAX_BACKOFF_SECS`]. Retries go on until the gateway takes it.
pub const FIRST_BACKOFF_SECS: i64 = 15;
/// The longest wait between two attempts: an hour.
pub const MAX_BACKOFF_SECS: i64 = 3600;

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

/// What one [`deliver_due`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delivery {
    pub delivered: usize,
    pub failed: usize,
}

/// Whether anything is due: a read, so requests with nothing to deliver
/// take no write lock. Parameter: now.
const ANY_DUE: &str = "SELECT id FROM notifications
    WHERE delivered_at IS NULL AND next_attempt_at <= ?1
    ORDER BY next_attempt_at LIMIT 1";

/// Claims the notification due longest. Parameters: now, lease end, token.
const CLAIM: &str = "UPDATE notifications
    SET next_attempt_at = ?2, claim = ?3, attempts = attempts + 1
    WHERE id = (SELECT id FROM notifications
                WHERE delivered_at IS NULL AND next_attempt_at <= ?1
                ORDER BY next_attempt_at, id LIMIT 1)
      AND delivered_at IS NULL AND next_attempt_at <= ?1
    RETURNING id, idempotency_key, mobile, template, params, attempts";

/// Parameters: now, id, token.
const DELIVERED: &str = "UPDATE notifications SET delivered_at = ?1, claim = NULL
    WHERE id = ?2 AND claim = ?3";

/// Parameters: next attempt, id, token.
const RETRY_LATER: &str = "UPDATE notifications SET next_attempt_at = ?1, claim = NULL
    WHERE id = ?2 AND claim = ?3";

/// The wait after the `attempts`-th failed attempt.
pub fn backoff_secs(attempts: i64) -> i64 {
    let doublings = (attempts - 1).clamp(0, 20) as u32;
    (FIRST_BACKOFF_SECS << doublings).min(MAX_BACKOFF_SECS)
}

/// Delivers up to `limit` due notifications through `sender`, oldest due
/// first, one claim at a time. Stops at the first failure (a gateway that
/// is down or slow is not asked again in this call) and when nothing is
/// due or another instance claimed what was.
pub async fn deliver_due(
    db: &impl Sql,
    sender: &impl Sender,
    now: i64,
    limit: usize,
) -> ApiResult<Delivery> {
    let mut done = Delivery::default();
    if db.query(ANY_DUE, params![now])?.is_empty() {
        return Ok(done);
    }
    while done.delivered < limit {
        let token = claim_token();
        let rows = db.query(CLAIM, params![now, now + LEASE_SECS, token.as_str()])?;
        let Some(row) = rows.first() else {
            break;
        };
        let id = row.int("id")?;
        let attempts = row.int("attempts")?;
        let outgoing = Outgoing {
            key: row.text("idempotency_key")?,
            mobile: row.text("mobile")?,
            template: row.text("template")?,
            params: row.text("params")?,
        };
        match sender.send(&outgoing).await {
            Ok(()) => {
                db.execute(DELIVERED, params![now, id, token.as_str()])?;
                done.delivered += 1;
            }
            Err(why) => {
                let retry_at = now + backoff_secs(attempts);
                crate::log_line!(
                    "notification {} (attempt {attempts}) not delivered, next try in {} s: {why}",
                    outgoing.key,
                    retry_at - now
                );
                db.execute(RETRY_LATER, params![retry_at, id, token.as_str()])?;
                done.failed += 1;
                break;
            }
        }
    }
    Ok(done)
}

/// A random token naming one claim.
fn claim_token() -> String {
    format!("{:032x}", rand::random::<u128>())
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    use super::*;
    use crate::notify::order_event;
    use crate::orders::OrderEvent;
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
        let claimed = db.query(CLAIM, params![T0, T0 + LEASE_SECS, "a"]).unwrap();
        assert_eq!(claimed.len(), 1);
        assert!(
            db.query(CLAIM, params![T0, T0 + LEASE_SECS, "b"])
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
            RETRY_LATER,
            params![T0, claimed.first().unwrap().int("id").unwrap(), "a"],
        )
        .unwrap();
        let d = run(deliver_due(&db, &sender, T0 + 10_000, 5)).unwrap();
        assert_eq!(d, Delivery::default(), "delivered stays delivered");
    }

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        assert_eq!(backoff_secs(1), 15);
        assert_eq!(backoff_secs(2), 30);
        assert_eq!(backoff_secs(5), 240);
        assert_eq!(backoff_secs(9), 3600);
        assert_eq!(backoff_secs(1000), 3600);
    }
}
