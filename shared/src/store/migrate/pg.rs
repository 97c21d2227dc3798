//! The schema on PostgreSQL (`database_url` set): the same tables, keys,
//! indexes, seeds and `schema_version` row as the SQLite migrations, in
//! PostgreSQL's dialect.
//!
//! # Layout
//! - [`BASELINE`]: the whole schema as of [`BASELINE_VERSION`], one
//!   migration (a PostgreSQL database starts there: there are no old ones
//!   to upgrade).
//! - [`AFTER_BASELINE`]: what each later SQLite migration does, in this
//!   dialect; a test keeps the two lists' versions equal, so one
//!   `schema_version` means one schema on both engines.
//! - [`ensure_current`]: migrates under a transaction-scoped advisory lock,
//!   so N instances starting at once on an empty database migrate it once.
//!
//! Differences from the SQLite text, and why: ids are `BIGSERIAL` and every
//! integer `BIGINT` (the operations bind 64-bit integers, and PostgreSQL
//! refuses an `int8` parameter for an `int4` column); `rating_avg` is
//! `DOUBLE PRECISION` (SQLite's `REAL` is 8 bytes, PostgreSQL's 4); no
//! `WITHOUT ROWID` (a SQLite storage choice); seeds use `ON CONFLICT DO
//! NOTHING`. Flags (`published`) stay integers so `= 1` reads the same on
//! both.

use super::{SCHEMA_VERSION, Sql, SqlError};
use crate::errno::ApiResult;

/// The SQLite schema version [`BASELINE`] equals.
pub const BASELINE_VERSION: i64 = 7;

/// SQLite migrations 1-7 as one.
pub const BASELINE: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS areas (
        id   BIGINT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE
    )",
    "CREATE TABLE IF NOT EXISTS facilities (
        id   BIGINT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE
    )",
    "CREATE TABLE IF NOT EXISTS users (
        id            BIGSERIAL PRIMARY KEY,
        name          TEXT NOT NULL UNIQUE,
        mobile        TEXT NOT NULL UNIQUE,
        password_hash TEXT NOT NULL,
        real_name     TEXT,
        id_card       TEXT,
        avatar        TEXT NOT NULL DEFAULT '',
        created_at    BIGINT NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS houses (
        id           BIGSERIAL PRIMARY KEY,
        user_id      BIGINT NOT NULL REFERENCES users(id),
        area_id      BIGINT NOT NULL REFERENCES areas(id),
        title        TEXT NOT NULL,
        price        BIGINT NOT NULL,
        address      TEXT NOT NULL,
        room_count   BIGINT NOT NULL,
        acreage      BIGINT NOT NULL,
        unit         TEXT NOT NULL,
        capacity     BIGINT NOT NULL,
        beds         TEXT NOT NULL,
        deposit      BIGINT NOT NULL,
        min_days     BIGINT NOT NULL,
        max_days     BIGINT NOT NULL,
        order_count  BIGINT NOT NULL DEFAULT 0,
        index_image  TEXT NOT NULL DEFAULT '',
        created_at   BIGINT NOT NULL,
        published    BIGINT NOT NULL DEFAULT 1,
        rating_count BIGINT NOT NULL DEFAULT 0,
        rating_sum   BIGINT NOT NULL DEFAULT 0,
        rating_avg   DOUBLE PRECISION
    )",
    "CREATE TABLE IF NOT EXISTS house_facilities (
        house_id    BIGINT NOT NULL REFERENCES houses(id),
        facility_id BIGINT NOT NULL REFERENCES facilities(id),
        PRIMARY KEY (house_id, facility_id)
    )",
    "CREATE TABLE IF NOT EXISTS house_images (
        id         BIGSERIAL PRIMARY KEY,
        house_id   BIGINT NOT NULL REFERENCES houses(id),
        file_id    TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        position   BIGINT NOT NULL DEFAULT 0
    )",
    "CREATE TABLE IF NOT EXISTS orders (
        id          BIGSERIAL PRIMARY KEY,
        user_id     BIGINT NOT NULL REFERENCES users(id),
        house_id    BIGINT NOT NULL REFERENCES houses(id),
        start_date  TEXT NOT NULL,
        end_date    TEXT NOT NULL,
        days        BIGINT NOT NULL,
        house_price BIGINT NOT NULL,
        amount      BIGINT NOT NULL,
        status      TEXT NOT NULL CHECK (status IN
                      ('WAIT_ACCEPT','WAIT_COMMENT','COMPLETE','REJECTED','CANCELED')),
        comment     TEXT NOT NULL DEFAULT '',
        created_at  BIGINT NOT NULL,
        updated_at  BIGINT NOT NULL,
        rating      BIGINT CHECK (rating BETWEEN 1 AND 5),
        CHECK (end_date > start_date)
    )",
    "CREATE TABLE IF NOT EXISTS pending_image_deletes (
        file_id   TEXT PRIMARY KEY,
        reason    TEXT NOT NULL,
        queued_at BIGINT NOT NULL,
        attempts  BIGINT NOT NULL DEFAULT 0
    )",
    "CREATE TABLE IF NOT EXISTS house_nights (
        house_id BIGINT NOT NULL REFERENCES houses(id),
        night    TEXT NOT NULL,
        order_id BIGINT REFERENCES orders(id),
        PRIMARY KEY (house_id, night)
    )",
    "CREATE INDEX IF NOT EXISTS houses_by_user ON houses(user_id)",
    "CREATE INDEX IF NOT EXISTS house_images_by_house ON house_images(house_id, id)",
    "CREATE INDEX IF NOT EXISTS orders_by_guest ON orders(user_id, id)",
    "CREATE INDEX IF NOT EXISTS houses_by_area ON houses(area_id)",
    "CREATE INDEX IF NOT EXISTS houses_by_area_price ON houses(area_id, price)",
    "CREATE INDEX IF NOT EXISTS houses_by_area_booking ON houses(area_id, order_count)",
    "CREATE INDEX IF NOT EXISTS houses_by_price ON houses(price)",
    "CREATE INDEX IF NOT EXISTS houses_by_booking ON houses(order_count)",
    "CREATE INDEX IF NOT EXISTS houses_by_area_rating ON houses(area_id, rating_avg)",
    "CREATE INDEX IF NOT EXISTS houses_by_rating ON houses(rating_avg)",
    "CREATE INDEX IF NOT EXISTS orders_by_house_stay
        ON orders(house_id, end_date, start_date, status)",
    "CREATE INDEX IF NOT EXISTS orders_pending_by_guest
        ON orders(user_id) WHERE status = 'WAIT_ACCEPT'",
    "CREATE INDEX IF NOT EXISTS house_nights_by_order
        ON house_nights(order_id) WHERE order_id IS NOT NULL",
    "INSERT INTO areas (id, name) VALUES
        (1,'东城区'),(2,'西城区'),(3,'朝阳区'),(4,'海淀区'),(5,'昌平区'),
        (6,'丰台区'),(7,'房山区'),(8,'通州区'),(9,'顺义区'),(10,'大兴区'),
        (11,'怀柔区'),(12,'平谷区'),(13,'密云区'),(14,'延庆区'),(15,'石景山区')
     ON CONFLICT DO NOTHING",
    "INSERT INTO facilities (id, name) VALUES
        (1,'无线网络'),(2,'热水淋浴'),(3,'空调'),(4,'暖气'),(5,'允许吸烟'),
        (6,'饮水设备'),(7,'牙具'),(8,'香皂'),(9,'拖鞋'),(10,'手纸'),
        (11,'毛巾'),(12,'沐浴露、洗发露'),(13,'冰箱'),(14,'洗衣机'),(15,'电梯'),
        (16,'允许做饭'),(17,'允许带宠物'),(18,'允许聚会'),(19,'门禁系统'),
        (20,'停车位'),(21,'有线网络'),(22,'电视'),(23,'浴缸')
     ON CONFLICT DO NOTHING",
];

/// SQLite migrations after [`BASELINE_VERSION`], each in this dialect
/// (append here whenever `MIGRATIONS` grows).
pub const AFTER_BASELINE: &[&[&str]] = &[
    // 8: uploads in flight.
    &["CREATE TABLE IF NOT EXISTS image_upload_intents (
        token        TEXT PRIMARY KEY,
        started_at   BIGINT NOT NULL,
        abandoned_at BIGINT
    )"],
    // 9: instant book, cancellation policies, deadlines, refunds.
    &[
        "ALTER TABLE orders DROP CONSTRAINT IF EXISTS orders_status_check",
        "ALTER TABLE orders ADD CONSTRAINT orders_status_check CHECK (status IN ('WAIT_PAYMENT',
            'WAIT_ACCEPT','WAIT_COMMENT','COMPLETE','REJECTED','CANCELED','EXPIRED'))",
        "ALTER TABLE orders ADD COLUMN IF NOT EXISTS expires_at BIGINT",
        "ALTER TABLE orders ADD COLUMN IF NOT EXISTS instant_book BIGINT NOT NULL DEFAULT 0",
        "ALTER TABLE orders ADD COLUMN IF NOT EXISTS cancel_policy TEXT NOT NULL DEFAULT 'flexible'
            CHECK (cancel_policy IN ('flexible','moderate','strict'))",
        "ALTER TABLE orders ADD COLUMN IF NOT EXISTS refund BIGINT NOT NULL DEFAULT 0",
        "ALTER TABLE orders ADD COLUMN IF NOT EXISTS canceled_by TEXT NOT NULL DEFAULT ''
            CHECK (canceled_by IN ('','guest','landlord'))",
        "ALTER TABLE orders ADD COLUMN IF NOT EXISTS payment TEXT NOT NULL DEFAULT 'none'",
        "ALTER TABLE house_nights ADD COLUMN IF NOT EXISTS expires_at BIGINT",
        "UPDATE orders SET expires_at = CAST(extract(epoch FROM now()) AS BIGINT) + 86400
         WHERE status = 'WAIT_ACCEPT'",
        "UPDATE house_nights n SET expires_at = o.expires_at
         FROM orders o WHERE o.id = n.order_id AND o.status = 'WAIT_ACCEPT'",
        "CREATE INDEX IF NOT EXISTS orders_by_deadline
            ON orders(status, expires_at) WHERE expires_at IS NOT NULL",
        "ALTER TABLE houses ADD COLUMN IF NOT EXISTS instant_book BIGINT NOT NULL DEFAULT 0",
        "ALTER TABLE houses ADD COLUMN IF NOT EXISTS cancel_policy TEXT NOT NULL DEFAULT 'flexible'
            CHECK (cancel_policy IN ('flexible','moderate','strict'))",
    ],
    // 10: conversations, messages, the notifications outbox.
    &[
        "CREATE TABLE IF NOT EXISTS conversations (
            id               BIGSERIAL PRIMARY KEY,
            house_id         BIGINT NOT NULL REFERENCES houses(id),
            guest_id         BIGINT NOT NULL REFERENCES users(id),
            landlord_id      BIGINT NOT NULL REFERENCES users(id),
            created_at       BIGINT NOT NULL,
            last_activity_at BIGINT NOT NULL,
            last_message_id  BIGINT,
            guest_unread     BIGINT NOT NULL DEFAULT 0,
            landlord_unread  BIGINT NOT NULL DEFAULT 0,
            UNIQUE (house_id, guest_id)
        )",
        "CREATE INDEX IF NOT EXISTS conversations_by_guest
            ON conversations(guest_id, last_activity_at, id)",
        "CREATE INDEX IF NOT EXISTS conversations_by_landlord
            ON conversations(landlord_id, last_activity_at, id)",
        "CREATE TABLE IF NOT EXISTS messages (
            id              BIGSERIAL PRIMARY KEY,
            conversation_id BIGINT NOT NULL REFERENCES conversations(id),
            sender_id       BIGINT NOT NULL,
            text            TEXT NOT NULL,
            created_at      BIGINT NOT NULL,
            read_at         BIGINT
        )",
        "CREATE INDEX IF NOT EXISTS messages_by_conversation ON messages(conversation_id, id)",
        "CREATE TABLE IF NOT EXISTS notifications (
            id              BIGSERIAL PRIMARY KEY,
            idempotency_key TEXT NOT NULL UNIQUE,
            recipient_id    BIGINT NOT NULL REFERENCES users(id),
            mobile          TEXT NOT NULL,
            template        TEXT NOT NULL,
            params          TEXT NOT NULL,
            topic           TEXT NOT NULL,
            created_at      BIGINT NOT NULL,
            attempts        BIGINT NOT NULL DEFAULT 0,
            next_attempt_at BIGINT NOT NULL,
            claim           TEXT,
            delivered_at    BIGINT
        )",
        "CREATE INDEX IF NOT EXISTS notifications_due
            ON notifications(next_attempt_at) WHERE delivered_at IS NULL",
        "CREATE INDEX IF NOT EXISTS notifications_by_topic
            ON notifications(recipient_id, topic, created_at)",
        "INSERT INTO conversations (house_id, guest_id, landlord_id, created_at, last_activity_at)
         SELECT o.house_id, o.user_id, h.user_id, min(o.created_at), max(o.created_at)
         FROM orders o JOIN houses h ON h.id = o.house_id
         GROUP BY o.house_id, o.user_id, h.user_id
         ON CONFLICT DO NOTHING",
    ],
    // 11: the payment intent of an order, the payment actions outbox, the
    // webhook events applied.
    &[
        "ALTER TABLE orders ADD COLUMN IF NOT EXISTS payment_intent TEXT",
        "CREATE TABLE IF NOT EXISTS payment_actions (
            id              BIGSERIAL PRIMARY KEY,
            order_id        BIGINT NOT NULL,
            payment_intent  TEXT NOT NULL,
            action          TEXT NOT NULL CHECK (action IN ('capture','release','refund')),
            amount          BIGINT NOT NULL,
            idempotency_key TEXT NOT NULL UNIQUE,
            created_at      BIGINT NOT NULL,
            attempts        BIGINT NOT NULL DEFAULT 0,
            next_attempt_at BIGINT NOT NULL,
            claim           TEXT,
            done_at         BIGINT
        )",
        "CREATE INDEX IF NOT EXISTS payment_actions_due
            ON payment_actions(next_attempt_at) WHERE done_at IS NULL",
        "CREATE TABLE IF NOT EXISTS payment_events (
            event_id    TEXT PRIMARY KEY,
            received_at BIGINT NOT NULL
        )",
    ],
];

/// The version table, as on SQLite.
const CREATE_VERSION_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_version (
    id      BIGINT PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
)";

/// The advisory lock's key: any constant the app's database uses for
/// nothing else ("ihome" in ASCII).
const MIGRATION_LOCK_KEY: i64 = 0x69_68_6f_6d_65;
/// Held until the transaction ends: the first instance migrates, the
/// others wait and then find the version current.
const TAKE_MIGRATION_LOCK: &str = "SELECT pg_advisory_xact_lock(?1)";
/// However long the first instance's migration takes: a write
/// transaction's usual lock timeout would fail the waiting instances'
/// requests part-way through a long migration.
const WAIT_FOR_MIGRATION: &str = "SET LOCAL lock_timeout = 0";

fn recorded(db: &impl Sql) -> Result<Option<i64>, SqlError> {
    db.query_i64(super::READ_VERSION, &[])
}

/// Brings a PostgreSQL database to [`SCHEMA_VERSION`]; the fast path is
/// one read of `schema_version` (an error while the table doesn't exist).
pub fn ensure_current(db: &impl Sql) -> ApiResult<()> {
    if matches!(recorded(db), Ok(Some(v)) if v >= SCHEMA_VERSION) {
        return Ok(());
    }
    db.write_tx(|db| {
        db.execute(WAIT_FOR_MIGRATION, &[])?;
        db.execute(TAKE_MIGRATION_LOCK, crate::params![MIGRATION_LOCK_KEY])?;
        db.execute(CREATE_VERSION_TABLE, &[])?;
        let from = recorded(db)?.unwrap_or(0);
        if from >= SCHEMA_VERSION {
            return Ok(());
        }
        if from < BASELINE_VERSION {
            for statement in BASELINE {
                db.execute(statement, &[])?;
            }
        }
        let done = from.max(BASELINE_VERSION) - BASELINE_VERSION;
        for migration in AFTER_BASELINE.iter().skip(done as usize) {
            for statement in migration.iter() {
                db.execute(statement, &[])?;
            }
        }
        db.execute(super::WRITE_VERSION, crate::params![SCHEMA_VERSION])?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_engines_reach_the_same_version() {
        assert_eq!(
            BASELINE_VERSION + AFTER_BASELINE.len() as i64,
            SCHEMA_VERSION,
            "a SQLite migration was added without its PostgreSQL twin in AFTER_BASELINE"
        );
    }

    /// Every table, index and seed of SQLite's schema is in the baseline,
    /// and none of SQLite's own syntax.
    #[test]
    fn the_baseline_is_the_sqlite_schema_in_postgresql_dialect() {
        // The baseline and what came after it: the whole schema.
        let baseline = BASELINE
            .iter()
            .chain(AFTER_BASELINE.iter().flat_map(|m| m.iter()))
            .copied()
            .collect::<Vec<_>>()
            .join("\n");
        let sqlite = super::super::MIGRATIONS
            .iter()
            .flat_map(|m| m.iter())
            .copied()
            .collect::<Vec<_>>()
            .join("\n");
        for word in sqlite.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            let named = ["CREATE TABLE IF NOT EXISTS ", "CREATE INDEX IF NOT EXISTS "]
                .iter()
                .any(|p| {
                    sqlite.contains(&format!("{p}{word} "))
                        || sqlite.contains(&format!("{p}{word}\n"))
                });
            if named && !word.is_empty() {
                assert!(
                    baseline.contains(word),
                    "{word} is missing from the PostgreSQL baseline"
                );
            }
        }
        assert!(
            !baseline.contains("orders_by_house "),
            "dropped by SQLite migration 3"
        );
        for sqlite_only in [
            "WITHOUT ROWID",
            "AUTOINCREMENT",
            "OR IGNORE",
            "REAL",
            "INTEGER",
            "date(",
        ] {
            assert!(!baseline.contains(sqlite_only), "{sqlite_only}");
        }
    }
}
