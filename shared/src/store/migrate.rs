//! Versioned schema migrations, applied automatically and idempotently by the
//! first request that opens the database (under `spin up` too: no separate
//! setup step).
//!
//! How far a database has come is the row of the `schema_version` table, an
//! ordinary table any SQL engine has, written in the same transaction as the
//! migrations it records. Databases made before that table existed recorded
//! their version in SQLite's `PRAGMA user_version`; it is read (never
//! written) once, to know where such a database starts.
//!
//! PostgreSQL has its own list in its dialect ([`pg`]), at the same
//! versions.
//!
//! Rules: never edit a released migration; append a new one (and its
//! PostgreSQL twin in [`pg::AFTER_BASELINE`]). Each entry is a
//! list of single statements, because Spin's `execute` runs exactly one.

pub mod pg;

use super::sql::{Sql, SqlError};
use crate::errno::ApiResult;

/// Migration N (1-based) brings the database from version N-1 to N (the
/// `schema_version` row, written in the migration's transaction).
pub const MIGRATIONS: &[&[&str]] = &[
    // 1: the schema and the seed data: areas 1–15 and facilities 1–23.
    &[
        "CREATE TABLE IF NOT EXISTS areas (
            id   INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE
        )",
        "CREATE TABLE IF NOT EXISTS facilities (
            id   INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE
        )",
        "CREATE TABLE IF NOT EXISTS users (
            id            INTEGER PRIMARY KEY AUTOINCREMENT,
            name          TEXT NOT NULL UNIQUE,
            mobile        TEXT NOT NULL UNIQUE,
            password_hash TEXT NOT NULL,            -- Argon2id PHC string
            real_name     TEXT,                     -- NULL until verified
            id_card       TEXT,
            avatar        TEXT NOT NULL DEFAULT '', -- image-store file id
            created_at    INTEGER NOT NULL          -- Unix seconds
        )",
        "CREATE TABLE IF NOT EXISTS houses (
            id          INTEGER PRIMARY KEY AUTOINCREMENT,
            user_id     INTEGER NOT NULL REFERENCES users(id),
            area_id     INTEGER NOT NULL REFERENCES areas(id),
            title       TEXT NOT NULL,
            price       INTEGER NOT NULL,           -- fen per night
            address     TEXT NOT NULL,
            room_count  INTEGER NOT NULL,
            acreage     INTEGER NOT NULL,
            unit        TEXT NOT NULL,
            capacity    INTEGER NOT NULL,
            beds        TEXT NOT NULL,
            deposit     INTEGER NOT NULL,           -- fen
            min_days    INTEGER NOT NULL,
            max_days    INTEGER NOT NULL,           -- 0 = unlimited
            order_count INTEGER NOT NULL DEFAULT 0, -- completed (commented) orders
            index_image TEXT NOT NULL DEFAULT '',   -- cover file id
            created_at  INTEGER NOT NULL
        )",
        "CREATE TABLE IF NOT EXISTS house_facilities (
            house_id    INTEGER NOT NULL REFERENCES houses(id),
            facility_id INTEGER NOT NULL REFERENCES facilities(id),
            PRIMARY KEY (house_id, facility_id)
        ) WITHOUT ROWID",
        "CREATE TABLE IF NOT EXISTS house_images (
            id         INTEGER PRIMARY KEY AUTOINCREMENT,
            house_id   INTEGER NOT NULL REFERENCES houses(id),
            file_id    TEXT NOT NULL,
            created_at INTEGER NOT NULL
        )",
        "CREATE TABLE IF NOT EXISTS orders (
            id          INTEGER PRIMARY KEY AUTOINCREMENT,
            user_id     INTEGER NOT NULL REFERENCES users(id),  -- the guest
            house_id    INTEGER NOT NULL REFERENCES houses(id),
            start_date  TEXT NOT NULL,   -- YYYY-MM-DD, text order = date order
            end_date    TEXT NOT NULL,   -- check-out day, not charged
            days        INTEGER NOT NULL,
            house_price INTEGER NOT NULL, -- fen per night at booking time
            amount      INTEGER NOT NULL, -- fen
            status      TEXT NOT NULL CHECK (status IN
                          ('WAIT_ACCEPT','WAIT_COMMENT','COMPLETE','REJECTED','CANCELED')),
            comment     TEXT NOT NULL DEFAULT '', -- guest comment or reject reason
            created_at  INTEGER NOT NULL,
            updated_at  INTEGER NOT NULL,
            CHECK (end_date > start_date)
        )",
        "CREATE INDEX IF NOT EXISTS houses_by_user ON houses(user_id)",
        "CREATE INDEX IF NOT EXISTS house_images_by_house ON house_images(house_id, id)",
        "CREATE INDEX IF NOT EXISTS orders_by_guest ON orders(user_id, id)",
        "CREATE INDEX IF NOT EXISTS orders_by_house ON orders(house_id, status, start_date, end_date)",
        "INSERT OR IGNORE INTO areas (id, name) VALUES
            (1,'东城区'),(2,'西城区'),(3,'朝阳区'),(4,'海淀区'),(5,'昌平区'),
            (6,'丰台区'),(7,'房山区'),(8,'通州区'),(9,'顺义区'),(10,'大兴区'),
            (11,'怀柔区'),(12,'平谷区'),(13,'密云区'),(14,'延庆区'),(15,'石景山区')",
        "INSERT OR IGNORE INTO facilities (id, name) VALUES
            (1,'无线网络'),(2,'热水淋浴'),(3,'空调'),(4,'暖气'),(5,'允许吸烟'),
            (6,'饮水设备'),(7,'牙具'),(8,'香皂'),(9,'拖鞋'),(10,'手纸'),
            (11,'毛巾'),(12,'沐浴露、洗发露'),(13,'冰箱'),(14,'洗衣机'),(15,'电梯'),
            (16,'允许做饭'),(17,'允许带宠物'),(18,'允许聚会'),(19,'门禁系统'),
            (20,'停车位'),(21,'有线网络'),(22,'电视'),(23,'浴缸')",
    ],
    // 2: search and carousel indexes (see shared/tests/search_plan.rs, which
    // checks the query plans on 10,000 houses and 100,000 orders). Each sort
    // of GET /houses, with or without an area, is an index walk that stops
    // after the page instead of a sort of every match; the rowid that ends
    // every index entry is the tie-breaker. The overlap test on orders uses
    // orders_by_house_stay from migration 3.
    &[
        "CREATE INDEX IF NOT EXISTS houses_by_area ON houses(area_id)",
        "CREATE INDEX IF NOT EXISTS houses_by_area_price ON houses(area_id, price)",
        "CREATE INDEX IF NOT EXISTS houses_by_area_booking ON houses(area_id, order_count)",
        "CREATE INDEX IF NOT EXISTS houses_by_price ON houses(price)",
        "CREATE INDEX IF NOT EXISTS houses_by_booking ON houses(order_count)",
    ],
    // 3: the overlap test (search, booking, the calendar) seeks by check-out
    // day. Migration 1's orders_by_house led with (status, start_date), so
    // `start_date < ed` matched every past stay of the house and each check
    // grew with the house's history (search 5.6x slower after five years of
    // stays). `end_date > sd` only matches stays not yet over: a bounded
    // set however old the house is. Covering, so no table lookups; the
    // landlord's order list and the detail page's comments still find a
    // house's orders by its first column. (An index for the comments,
    // orders(house_id, status, updated_at), would turn their sort into a walk
    // of ten, but it made every booking about 35% dearer in plain SQLite; the
    // comments are read only when a cached detail is rebuilt.)
    &[
        "DROP INDEX IF EXISTS orders_by_house",
        "CREATE INDEX IF NOT EXISTS orders_by_house_stay
            ON orders(house_id, end_date, start_date, status)",
    ],
    // 4: a booking counts the guest's WAIT_ACCEPT orders (the pending cap,
    // orders::MAX_PENDING_ORDERS_PER_GUEST) in the booking statement itself.
    // orders_by_guest would walk the guest's whole history; this partial
    // index holds only pending orders, so the count reads at most ten entries
    // and the index costs nothing for finished orders.
    &["CREATE INDEX IF NOT EXISTS orders_pending_by_guest
            ON orders(user_id) WHERE status = 'WAIT_ACCEPT'"],
    // 5: image-store files that nothing references any more but whose
    // deletion the store has not confirmed yet (it was down or timed out).
    // A replaced file is queued in the same transaction that stops
    // referencing it, so neither an outage nor a crash forgets it; later
    // image requests retry the oldest (shared/src/images/store/pending.rs).
    &["CREATE TABLE IF NOT EXISTS pending_image_deletes (
            file_id   TEXT PRIMARY KEY,
            reason    TEXT NOT NULL,
            queued_at INTEGER NOT NULL,          -- Unix seconds
            attempts  INTEGER NOT NULL DEFAULT 0 -- failed deletions so far
        ) WITHOUT ROWID"],
    // 6: nights, the one model of availability (shared/src/nights.rs). Each
    // held night is a row keyed by (house, night), so the database itself
    // refuses to hold a night twice; booking, blocking, the calendar and
    // date search all rest on it. Backfilled from the active orders (their
    // whole history: past nights cost nothing, every lookup seeks a range).
    &[
        "CREATE TABLE IF NOT EXISTS house_nights (
            house_id INTEGER NOT NULL REFERENCES houses(id),
            night    TEXT NOT NULL,                 -- YYYY-MM-DD
            order_id INTEGER REFERENCES orders(id), -- NULL: blocked by the landlord
            PRIMARY KEY (house_id, night)
        ) WITHOUT ROWID",
        "CREATE INDEX IF NOT EXISTS house_nights_by_order
            ON house_nights(order_id) WHERE order_id IS NOT NULL",
        "INSERT OR IGNORE INTO house_nights (house_id, night, order_id)
         WITH RECURSIVE stay(house_id, night, end_date, order_id) AS (
             SELECT house_id, start_date, end_date, id FROM orders
             WHERE status IN ('WAIT_ACCEPT', 'WAIT_COMMENT', 'COMPLETE')
             UNION ALL
             SELECT house_id, date(night, '+1 day'), end_date, order_id FROM stay
             WHERE date(night, '+1 day') < end_date
         )
         SELECT house_id, night, order_id FROM stay",
    ],
    // 7: what hosts and guests manage (issue 17) and what search filters on
    // (issue 15). A house can be unpublished (absent from search, the index
    // and booking; its orders go on). A comment carries a 1-5 rating (NULL
    // for comments made before ratings); the house keeps their count, sum
    // and average, updated in the comment's transaction, so cards and the
    // rating sort read one row. Photos get an explicit order (the first is
    // the cover); existing ones keep their upload order.
    &[
        "ALTER TABLE houses ADD COLUMN published INTEGER NOT NULL DEFAULT 1",
        "ALTER TABLE houses ADD COLUMN rating_count INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE houses ADD COLUMN rating_sum INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE houses ADD COLUMN rating_avg REAL", // NULL: no ratings yet
        "ALTER TABLE orders ADD COLUMN rating INTEGER CHECK (rating BETWEEN 1 AND 5)",
        "ALTER TABLE house_images ADD COLUMN position INTEGER NOT NULL DEFAULT 0",
        "UPDATE house_images SET position = id",
        "CREATE INDEX IF NOT EXISTS houses_by_area_rating ON houses(area_id, rating_avg)",
        "CREATE INDEX IF NOT EXISTS houses_by_rating ON houses(rating_avg)",
    ],
    // 8: uploads in flight (issue 22). An upload records its token here, in
    // a transaction of its own, before the file goes to the image store
    // under that token; the transaction that records the file drops the
    // row. A row left older than a bound is an upload that crashed or
    // failed between the two: a later upload asks the store to delete
    // whatever the token stored (shared/src/images/store/intent.rs).
    // `abandoned_at` is set by the sweep that claims the row, so a late
    // commit of that upload fails instead of recording a deleted file.
    &["CREATE TABLE IF NOT EXISTS image_upload_intents (
            token        TEXT PRIMARY KEY,
            started_at   INTEGER NOT NULL,    -- Unix seconds
            abandoned_at INTEGER              -- NULL: the upload may still commit
        ) WITHOUT ROWID"],
    // 9: a booking people can rely on (issue 23). Houses say whether they
    // book instantly and under which cancellation policy; each order copies
    // both (like its price), and records its deadline (`expires_at`, Unix
    // seconds, NULL when none), who cancelled it, the refund and the payment
    // state. A held night carries its order's deadline: from that instant it
    // is free to every read, and a write meeting it takes it over
    // (shared/src/orders/expire.rs). `orders.status` gains EXPIRED and
    // WAIT_PAYMENT (payments, a later migration), and a CHECK can't be
    // altered in SQLite, so `orders` is rebuilt (SQLite's documented
    // create-copy-drop-rename) and `house_nights` with it: the nights are
    // copied into a table that references the new `orders`, so no foreign
    // key ever points at a dropped table (foreign keys stay on: the
    // migration runs inside a transaction, where they can't be switched
    // off). Requests still waiting get the default 24 h from the upgrade.
    &[
        "CREATE TABLE orders_v9 (
            id            INTEGER PRIMARY KEY AUTOINCREMENT,
            user_id       INTEGER NOT NULL REFERENCES users(id),  -- the guest
            house_id      INTEGER NOT NULL REFERENCES houses(id),
            start_date    TEXT NOT NULL,   -- YYYY-MM-DD, text order = date order
            end_date      TEXT NOT NULL,   -- check-out day, not charged
            days          INTEGER NOT NULL,
            house_price   INTEGER NOT NULL, -- fen per night at booking time
            amount        INTEGER NOT NULL, -- fen
            status        TEXT NOT NULL CHECK (status IN ('WAIT_PAYMENT','WAIT_ACCEPT',
                            'WAIT_COMMENT','COMPLETE','REJECTED','CANCELED','EXPIRED')),
            comment       TEXT NOT NULL DEFAULT '', -- guest comment, reject or cancel reason
            created_at    INTEGER NOT NULL,
            updated_at    INTEGER NOT NULL,
            rating        INTEGER CHECK (rating BETWEEN 1 AND 5),
            expires_at    INTEGER,                  -- Unix seconds; NULL: no deadline
            instant_book  INTEGER NOT NULL DEFAULT 0,
            cancel_policy TEXT NOT NULL DEFAULT 'flexible'
                            CHECK (cancel_policy IN ('flexible','moderate','strict')),
            refund        INTEGER NOT NULL DEFAULT 0, -- fen
            canceled_by   TEXT NOT NULL DEFAULT '' CHECK (canceled_by IN ('','guest','landlord')),
            payment       TEXT NOT NULL DEFAULT 'none',
            CHECK (end_date > start_date)
        )",
        "INSERT INTO orders_v9 (id, user_id, house_id, start_date, end_date, days, house_price,
                amount, status, comment, created_at, updated_at, rating, expires_at)
         SELECT id, user_id, house_id, start_date, end_date, days, house_price,
                amount, status, comment, created_at, updated_at, rating,
                CASE WHEN status = 'WAIT_ACCEPT'
                     THEN CAST(strftime('%s', 'now') AS INTEGER) + 86400 END
         FROM orders",
        "UPDATE sqlite_sequence SET seq = coalesce(
             (SELECT seq FROM sqlite_sequence WHERE name = 'orders'), seq)
         WHERE name = 'orders_v9'",
        "CREATE TABLE house_nights_v9 (
            house_id   INTEGER NOT NULL REFERENCES houses(id),
            night      TEXT NOT NULL,                    -- YYYY-MM-DD
            order_id   INTEGER REFERENCES orders_v9(id), -- NULL: blocked by the landlord
            expires_at INTEGER,                          -- the order's deadline; NULL: none
            PRIMARY KEY (house_id, night)
        ) WITHOUT ROWID",
        "INSERT INTO house_nights_v9 (house_id, night, order_id, expires_at)
         SELECT n.house_id, n.night, n.order_id, o.expires_at
         FROM house_nights n LEFT JOIN orders_v9 o ON o.id = n.order_id",
        "DROP TABLE house_nights",
        "DROP TABLE orders",
        "ALTER TABLE orders_v9 RENAME TO orders",
        "ALTER TABLE house_nights_v9 RENAME TO house_nights",
        "CREATE INDEX IF NOT EXISTS orders_by_guest ON orders(user_id, id)",
        "CREATE INDEX IF NOT EXISTS orders_by_house_stay
            ON orders(house_id, end_date, start_date, status)",
        "CREATE INDEX IF NOT EXISTS orders_pending_by_guest
            ON orders(user_id) WHERE status = 'WAIT_ACCEPT'",
        // The expiry sweep and the caches' next deadline: one seek.
        "CREATE INDEX IF NOT EXISTS orders_by_deadline
            ON orders(status, expires_at) WHERE expires_at IS NOT NULL",
        "CREATE INDEX IF NOT EXISTS house_nights_by_order
            ON house_nights(order_id) WHERE order_id IS NOT NULL",
        "ALTER TABLE houses ADD COLUMN instant_book INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE houses ADD COLUMN cancel_policy TEXT NOT NULL DEFAULT 'flexible'
            CHECK (cancel_policy IN ('flexible','moderate','strict'))",
    ],
    // 10: conversations, messages and the notifications outbox (issue 25,
    // shared/src/messages and shared/src/notify). One conversation per
    // (house, guest); each party's unread count is kept on it (changed in
    // the transactions that add or read messages), and the last message
    // and activity time too, so listing a user's conversations is one
    // index walk however many messages exist. A notification is a row
    // written in the transaction of the change it reports, delivered after
    // commit: `next_attempt_at` is when it is due (or, while a delivery
    // holds it, the end of that delivery's lease), `claim` the token of
    // that delivery. Conversations are opened for every (house, guest)
    // that has orders already, so every order links to one.
    &[
        "CREATE TABLE IF NOT EXISTS conversations (
            id               INTEGER PRIMARY KEY AUTOINCREMENT,
            house_id         INTEGER NOT NULL REFERENCES houses(id),
            guest_id         INTEGER NOT NULL REFERENCES users(id),
            landlord_id      INTEGER NOT NULL REFERENCES users(id),
            created_at       INTEGER NOT NULL,
            last_activity_at INTEGER NOT NULL, -- the last message, or the opening
            last_message_id  INTEGER,          -- NULL: no message yet
            guest_unread     INTEGER NOT NULL DEFAULT 0,
            landlord_unread  INTEGER NOT NULL DEFAULT 0,
            UNIQUE (house_id, guest_id)
        )",
        "CREATE INDEX IF NOT EXISTS conversations_by_guest
            ON conversations(guest_id, last_activity_at, id)",
        "CREATE INDEX IF NOT EXISTS conversations_by_landlord
            ON conversations(landlord_id, last_activity_at, id)",
        "CREATE TABLE IF NOT EXISTS messages (
            id              INTEGER PRIMARY KEY AUTOINCREMENT,
            conversation_id INTEGER NOT NULL REFERENCES conversations(id),
            sender_id       INTEGER NOT NULL, -- one of the two parties (no foreign key:
                                              -- row_lock's UPDATE of a user would scan
                                              -- messages to check it)
            text            TEXT NOT NULL,   -- as sent
            created_at      INTEGER NOT NULL,
            read_at         INTEGER          -- NULL: its recipient has not seen it
        )",
        "CREATE INDEX IF NOT EXISTS messages_by_conversation ON messages(conversation_id, id)",
        "CREATE TABLE IF NOT EXISTS notifications (
            id              INTEGER PRIMARY KEY AUTOINCREMENT,
            idempotency_key TEXT NOT NULL UNIQUE, -- sent as Idempotency-Key
            recipient_id    INTEGER NOT NULL REFERENCES users(id),
            mobile          TEXT NOT NULL,
            template        TEXT NOT NULL,
            params          TEXT NOT NULL,        -- a JSON object of strings
            topic           TEXT NOT NULL,        -- what it is about: order:<id>, conversation:<id>
            created_at      INTEGER NOT NULL,
            attempts        INTEGER NOT NULL DEFAULT 0,
            next_attempt_at INTEGER NOT NULL,
            claim           TEXT,                 -- the delivery holding it, NULL: none
            delivered_at    INTEGER               -- NULL: not taken by the gateway yet
        )",
        "CREATE INDEX IF NOT EXISTS notifications_due
            ON notifications(next_attempt_at) WHERE delivered_at IS NULL",
        "CREATE INDEX IF NOT EXISTS notifications_by_topic
            ON notifications(recipient_id, topic, created_at)",
        "INSERT OR IGNORE INTO conversations
            (house_id, guest_id, landlord_id, created_at, last_activity_at)
         SELECT o.house_id, o.user_id, h.user_id, min(o.created_at), max(o.created_at)
         FROM orders o JOIN houses h ON h.id = o.house_id
         GROUP BY o.house_id, o.user_id, h.user_id",
    ],
    // 11: payments through Stripe (issue 24, shared/src/payments). An order
    // paid by card keeps its PaymentIntent's id; what must still be done
    // at Stripe after a transition (release a hold, refund) is a row of
    // the `payment_actions` outbox written in the transition's own
    // transaction and carried out after commit, claimed like a
    // notification (`next_attempt_at` = due, or the end of a claim's
    // lease; `claim` = that delivery's token); its idempotency key is
    // unique, so one action per (order, action) exists. `payment_events`
    // keeps the id of each webhook event applied, so Stripe's retries of
    // one event are applied once.
    &[
        "ALTER TABLE orders ADD COLUMN payment_intent TEXT",
        "CREATE TABLE IF NOT EXISTS payment_actions (
            id              INTEGER PRIMARY KEY AUTOINCREMENT,
            order_id        INTEGER NOT NULL, -- no foreign key: a refused booking's order is deleted
            payment_intent  TEXT NOT NULL,
            action          TEXT NOT NULL CHECK (action IN ('capture','release','refund')),
            amount          INTEGER NOT NULL,   -- fen (a refund's; 0 otherwise)
            idempotency_key TEXT NOT NULL UNIQUE,
            created_at      INTEGER NOT NULL,
            attempts        INTEGER NOT NULL DEFAULT 0,
            next_attempt_at INTEGER NOT NULL,
            claim           TEXT,
            done_at         INTEGER             -- NULL: not done at Stripe yet
        )",
        "CREATE INDEX IF NOT EXISTS payment_actions_due
            ON payment_actions(next_attempt_at) WHERE done_at IS NULL",
        "CREATE TABLE IF NOT EXISTS payment_events (
            event_id    TEXT PRIMARY KEY,
            received_at INTEGER NOT NULL
        )",
    ],
];

pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The version table: one row, id 1.
const CREATE_VERSION_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
)";
const READ_VERSION: &str = "SELECT version FROM schema_version WHERE id = 1";
const WRITE_VERSION: &str = "INSERT INTO schema_version (id, version) VALUES (1, ?1)
    ON CONFLICT (id) DO UPDATE SET version = excluded.version";
/// Where a database made before `schema_version` existed stands (a read).
const LEGACY_VERSION: &str = "PRAGMA user_version";

/// The recorded version; an error when the table does not exist yet.
fn recorded(db: &impl Sql) -> Result<Option<i64>, SqlError> {
    db.query_i64(READ_VERSION, &[])
}

/// Applies whatever migrations this database lacks. The fast path is one
/// read of `schema_version`. Concurrent first requests are safe: the check
/// is repeated inside the write transaction, so one of them migrates and the
/// others find the work done.
pub fn ensure_current(db: &impl Sql) -> ApiResult<()> {
    if matches!(recorded(db), Ok(Some(v)) if v >= SCHEMA_VERSION) {
        return Ok(());
    }
    // WAL lets readers run beside the one writer; it is a property of the
    // file (persistent) and cannot be switched inside a transaction.
    db.execute("PRAGMA journal_mode=WAL", &[])?;
    db.write_tx(|db| {
        db.execute(CREATE_VERSION_TABLE, &[])?;
        let from = match recorded(db)? {
            Some(v) if v >= SCHEMA_VERSION => return Ok(()),
            Some(v) => v,
            None => db.query_i64(LEGACY_VERSION, &[])?.unwrap_or(0),
        };
        for migration in MIGRATIONS.iter().skip(from as usize) {
            for statement in migration.iter() {
                db.execute(statement, &[])?;
            }
        }
        db.execute(WRITE_VERSION, crate::params![SCHEMA_VERSION])?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::native::NativeSqlite;

    fn version(db: &NativeSqlite) -> Option<i64> {
        recorded(db).unwrap()
    }

    #[test]
    fn a_new_database_gets_every_migration_and_its_version_row() {
        let db = NativeSqlite::in_memory().unwrap();
        assert_eq!(version(&db), Some(SCHEMA_VERSION));
        let areas = db.query_i64("SELECT count(*) FROM areas", &[]).unwrap();
        assert_eq!(areas, Some(15));
        // Running again changes nothing.
        ensure_current(&db).unwrap();
        assert_eq!(version(&db), Some(SCHEMA_VERSION));
    }

    #[test]
    fn a_legacy_database_starts_from_its_user_version() {
        let db = NativeSqlite {
            conn: rusqlite::Connection::open_in_memory().unwrap(),
        };
        // Migrations 1-3 as the old runner left them: user_version = 3.
        for migration in &MIGRATIONS[..3] {
            for statement in migration.iter() {
                db.execute(statement, &[]).unwrap();
            }
        }
        db.execute("PRAGMA user_version = 3", &[]).unwrap();
        ensure_current(&db).unwrap();
        assert_eq!(version(&db), Some(SCHEMA_VERSION));
        // Migration 5's table exists now; migration 1's seed was not re-run
        // (it would have failed on nothing, but the version says 3 → 5).
        assert_eq!(
            db.query_i64("SELECT count(*) FROM pending_image_deletes", &[])
                .unwrap(),
            Some(0)
        );
    }

    #[test]
    fn racing_first_requests_migrate_once() {
        let path = std::env::temp_dir().join(format!(
            "ihome-migrate-{}-{}.db",
            std::process::id(),
            rand::random::<u64>()
        ));
        let results: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..6)
                .map(|_| s.spawn(|| NativeSqlite::open(&path).map(|_| ())))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        let db = NativeSqlite::open(&path).unwrap();
        assert_eq!(version(&db), Some(SCHEMA_VERSION));
        assert_eq!(
            db.query_i64("SELECT count(*) FROM schema_version", &[])
                .unwrap(),
            Some(1)
        );
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
}
