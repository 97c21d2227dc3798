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

/// [`Acceptor`] on PostgreSQL (the server backend): the same sweep every
/// [`SWEEP_EVERY`], as statements fed to one long-lived `psql` session
/// (the bench has no PostgreSQL client library). Each sweep prints how many
/// orders it accepted, when it ended and how long it ran (the log keeps
/// them); the total and the longest gap are read when psql exits.
pub struct PgAcceptor {
    stop: Arc<AtomicBool>,
    handle: thread::JoinHandle<anyhow::Result<()>>,
    child: std::process::Child,
    log: std::path::PathBuf,
}

impl PgAcceptor {
    /// Starts accepting the orders of the users with `guest_mobiles` in the
    /// database `psql` reaches; psql's output goes to `log`.
    pub fn start<'a>(
        psql: &crate::pg::Psql,
        log: &Path,
        guest_mobiles: impl IntoIterator<Item = &'a str>,
    ) -> anyhow::Result<PgAcceptor> {
        let mobiles: Vec<String> = guest_mobiles
            .into_iter()
            .map(|m| {
                anyhow::ensure!(
                    m.bytes().all(|b| b.is_ascii_digit()),
                    "a mobile that is not digits: {m:?}"
                );
                Ok(format!("'{m}'"))
            })
            .collect::<anyhow::Result<_>>()?;
        let sweep = format!(
            "WITH accepted AS (UPDATE orders SET status = 'WAIT_COMMENT'
               WHERE status = 'WAIT_ACCEPT'
                 AND user_id IN (SELECT id FROM users WHERE mobile IN ({})) RETURNING 1)
             SELECT count(*) || ' ' || extract(epoch FROM clock_timestamp())
                    || ' ' || extract(epoch FROM clock_timestamp() - statement_timestamp()) FROM accepted;\n",
            mobiles.join(", ")
        );
        let mut child = psql.spawn_script(log)?;
        let mut stdin = child.stdin.take().expect("piped");
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = thread::spawn(move || {
            use std::io::Write;
            while !flag.load(Ordering::Relaxed) {
                stdin.write_all(sweep.as_bytes())?;
                stdin.flush()?;
                thread::sleep(SWEEP_EVERY);
            }
            Ok(())
        });
        Ok(PgAcceptor {
            stop,
            handle,
            child,
            log: log.to_path_buf(),
        })
    }

    /// Stops and returns how many orders were accepted, and the longest
    /// time between two sweeps' ends (seconds): how long the guests' pending
    /// orders went unaccepted at worst.
    pub fn finish(mut self) -> anyhow::Result<(u64, f64)> {
        self.stop.store(true, Ordering::Relaxed);
        let written = self
            .handle
            .join()
            .map_err(|_| anyhow::anyhow!("the acceptor thread panicked"));
        // The writer has dropped psql's stdin: psql finishes and exits.
        let status = self.child.wait()?;
        let output = std::fs::read_to_string(&self.log).unwrap_or_default();
        anyhow::ensure!(
            status.success(),
            "the landlord's psql failed ({status}): {}",
            output.trim()
        );
        written??;
        let (mut accepted, mut longest, mut last) = (0u64, 0f64, None::<f64>);
        for line in output.lines().filter(|l| !l.trim().is_empty()) {
            let parsed = line.trim().split_once(' ').and_then(|(n, t)| {
                Some((
                    n.parse::<u64>().ok()?,
                    t.split(' ').next()?.parse::<f64>().ok()?,
                ))
            });
            let (n, at) = parsed.with_context(|| format!("psql printed {line:?}"))?;
            accepted += n;
            if let Some(prev) = last {
                longest = longest.max(at - prev);
            }
            last = Some(at);
        }
        Ok((accepted, longest))
    }
}
