//! `spin:postgres/postgres@4.0.0` (spin-sdk's `pg4`) on tokio-postgres,
//! behaving as Spin 4.0.2's `factor-outbound-pg` does:
//!
//! - `open(address)` takes a libpq connection string or a `postgres://` URL.
//!   Every host it names is checked against `allowed_outbound_hosts` first
//!   (scheme `postgres`, port 5432 by default; [`check_address`]); a refusal
//!   is `connection-failed("address postgres://<host:port> is not permitted")`
//!   and Spin's warning on stderr, before any connection is attempted.
//! - Connections come from a pool per component and address (64 connections
//!   each, at most 16 addresses per component), as Spin's
//!   `PooledTokioClientFactory`. A connection taken from the pool is first
//!   checked and cleaned (deadpool's `RecyclingMethod::Clean`: a closed one
//!   is replaced, session state is reset), so after a server restart the
//!   next `open` connects afresh instead of failing on a dead socket. Each
//!   `open` takes one pooled connection until the guest drops the handle.
//! - `query` collects the rows eagerly (at most 128 MiB), mapping each
//!   column by its PostgreSQL type ([`db_value`]); types without a WIT
//!   counterpart come back as `unsupported(<raw binary value>)`. The column
//!   list comes from the first row, so a query with no rows has no columns.
//! - Errors are Spin's: `query-failed(db-error{…})` for an error the server
//!   reports while preparing or executing a statement outright,
//!   `query-failed(text(…))` for client-side errors and for server errors
//!   that arrive while rows stream in (Spin passes those through its
//!   `Debug` text once more), `bad-parameter` for a parameter `query` cannot
//!   convert, `value-conversion-failed` for one `execute` cannot convert,
//!   `connection-failed(…)` when no connection can be had.

use std::collections::VecDeque;
use std::sync::Mutex;

use anyhow::{Context, anyhow};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use futures::TryStreamExt;
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::{NoTls, Row};
use wasmtime::component::Resource;

use super::lock;
use crate::instance::Host;
use crate::outbound::{AddressCheck, AllowedHosts, warn_disallowed};
use crate::spin_bindings::spin::postgres::postgres::{
    self as pg, Column, DbDataType, DbError, DbValue, Error, Interval, ParameterValue, QueryError,
    RangeBoundKind, RowSet,
};
use crate::telemetry::{self, Measure};
use opentelemetry::KeyValue;

/// Spin's per-instance connection table size (`spin-resource-table`'s
/// default); beyond it `open` gives `connection-failed("too many
/// connections")`.
pub const MAX_CONNECTIONS_PER_INSTANCE: usize = 1024;

/// Connections per pool (Spin's `CONNECTION_POOL_SIZE`). Like Spin, a guest
/// that holds this many handles to one address waits for one to be dropped.
const POOL_SIZE: usize = 64;

/// Addresses per component whose pools are kept (Spin's cache capacity).
const POOLS_PER_COMPONENT: usize = 16;

/// Spin's `MAX_HOST_BUFFERED_BYTES`: the most a query may return.
pub const MAX_RESULT_BYTES: usize = 128 << 20;

/// One component's connection pools, by address, least recently used first.
#[derive(Default)]
pub struct PgPools {
    pools: Mutex<VecDeque<(String, Pool)>>,
}

impl PgPools {
    fn pool(&self, address: &str) -> anyhow::Result<Pool> {
        let mut pools = lock(&self.pools);
        if let Some(i) = pools.iter().position(|(a, _)| a == address) {
            let entry = pools.remove(i).expect("position is in range");
            let pool = entry.1.clone();
            pools.push_back(entry);
            return Ok(pool);
        }
        let pool = new_pool(address).context("establishing PostgreSQL connection pool")?;
        pools.push_back((address.to_owned(), pool.clone()));
        if pools.len() > POOLS_PER_COMPONENT {
            pools.pop_front();
        }
        Ok(pool)
    }
}

fn new_pool(address: &str) -> anyhow::Result<Pool> {
    let config: tokio_postgres::Config = address
        .parse()
        .context("parsing Postgres connection string")?;
    // Without TLS: against a server that offers none (every loopback test
    // server) this is what Spin's default `sslmode=prefer` ends up with.
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Clean,
        },
    );
    Pool::builder(manager)
        .max_size(POOL_SIZE)
        .build()
        .context("building Postgres connection pool")
}

/// The host-side value behind a guest's `connection` handle: one pooled
/// connection, back in its pool when the guest drops the handle.
pub struct PgHandle {
    client: deadpool_postgres::Object,
}

/// Spin's `ensure_address_allowed`: every host of the connection string, with
/// the port at the same index (or the only port), must be allowed for
/// `postgres`. edge-host also checks every `hostaddr=` (the address libpq
/// actually dials when one is given), which Spin does not look at.
// The error is the WIT value the guest gets; boxing it would only move it.
#[allow(clippy::result_large_err)]
pub fn check_address(allowed: &AllowedHosts, address: &str) -> Result<(), Error> {
    let config: tokio_postgres::Config = address
        .parse()
        .map_err(|e: tokio_postgres::Error| Error::ConnectionFailed(e.to_string()))?;
    let ports = config.get_ports();
    let port_at = |i: usize| {
        ports
            .get(i)
            .or(if ports.len() == 1 {
                ports.first()
            } else {
                None
            })
            .map(|p| format!(":{p}"))
            .unwrap_or_default()
    };
    let mut dialed: Vec<String> = Vec::new();
    for (i, host) in config.get_hosts().iter().enumerate() {
        match host {
            tokio_postgres::config::Host::Tcp(h) => dialed.push(format!("{h}{}", port_at(i))),
            tokio_postgres::config::Host::Unix(_) => {
                return Err(Error::ConnectionFailed(
                    "Unix sockets are not supported on WebAssembly".into(),
                ));
            }
        }
    }
    for (i, ip) in config.get_hostaddrs().iter().enumerate() {
        let ip = match ip {
            std::net::IpAddr::V4(v4) => v4.to_string(),
            std::net::IpAddr::V6(v6) => format!("[{v6}]"),
        };
        dialed.push(format!("{ip}{}", port_at(i)));
    }
    for url in dialed {
        match allowed.check_address(&url, "postgres") {
            AddressCheck::Allowed => {}
            AddressCheck::Denied { scheme, authority } => {
                warn_disallowed(&scheme, &authority);
                return Err(not_permitted(&url));
            }
            AddressCheck::Unparseable => return Err(not_permitted(&url)),
        }
    }
    Ok(())
}

fn not_permitted(url: &str) -> Error {
    Error::ConnectionFailed(format!("address postgres://{url} is not permitted"))
}

impl pg::Host for Host {}

/// How PostgreSQL calls are measured (`db.client.operation.duration`).
const PG: Measure = Measure::Db("postgresql");

impl pg::HostConnection for Host {
    async fn open(
        &mut self,
        address: String,
    ) -> wasmtime::Result<Result<Resource<PgHandle>, Error>> {
        let _span = telemetry::call("spin_outbound_pg.open", PG, || {
            let mut attrs = vec![KeyValue::new("db.system", "postgresql")];
            attrs.extend(telemetry::address_attributes(&address));
            attrs
        });
        if let Err(e) = check_address(&self.component.allowed, &address) {
            return Ok(Err(e));
        }
        let client = match self.component.pg.pool(&address) {
            Ok(pool) => pool.get().await.map_err(anyhow::Error::from),
            Err(e) => Err(e),
        };
        let client = match client {
            Ok(c) => c,
            Err(e) => return Ok(Err(Error::ConnectionFailed(format!("{e:?}")))),
        };
        if self.pg_open >= MAX_CONNECTIONS_PER_INSTANCE {
            return Ok(Err(Error::ConnectionFailed("too many connections".into())));
        }
        self.pg_open += 1;
        Ok(Ok(self.table.push(PgHandle { client })?))
    }

    async fn query(
        &mut self,
        connection: Resource<PgHandle>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<Result<RowSet, Error>> {
        let span = telemetry::call("spin_outbound_pg.query", PG, || {
            vec![KeyValue::new("db.system", "postgresql")]
        });
        span.rename(|| statement.clone());
        let handle = self.table.get(&connection)?;
        Ok(query(&handle.client, &statement, &params).await)
    }

    async fn execute(
        &mut self,
        connection: Resource<PgHandle>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<Result<u64, Error>> {
        let span = telemetry::call("spin_outbound_pg.execute", PG, || {
            vec![KeyValue::new("db.system", "postgresql")]
        });
        span.rename(|| statement.clone());
        let handle = self.table.get(&connection)?;
        let params = match to_sql_all(&params) {
            Ok(p) => p,
            Err(e) => return Ok(Err(Error::ValueConversionFailed(format!("{e:?}")))),
        };
        let refs: Vec<&(dyn ToSql + Sync)> = params
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect();
        Ok(handle
            .client
            .execute(statement.as_str(), &refs)
            .await
            .map_err(query_failed))
    }

    async fn drop(&mut self, connection: Resource<PgHandle>) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        self.pg_open = self.pg_open.saturating_sub(1);
        Ok(())
    }
}

async fn query(
    client: &tokio_postgres::Client,
    statement: &str,
    params: &[ParameterValue],
) -> Result<RowSet, Error> {
    let params = to_sql_all(params).map_err(|e| Error::BadParameter(format!("{e:?}")))?;
    let stream = client
        .query_raw(statement, params)
        .await
        .map_err(query_failed)?;
    let mut columns: Option<Vec<Column>> = None;
    let mut rows = Vec::new();
    let mut bytes = 0usize;
    let collected: anyhow::Result<()> = async {
        futures::pin_mut!(stream);
        while let Some(row) = stream.try_next().await.map_err(query_failed)? {
            if columns.is_none() {
                columns = Some(row.columns().iter().map(column).collect());
            }
            let values = (0..row.len())
                .map(|i| db_value(&row, i))
                .collect::<anyhow::Result<Vec<_>>>()
                .map_err(|e| Error::QueryFailed(QueryError::Text(format!("{e:?}"))))?;
            bytes += values.iter().map(value_size).sum::<usize>();
            if bytes > MAX_RESULT_BYTES {
                anyhow::bail!("query result exceeds limit of {MAX_RESULT_BYTES} bytes");
            }
            rows.push(values);
        }
        Ok(())
    }
    .await;
    // Spin's query loop runs in an `anyhow` block and reports whatever ends
    // it as text, a `pg4` error included (its `Debug` text, nested).
    collected.map_err(|e| Error::QueryFailed(QueryError::Text(format!("{e:?}"))))?;
    Ok(RowSet {
        columns: columns.unwrap_or_default(),
        rows,
    })
}

/// A `tokio_postgres` error as Spin reports it: the server's fields when
/// the server sent an error, otherwise the error's `Debug` text.
fn query_failed(e: tokio_postgres::Error) -> Error {
    let text = format!("{e:?}");
    let Some(db) = e.as_db_error() else {
        return Error::QueryFailed(QueryError::Text(text));
    };
    let mut extras = Vec::new();
    let mut extra = |name: &str, value: Option<String>| {
        if let Some(v) = value {
            extras.push((name.to_owned(), v));
        }
    };
    extra("column", db.column().map(str::to_owned));
    extra("constraint", db.constraint().map(str::to_owned));
    extra("routine", db.routine().map(str::to_owned));
    extra("hint", db.hint().map(str::to_owned));
    extra("table", db.table().map(str::to_owned));
    extra("datatype", db.datatype().map(str::to_owned));
    extra("schema", db.schema().map(str::to_owned));
    extra("file", db.file().map(str::to_owned));
    extra("line", db.line().map(|l| l.to_string()));
    extra("where_", db.where_().map(str::to_owned));
    Error::QueryFailed(QueryError::DbError(DbError {
        as_text: text,
        severity: db.severity().to_owned(),
        code: db.code().code().to_owned(),
        message: db.message().to_owned(),
        detail: db.detail().map(str::to_owned),
        extras,
    }))
}

fn value_size(v: &DbValue) -> usize {
    let heap = match v {
        DbValue::Str(s) | DbValue::Uuid(s) | DbValue::Decimal(s) => s.len(),
        DbValue::Binary(b) | DbValue::Jsonb(b) | DbValue::Unsupported(b) => b.len(),
        DbValue::ArrayInt32(a) => a.len() * 8,
        DbValue::ArrayInt64(a) => a.len() * 16,
        DbValue::ArrayDecimal(a) | DbValue::ArrayStr(a) => a
            .iter()
            .map(|s| std::mem::size_of::<Option<String>>() + s.as_ref().map_or(0, String::len))
            .sum(),
        _ => 0,
    };
    std::mem::size_of::<DbValue>() + heap
}

// ---- PostgreSQL types <-> WIT values ----

fn column(c: &tokio_postgres::Column) -> Column {
    Column {
        name: c.name().to_owned(),
        data_type: data_type(c.type_()),
    }
}

fn data_type(t: &Type) -> DbDataType {
    match *t {
        Type::BOOL => DbDataType::Boolean,
        Type::BYTEA => DbDataType::Binary,
        Type::FLOAT4 => DbDataType::Floating32,
        Type::FLOAT8 => DbDataType::Floating64,
        Type::INT2 => DbDataType::Int16,
        Type::INT4 => DbDataType::Int32,
        Type::INT8 => DbDataType::Int64,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR => DbDataType::Str,
        Type::TIMESTAMP | Type::TIMESTAMPTZ => DbDataType::Datetime,
        Type::DATE => DbDataType::Date,
        Type::TIME => DbDataType::Time,
        Type::UUID => DbDataType::Uuid,
        Type::JSONB => DbDataType::Jsonb,
        Type::NUMERIC => DbDataType::Decimal,
        Type::INT4_RANGE => DbDataType::RangeInt32,
        Type::INT8_RANGE => DbDataType::RangeInt64,
        Type::NUM_RANGE => DbDataType::RangeDecimal,
        Type::INT4_ARRAY => DbDataType::ArrayInt32,
        Type::INT8_ARRAY => DbDataType::ArrayInt64,
        Type::NUMERIC_ARRAY => DbDataType::ArrayDecimal,
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY | Type::BPCHAR_ARRAY => DbDataType::ArrayStr,
        Type::INTERVAL => DbDataType::Interval,
        _ => DbDataType::Other(t.name().to_owned()),
    }
}

/// Reads column `i` as `T` (NULL as `db-null`) and maps it to a WIT value.
fn get<'a, T: FromSql<'a>>(
    row: &'a Row,
    i: usize,
    map: impl FnOnce(T) -> anyhow::Result<DbValue>,
) -> anyhow::Result<DbValue> {
    match row.try_get::<_, Option<T>>(i)? {
        Some(v) => map(v),
        None => Ok(DbValue::DbNull),
    }
}

/// One column of a row as a WIT value, chosen by the column's type. Like
/// Spin, TIMESTAMPTZ is read as a timestamp without time zone, which
/// tokio-postgres refuses: such a column fails the query.
fn db_value(row: &Row, i: usize) -> anyhow::Result<DbValue> {
    use chrono::{Datelike, Timelike};
    let ty = row.columns()[i].type_().clone();
    match ty {
        Type::BOOL => get(row, i, |v| Ok(DbValue::Boolean(v))),
        Type::BYTEA => get(row, i, |v| Ok(DbValue::Binary(v))),
        Type::FLOAT4 => get(row, i, |v| Ok(DbValue::Floating32(v))),
        Type::FLOAT8 => get(row, i, |v| Ok(DbValue::Floating64(v))),
        Type::INT2 => get(row, i, |v| Ok(DbValue::Int16(v))),
        Type::INT4 => get(row, i, |v| Ok(DbValue::Int32(v))),
        Type::INT8 => get(row, i, |v| Ok(DbValue::Int64(v))),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR => get(row, i, |v| Ok(DbValue::Str(v))),
        Type::TIMESTAMP | Type::TIMESTAMPTZ => get(row, i, |v: chrono::NaiveDateTime| {
            Ok(DbValue::Datetime((
                v.year(),
                v.month().try_into()?,
                v.day().try_into()?,
                v.hour().try_into()?,
                v.minute().try_into()?,
                v.second().try_into()?,
                v.nanosecond(),
            )))
        }),
        Type::DATE => get(row, i, |v: chrono::NaiveDate| {
            Ok(DbValue::Date((
                v.year(),
                v.month().try_into()?,
                v.day().try_into()?,
            )))
        }),
        Type::TIME => get(row, i, |v: chrono::NaiveTime| {
            Ok(DbValue::Time((
                v.hour().try_into()?,
                v.minute().try_into()?,
                v.second().try_into()?,
                v.nanosecond(),
            )))
        }),
        Type::UUID => get(row, i, |v: uuid::Uuid| Ok(DbValue::Uuid(v.to_string()))),
        Type::JSONB => get(row, i, |v: serde_json::Value| {
            Ok(DbValue::Jsonb(
                serde_json::to_vec(&v).context("invalid JSON from database")?,
            ))
        }),
        Type::NUMERIC => get(row, i, |v: rust_decimal::Decimal| {
            Ok(DbValue::Decimal(v.to_string()))
        }),
        Type::INT4_RANGE => get(row, i, |v: postgres_range::Range<i32>| {
            Ok(DbValue::RangeInt32(range_to_wit(&v, |x| *x)))
        }),
        Type::INT8_RANGE => get(row, i, |v: postgres_range::Range<i64>| {
            Ok(DbValue::RangeInt64(range_to_wit(&v, |x| *x)))
        }),
        Type::NUM_RANGE => get(row, i, |v: postgres_range::Range<RangeableDecimal>| {
            Ok(DbValue::RangeDecimal(range_to_wit(&v, |d| d.0.to_string())))
        }),
        Type::INT4_ARRAY => get(row, i, |v| Ok(DbValue::ArrayInt32(v))),
        Type::INT8_ARRAY => get(row, i, |v| Ok(DbValue::ArrayInt64(v))),
        Type::NUMERIC_ARRAY => get(row, i, |v: Vec<Option<rust_decimal::Decimal>>| {
            Ok(DbValue::ArrayDecimal(
                v.iter().map(|d| d.map(|d| d.to_string())).collect(),
            ))
        }),
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY | Type::BPCHAR_ARRAY => {
            get(row, i, |v| Ok(DbValue::ArrayStr(v)))
        }
        Type::INTERVAL => get(row, i, |v: PgInterval| Ok(DbValue::Interval(v.0))),
        _ => get(row, i, |v: RawValue| Ok(DbValue::Unsupported(v.0))),
    }
}

type WitRange<T> = (Option<(T, RangeBoundKind)>, Option<(T, RangeBoundKind)>);

fn range_to_wit<T, W>(r: &postgres_range::Range<T>, f: impl Fn(&T) -> W) -> WitRange<W>
where
    T: postgres_range::Normalizable + PartialOrd,
{
    fn kind(t: postgres_range::BoundType) -> RangeBoundKind {
        match t {
            postgres_range::BoundType::Inclusive => RangeBoundKind::Inclusive,
            postgres_range::BoundType::Exclusive => RangeBoundKind::Exclusive,
        }
    }
    (
        r.lower().map(|b| (f(&b.value), kind(b.type_))),
        r.upper().map(|b| (f(&b.value), kind(b.type_))),
    )
}

fn range_from_wit<T>(r: WitRange<T>) -> postgres_range::Range<T>
where
    T: postgres_range::Normalizable + PartialOrd,
{
    fn kind(k: RangeBoundKind) -> postgres_range::BoundType {
        match k {
            RangeBoundKind::Inclusive => postgres_range::BoundType::Inclusive,
            RangeBoundKind::Exclusive => postgres_range::BoundType::Exclusive,
        }
    }
    let (lower, upper) = r;
    postgres_range::Range::new(
        lower.map(|(v, k)| postgres_range::RangeBound::new(v, kind(k))),
        upper.map(|(v, k)| postgres_range::RangeBound::new(v, kind(k))),
    )
}

fn decimal(s: &str) -> anyhow::Result<rust_decimal::Decimal> {
    rust_decimal::Decimal::from_str_exact(s).with_context(|| format!("invalid decimal {s}"))
}

fn date((y, m, d): (i32, u8, u8)) -> anyhow::Result<chrono::NaiveDate> {
    chrono::NaiveDate::from_ymd_opt(y, m.into(), d.into())
        .ok_or_else(|| anyhow!("invalid date y={y}, m={m}, d={d}"))
}

fn time((h, min, s, ns): (u8, u8, u8, u32)) -> anyhow::Result<chrono::NaiveTime> {
    chrono::NaiveTime::from_hms_nano_opt(h.into(), min.into(), s.into(), ns)
        .ok_or_else(|| anyhow!("invalid time {h}:{min}:{s}:{ns}"))
}

type Param = Box<dyn ToSql + Send + Sync>;

fn to_sql_all(params: &[ParameterValue]) -> anyhow::Result<Vec<Param>> {
    params.iter().map(to_sql).collect()
}

/// A WIT parameter as the Rust type tokio-postgres binds for it. As in
/// Spin, integers bind only to columns of their own width (`int8(s8)` to
/// PostgreSQL's one-byte `"char"`), `timestamp` is seconds since the epoch
/// bound as TIMESTAMPTZ, and `db-null` binds to any type.
fn to_sql(p: &ParameterValue) -> anyhow::Result<Param> {
    Ok(match p {
        ParameterValue::Boolean(v) => Box::new(*v),
        ParameterValue::Int8(v) => Box::new(*v),
        ParameterValue::Int16(v) => Box::new(*v),
        ParameterValue::Int32(v) => Box::new(*v),
        ParameterValue::Int64(v) => Box::new(*v),
        ParameterValue::Floating32(v) => Box::new(*v),
        ParameterValue::Floating64(v) => Box::new(*v),
        ParameterValue::Str(v) => Box::new(v.clone()),
        ParameterValue::Binary(v) => Box::new(v.clone()),
        ParameterValue::Date(v) => Box::new(date(*v)?),
        ParameterValue::Time(v) => Box::new(time(*v)?),
        ParameterValue::Datetime((y, mon, d, h, min, s, ns)) => Box::new(
            chrono::NaiveDateTime::new(date((*y, *mon, *d))?, time((*h, *min, *s, *ns))?),
        ),
        ParameterValue::Timestamp(v) => Box::new(
            chrono::DateTime::<chrono::Utc>::from_timestamp(*v, 0)
                .ok_or_else(|| anyhow!("invalid epoch timestamp {v}"))?,
        ),
        ParameterValue::Uuid(v) => {
            Box::new(uuid::Uuid::parse_str(v).with_context(|| format!("invalid UUID {v}"))?)
        }
        ParameterValue::Jsonb(v) => Box::new(
            serde_json::from_slice::<serde_json::Value>(v)
                .with_context(|| format!("invalid JSON {}", String::from_utf8_lossy(v)))?,
        ),
        ParameterValue::Decimal(v) => Box::new(decimal(v)?),
        ParameterValue::RangeInt32(v) => Box::new(range_from_wit(*v)),
        ParameterValue::RangeInt64(v) => Box::new(range_from_wit(*v)),
        ParameterValue::RangeDecimal((lower, upper)) => {
            let bound = |b: &Option<(String, RangeBoundKind)>| {
                b.as_ref()
                    .map(|(v, k)| decimal(v).map(|d| (RangeableDecimal(d), *k)))
                    .transpose()
            };
            Box::new(range_from_wit((bound(lower)?, bound(upper)?)))
        }
        ParameterValue::ArrayInt32(v) => Box::new(v.clone()),
        ParameterValue::ArrayInt64(v) => Box::new(v.clone()),
        ParameterValue::ArrayDecimal(v) => Box::new(
            v.iter()
                .map(|d| d.as_deref().map(decimal).transpose())
                .collect::<anyhow::Result<Vec<_>>>()?,
        ),
        ParameterValue::ArrayStr(v) => Box::new(v.clone()),
        ParameterValue::Interval(v) => Box::new(PgInterval(*v)),
        ParameterValue::DbNull => Box::new(AnyNull),
    })
}

/// NULL for a parameter of any type (an `Option::<T>::None` would still
/// have to match the column's type).
#[derive(Debug)]
struct AnyNull;

impl ToSql for AnyNull {
    fn to_sql(
        &self,
        _: &Type,
        _: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        Ok(IsNull::Yes)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// INTERVAL in PostgreSQL's binary form: microseconds, days, months.
#[derive(Debug)]
struct PgInterval(Interval);

impl ToSql for PgInterval {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        use bytes::BufMut;
        out.put_i64(self.0.micros);
        out.put_i32(self.0.days);
        out.put_i32(self.0.months);
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::INTERVAL
    }

    to_sql_checked!();
}

impl FromSql<'_> for PgInterval {
    fn from_sql(_: &Type, raw: &[u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        let raw: &[u8; 16] = raw
            .try_into()
            .map_err(|_| "unexpected binary format for Postgres INTERVAL")?;
        let (micros, rest) = raw.split_at(8);
        let (days, months) = rest.split_at(4);
        Ok(Self(Interval {
            micros: i64::from_be_bytes(micros.try_into()?),
            days: i32::from_be_bytes(days.try_into()?),
            months: i32::from_be_bytes(months.try_into()?),
        }))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::INTERVAL
    }
}

/// A value of a type with no WIT counterpart: its binary wire form.
struct RawValue(Vec<u8>);

impl FromSql<'_> for RawValue {
    fn from_sql(_: &Type, raw: &[u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Self(raw.to_vec()))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// NUMERIC as a range bound (`postgres_range` needs `Normalizable`, which
/// continuous types implement by leaving bounds as they are).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
struct RangeableDecimal(rust_decimal::Decimal);

impl ToSql for RangeableDecimal {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        self.0.to_sql(ty, out)
    }

    fn accepts(ty: &Type) -> bool {
        <rust_decimal::Decimal as ToSql>::accepts(ty)
    }

    to_sql_checked!();
}

impl FromSql<'_> for RangeableDecimal {
    fn from_sql(ty: &Type, raw: &[u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Self(rust_decimal::Decimal::from_sql(ty, raw)?))
    }

    fn accepts(ty: &Type) -> bool {
        <rust_decimal::Decimal as FromSql>::accepts(ty)
    }
}

impl postgres_range::Normalizable for RangeableDecimal {
    fn normalize<S: postgres_range::BoundSided>(
        bound: postgres_range::RangeBound<S, Self>,
    ) -> postgres_range::RangeBound<S, Self> {
        bound
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(entries: &[&str]) -> AllowedHosts {
        AllowedHosts::parse(entries).unwrap()
    }

    #[test]
    fn every_dialed_host_is_checked() {
        let a = allowed(&["postgres://127.0.0.1:5433", "postgres://db.example"]);
        for ok in [
            "postgres://user:pw@127.0.0.1:5433/app",
            "host=127.0.0.1 port=5433 user=x",
            "host=db.example user=x",
            "postgres://db.example:5432/app",
            "host=127.0.0.1,db.example port=5433,5432",
        ] {
            assert!(check_address(&a, ok).is_ok(), "{ok}");
        }
        for (bad, shown) in [
            ("postgres://127.0.0.1:5434/app", "127.0.0.1:5434"),
            ("host=127.0.0.1 user=x", "127.0.0.1"),
            ("host=db.example port=5433", "db.example:5433"),
            ("host=127.0.0.1,other port=5433", "other:5433"),
            // Spin dials `hostaddr` yet checks only `host`; edge-host
            // checks both.
            ("host=db.example hostaddr=10.1.2.3", "10.1.2.3"),
        ] {
            assert_eq!(
                format!("{:?}", check_address(&a, bad)),
                format!(
                    "Err(Error::ConnectionFailed(\"address postgres://{shown} is not permitted\"))"
                ),
                "{bad}"
            );
        }
        assert_eq!(
            format!("{:?}", check_address(&a, "host=/run/postgresql")),
            r#"Err(Error::ConnectionFailed("Unix sockets are not supported on WebAssembly"))"#
        );
        assert!(matches!(
            check_address(&a, "postgres://[::1"),
            Err(Error::ConnectionFailed(_))
        ));
    }
}
