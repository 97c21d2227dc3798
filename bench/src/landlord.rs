//! The landlord's side of the booking load. The app lets one guest hold only
//! a few WAIT_ACCEPT orders at once (`ihome_shared::orders::
//! MAX_PENDING_ORDERS_PER_GUEST`), while the POST /orders scenario books
//! thousands as one guest; a real landlord would be accepting them as they
//! arrive. [`Acceptor`] does that on the app's database, beside the load, so
//! every booking the load sends is judged on its nights alone.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use anyhow::Context;
use rusqlite::{Connection, params};

/// Pause between two sweeps: far shorter than the time the load needs to
/// place the cap's worth of bookings.
const SWEEP_EVERY: Duration = Duration::from_millis(2);
/// While the app holds the write lock, a sweep retries this often. SQLite's
/// default busy handler backs off to 100 ms sleeps, and under a steady
/// booking load a writer that sleeps that long never gets the lock back.
const BUSY_RETRY_EVERY: Duration = Duration::from_micros(200);

/// Accepts the guest's pending orders until [`finish`](Acceptor::finish).
pub struct Acceptor {
    stop: Arc<AtomicBool>,
    handle: thread::JoinHandle<anyhow::Result<u64>>,
}

impl Acceptor {
    /// Starts accepting the orders of the users with `guest_mobiles`.
    pub fn start<'a>(
        db_path: &Path,
        guest_mobiles: impl IntoIterator<Item = &'a str>,
    ) -> anyhow::Result<Acceptor> {
        let conn = Connection::open(db_path).with_context(|| format!("{}", db_path.display()))?;
        conn.busy_handler(Some(|_tries| {
            thread::sleep(BUSY_RETRY_EVERY);
            true
        }))?;
        let guests = guest_mobiles
            .into_iter()
            .map(|mobile| {
                conn.query_row("SELECT id FROM users WHERE mobile = ?1", [mobile], |r| {
                    r.get::<_, i64>("id")
                })
                .with_context(|| format!("the id of guest {mobile}"))
            })
            .collect::<anyhow::Result<Vec<i64>>>()?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = thread::spawn(move || {
            let mut accepted = 0u64;
            let mut accept = conn.prepare(
                "UPDATE orders SET status = 'WAIT_COMMENT'
                  WHERE user_id = ?1 AND status = 'WAIT_ACCEPT'",
            )?;
            while !flag.load(Ordering::Relaxed) {
                for guest in &guests {
                    accepted += accept.execute(params![guest])? as u64;
                }
                thread::sleep(SWEEP_EVERY);
            }
            Ok(accepted)
        });
        Ok(Acceptor { stop, handle })
    }

    /// Stops and returns how many orders were accepted.
    pub fn finish(self) -> anyhow::Result<u64> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle
            .join()
            .map_err(|_| anyhow::anyhow!("the acceptor thread panicked"))?
    }
}
