//! [`Kv`] on Redis through Spin's `fermyon:spin/redis@2.0.0`
//! (`spin_sdk::redis`), chosen by the `redis_url` variable.
//!
//! Every method is one Redis command, so each is atomic on the server and
//! no lock is needed however many instances share it: `SET … EX` (put),
//! `SET … NX EX` (put_new), `GETDEL` (take, Redis ≥ 6.2), `DEL`, and for a
//! windowed counter one script that increments and sets the expiry only
//! when the key has none (so the window never moves).

use spin_sdk::redis::{Connection, Error, RedisParameter, RedisResult};

use super::kv::{Kv, KvError, Window};

/// `count`: INCRBY, then EXPIRE only when the key has no expiry yet; answers
/// "count:ttl" as one bulk string (one reply whatever the host's mapping of
/// arrays).
const COUNT_SCRIPT: &str = "local c = redis.call('INCRBY', KEYS[1], ARGV[1]) \
    if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end \
    return tostring(c) .. ':' .. tostring(redis.call('TTL', KEYS[1]))";

pub struct SpinRedis {
    conn: Connection,
}

fn kv_error(e: Error) -> KvError {
    match e {
        Error::InvalidAddress | Error::TooManyConnections => {
            KvError::Unavailable(format!("redis: {e:?}"))
        }
        Error::Other(m) if connection_lost(&m) => KvError::Unavailable(format!("redis: {m}")),
        other => KvError::Store(format!("redis: {other:?}")),
    }
}

/// Words of the errors a lost, refused or not yet ready server gives (it
/// stopped, restarted or is loading): Redis is unavailable (503), not
/// failing.
const CONNECTION_LOST: &[&str] = &[
    "connect",
    "refused",
    "reset",
    "broken pipe",
    "closed",
    "terminated",
    "timed out",
    "loading",
    "io error",
];

fn connection_lost(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    CONNECTION_LOST.iter().any(|w| message.contains(w))
}

fn bin(s: &str) -> RedisParameter {
    RedisParameter::Binary(s.as_bytes().to_vec())
}

impl SpinRedis {
    /// Connects to `url` (`redis://host:port`).
    pub fn open(url: &str) -> Result<SpinRedis, KvError> {
        let conn = Connection::open(url).map_err(|e| match e {
            Error::Other(m) => KvError::Unavailable(format!("redis: {m}")),
            other => kv_error(other),
        })?;
        Ok(SpinRedis { conn })
    }

    fn run(&self, command: &str, args: Vec<RedisParameter>) -> Result<Vec<RedisResult>, KvError> {
        self.conn.execute(command, &args).map_err(kv_error)
    }
}

/// The first reply as bytes (`None` for nil).
fn first_bytes(results: Vec<RedisResult>) -> Option<Vec<u8>> {
    match results.into_iter().next() {
        Some(RedisResult::Binary(b)) => Some(b),
        Some(RedisResult::Status(s)) => Some(s.into_bytes()),
        Some(RedisResult::Int64(i)) => Some(i.to_string().into_bytes()),
        Some(RedisResult::Nil) | None => None,
    }
}

impl Kv for SpinRedis {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.conn.get(key).map_err(kv_error)
    }

    fn put(&self, key: &str, value: &[u8], ttl_secs: i64) -> Result<(), KvError> {
        self.run(
            "SET",
            vec![
                bin(key),
                RedisParameter::Binary(value.to_vec()),
                bin("EX"),
                RedisParameter::Int64(ttl_secs.max(1)),
            ],
        )?;
        Ok(())
    }

    fn put_new(&self, key: &str, value: &[u8], ttl_secs: i64) -> Result<bool, KvError> {
        let reply = self.run(
            "SET",
            vec![
                bin(key),
                RedisParameter::Binary(value.to_vec()),
                bin("NX"),
                bin("EX"),
                RedisParameter::Int64(ttl_secs.max(1)),
            ],
        )?;
        Ok(first_bytes(reply).is_some())
    }

    fn take(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        Ok(first_bytes(self.run("GETDEL", vec![bin(key)])?))
    }

    fn delete(&self, key: &str) -> Result<(), KvError> {
        self.conn.del(&[key.to_string()]).map_err(kv_error)?;
        Ok(())
    }

    fn count(&self, key: &str, by: i64, window_secs: i64) -> Result<Window, KvError> {
        let reply = self.run(
            "EVAL",
            vec![
                bin(COUNT_SCRIPT),
                RedisParameter::Int64(1),
                bin(key),
                RedisParameter::Int64(by),
                RedisParameter::Int64(window_secs.max(1)),
            ],
        )?;
        let text = first_bytes(reply)
            .and_then(|b| String::from_utf8(b).ok())
            .unwrap_or_default();
        let parsed = text
            .split_once(':')
            .and_then(|(c, t)| Some((c.parse().ok()?, t.parse().ok()?)));
        let (count, resets_in) = parsed.ok_or_else(|| KvError::Decode {
            key: key.to_string(),
            cause: format!("counter script answered {text:?}"),
        })?;
        Ok(Window { count, resets_in })
    }
}
