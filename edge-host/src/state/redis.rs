//! `fermyon:spin/redis@2.0.0` (spin-sdk's `redis`) on the `redis` crate,
//! behaving as Spin 4.0.2's `factor-outbound-redis` does:
//!
//! - `open(address)` checks the address against `allowed_outbound_hosts`
//!   (scheme `redis`, port 6379 by default) before connecting; a refusal is
//!   `invalid-address` and Spin's warning on stderr. An address the `redis`
//!   crate can't parse is `invalid-address` too.
//! - Every `open` makes a new connection (a multiplexed one, as Spin), so
//!   nothing one request does to its connection (`SELECT`, `MULTI`, client
//!   names) reaches another, and a server restart costs only the requests
//!   that were using it: the next `open` connects afresh. An instance holds
//!   at most 1024 (`too-many-connections`).
//! - Failures are `other(<the redis crate's message>)`, including a
//!   non-integer under `incr` and a wrong-type key under `get`; only a reply
//!   `sadd` cannot read as a count is `type-error`.
//! - `execute` sends any command with its arguments and flattens the reply
//!   into a list: nil, status (`OK` included), int64 and binary values, the
//!   elements of (nested) arrays in order; RESP3-only replies map as Spin
//!   maps them, and an error inside an array fails the call.

use ::redis::aio::MultiplexedConnection;
use ::redis::{AsyncCommands, AsyncConnectionConfig, FromRedisValue, Value};
use wasmtime::component::Resource;

use crate::instance::Host;
use crate::outbound::{AddressCheck, warn_disallowed};
use crate::spin_bindings::fermyon::spin::redis::{self, Error, RedisParameter, RedisResult};
use crate::telemetry::{self, Measure};
use opentelemetry::KeyValue;

/// Spin's per-instance connection table size.
pub const MAX_CONNECTIONS_PER_INSTANCE: usize = 1024;

/// Spin's `MAX_HOST_BUFFERED_BYTES`: the largest `get` or `execute` reply.
pub const MAX_RESULT_BYTES: usize = 128 << 20;

/// The host-side value behind a guest's `connection` handle.
pub struct RedisHandle {
    conn: MultiplexedConnection,
}

fn other(e: impl std::fmt::Display) -> Error {
    Error::Other(e.to_string())
}

fn too_large() -> Error {
    Error::Other(format!(
        "query result exceeds limit of {MAX_RESULT_BYTES} bytes"
    ))
}

impl Host {
    fn redis_conn(
        &mut self,
        handle: &Resource<RedisHandle>,
    ) -> wasmtime::Result<MultiplexedConnection> {
        Ok(self.table.get(handle)?.conn.clone())
    }
}

impl redis::Host for Host {}

/// How Redis calls are measured (`db.client.operation.duration`).
const REDIS: Measure = Measure::Db("redis");

impl redis::HostConnection for Host {
    async fn open(
        &mut self,
        address: String,
    ) -> wasmtime::Result<Result<Resource<RedisHandle>, Error>> {
        let _span = telemetry::call("spin_outbound_redis.open_connection", REDIS, || {
            let mut attrs = vec![KeyValue::new("db.system", "redis")];
            attrs.extend(telemetry::address_attributes(&address));
            attrs
        });
        match self.component.allowed.check_address(&address, "redis") {
            AddressCheck::Allowed => {}
            AddressCheck::Denied { scheme, authority } => {
                warn_disallowed(&scheme, &authority);
                return Ok(Err(Error::InvalidAddress));
            }
            AddressCheck::Unparseable => return Ok(Err(Error::InvalidAddress)),
        }
        let Ok(client) = ::redis::Client::open(address.as_str()) else {
            return Ok(Err(Error::InvalidAddress));
        };
        let conn = match client
            .get_multiplexed_async_connection_with_config(&AsyncConnectionConfig::new())
            .await
        {
            Ok(c) => c,
            Err(e) => return Ok(Err(other(e))),
        };
        if self.redis_open >= MAX_CONNECTIONS_PER_INSTANCE {
            return Ok(Err(Error::TooManyConnections));
        }
        self.redis_open += 1;
        Ok(Ok(self.table.push(RedisHandle { conn })?))
    }

    async fn publish(
        &mut self,
        connection: Resource<RedisHandle>,
        channel: String,
        payload: Vec<u8>,
    ) -> wasmtime::Result<Result<(), Error>> {
        let span = telemetry::call("spin_outbound_redis.publish", REDIS, || {
            vec![KeyValue::new("db.system", "redis")]
        });
        span.rename(|| format!("PUBLISH {channel}"));
        let mut conn = self.redis_conn(&connection)?;
        Ok(conn
            .publish::<_, _, Value>(&channel, &payload)
            .await
            .map(drop)
            .map_err(other))
    }

    async fn get(
        &mut self,
        connection: Resource<RedisHandle>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        let span = telemetry::call("spin_outbound_redis.get", REDIS, || {
            vec![KeyValue::new("db.system", "redis")]
        });
        span.rename(|| format!("GET {key}"));
        let mut conn = self.redis_conn(&connection)?;
        Ok(match conn.get::<_, Option<Vec<u8>>>(&key).await {
            Ok(v)
                if std::mem::size_of::<Option<Vec<u8>>>() + v.as_ref().map_or(0, Vec::len)
                    > MAX_RESULT_BYTES =>
            {
                Err(too_large())
            }
            Ok(v) => Ok(v),
            Err(e) => Err(other(e)),
        })
    }

    async fn set(
        &mut self,
        connection: Resource<RedisHandle>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), Error>> {
        let span = telemetry::call("spin_outbound_redis.set", REDIS, || {
            vec![KeyValue::new("db.system", "redis")]
        });
        span.rename(|| format!("SET {key}"));
        let mut conn = self.redis_conn(&connection)?;
        Ok(conn.set::<_, _, ()>(&key, &value).await.map_err(other))
    }

    async fn incr(
        &mut self,
        connection: Resource<RedisHandle>,
        key: String,
    ) -> wasmtime::Result<Result<i64, Error>> {
        let span = telemetry::call("spin_outbound_redis.incr", REDIS, || {
            vec![KeyValue::new("db.system", "redis")]
        });
        span.rename(|| format!("INCRBY {key} 1"));
        let mut conn = self.redis_conn(&connection)?;
        Ok(conn.incr::<_, _, i64>(&key, 1).await.map_err(other))
    }

    async fn del(
        &mut self,
        connection: Resource<RedisHandle>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<u32, Error>> {
        let span = telemetry::call("spin_outbound_redis.del", REDIS, || {
            vec![KeyValue::new("db.system", "redis")]
        });
        span.rename(|| format!("DEL {}", keys.join(" ")));
        let mut conn = self.redis_conn(&connection)?;
        Ok(conn.del::<_, u32>(&keys).await.map_err(other))
    }

    async fn sadd(
        &mut self,
        connection: Resource<RedisHandle>,
        key: String,
        values: Vec<String>,
    ) -> wasmtime::Result<Result<u32, Error>> {
        let span = telemetry::call("spin_outbound_redis.sadd", REDIS, || {
            vec![KeyValue::new("db.system", "redis")]
        });
        span.rename(|| format!("SADD {key} {}", values.join(" ")));
        let mut conn = self.redis_conn(&connection)?;
        Ok(conn
            .sadd::<_, _, u32>(&key, &values)
            .await
            .map_err(|e| match e.kind() {
                ::redis::ErrorKind::TypeError => Error::TypeError,
                _ => other(e),
            }))
    }

    async fn smembers(
        &mut self,
        connection: Resource<RedisHandle>,
        key: String,
    ) -> wasmtime::Result<Result<Vec<String>, Error>> {
        let span = telemetry::call("spin_outbound_redis.smembers", REDIS, || {
            vec![KeyValue::new("db.system", "redis")]
        });
        span.rename(|| format!("SMEMBERS {key}"));
        let mut conn = self.redis_conn(&connection)?;
        Ok(conn.smembers::<_, Vec<String>>(&key).await.map_err(other))
    }

    async fn srem(
        &mut self,
        connection: Resource<RedisHandle>,
        key: String,
        values: Vec<String>,
    ) -> wasmtime::Result<Result<u32, Error>> {
        let span = telemetry::call("spin_outbound_redis.srem", REDIS, || {
            vec![KeyValue::new("db.system", "redis")]
        });
        span.rename(|| format!("SREM {key} {}", values.join(" ")));
        let mut conn = self.redis_conn(&connection)?;
        Ok(conn.srem::<_, _, u32>(&key, &values).await.map_err(other))
    }

    async fn execute(
        &mut self,
        connection: Resource<RedisHandle>,
        command: String,
        arguments: Vec<RedisParameter>,
    ) -> wasmtime::Result<Result<Vec<RedisResult>, Error>> {
        let span = telemetry::call("spin_outbound_redis.execute", REDIS, || {
            vec![KeyValue::new("db.system", "redis")]
        });
        span.rename(|| command.clone());
        let mut conn = self.redis_conn(&connection)?;
        let mut cmd = ::redis::cmd(&command);
        for a in arguments {
            match a {
                RedisParameter::Int64(v) => cmd.arg(v),
                RedisParameter::Binary(v) => cmd.arg(v),
            };
        }
        Ok(match cmd.query_async::<Flattened>(&mut conn).await {
            Ok(Flattened(results)) => {
                let size: usize = results.iter().map(result_size).sum();
                if size > MAX_RESULT_BYTES {
                    Err(too_large())
                } else {
                    Ok(results)
                }
            }
            Err(e) => Err(other(e)),
        })
    }

    async fn drop(&mut self, connection: Resource<RedisHandle>) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        self.redis_open = self.redis_open.saturating_sub(1);
        Ok(())
    }
}

fn result_size(r: &RedisResult) -> usize {
    std::mem::size_of::<RedisResult>()
        + match r {
            RedisResult::Binary(b) => b.len(),
            RedisResult::Status(s) => s.len(),
            RedisResult::Nil | RedisResult::Int64(_) => 0,
        }
}

/// A reply as the flat list `execute` returns.
struct Flattened(Vec<RedisResult>);

impl FromRedisValue for Flattened {
    fn from_redis_value(v: &Value) -> ::redis::RedisResult<Self> {
        let mut out = Vec::new();
        flatten(v, &mut out)?;
        Ok(Self(out))
    }
}

fn unsupported(what: &str) -> ::redis::RedisError {
    ::redis::RedisError::from((
        ::redis::ErrorKind::TypeError,
        "Could not convert Redis response",
        format!("Redis {what} is not supported"),
    ))
}

fn flatten(v: &Value, out: &mut Vec<RedisResult>) -> ::redis::RedisResult<()> {
    match v {
        Value::Nil => out.push(RedisResult::Nil),
        Value::Int(i) => out.push(RedisResult::Int64(*i)),
        Value::BulkString(b) => out.push(RedisResult::Binary(b.clone())),
        Value::SimpleString(s) => out.push(RedisResult::Status(s.clone())),
        Value::Okay => out.push(RedisResult::Status("OK".into())),
        Value::Array(items) | Value::Set(items) => {
            for item in items {
                flatten(item, out)?;
            }
        }
        Value::Double(d) => out.push(RedisResult::Binary(d.to_string().into_bytes())),
        Value::Boolean(b) => out.push(RedisResult::Int64(i64::from(*b))),
        Value::BigNumber(n) => out.push(RedisResult::Binary(n.to_string().into_bytes())),
        Value::Map(_) => return Err(unsupported("Map type")),
        Value::Attribute { .. } => return Err(unsupported("Attribute type")),
        Value::VerbatimString { .. } => return Err(unsupported("string with format attribute")),
        Value::Push { .. } => return Err(unsupported("Pub/Sub types")),
        Value::ServerError(e) => {
            return Err(::redis::RedisError::from((
                ::redis::ErrorKind::ResponseError,
                "Server error",
                format!("{e:?}"),
            )));
        }
    }
    Ok(())
}
