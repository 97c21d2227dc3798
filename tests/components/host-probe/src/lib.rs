//! host-probe: a component for edge-host's integration tests. The request's
//! `spin-path-info` picks the operation, the query string its arguments;
//! success answers 200 with a plain-text result, a host error answers 400
//! with the error's `Debug` text so tests can assert on the exact variant.
//!
//! `/pg/...` and `/redis/...` drive the outbound PostgreSQL (`pg4`) and
//! Redis interfaces against the server named by `addr=`; see [`pg`] and
//! [`redis`] for their arguments.

use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;
use spin_sdk::key_value::Store;
use spin_sdk::sqlite::{Connection, Value};

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn param(req: &Request, name: &str) -> Option<String> {
    req.query().split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (decode(k) == name).then(|| decode(v))
    })
}

fn ok(body: impl Into<String>) -> Response {
    Response::new(200, body.into())
}

fn fail(err: impl std::fmt::Debug) -> Response {
    Response::new(400, format!("{err:?}"))
}

fn render(v: &Value) -> String {
    match v {
        Value::Integer(i) => i.to_string(),
        Value::Real(f) => format!("{f}"),
        Value::Text(s) => s.clone(),
        Value::Blob(b) => format!("blob{b:?}"),
        Value::Null => "null".into(),
    }
}

fn kv(req: &Request, op: &str) -> Response {
    let label = param(req, "label").unwrap_or_else(|| "default".into());
    let store = match Store::open(&label) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let key = param(req, "key").unwrap_or_default();
    let result = match op {
        "open" => Ok("opened".to_owned()),
        "set" => store
            .set(&key, param(req, "value").unwrap_or_default().as_bytes())
            .map(|()| "ok".to_owned()),
        "get" => store.get(&key).map(|v| match v {
            Some(v) => String::from_utf8_lossy(&v).into_owned(),
            None => "<none>".to_owned(),
        }),
        "delete" => store.delete(&key).map(|()| "ok".to_owned()),
        "exists" => store.exists(&key).map(|b| b.to_string()),
        "keys" => store.get_keys().map(|mut k| {
            k.sort();
            k.join(",")
        }),
        // Opens stores until the host refuses or `n` are open; reports
        // how many it got.
        "exhaust" => {
            let cap: usize = param(req, "n")
                .and_then(|n| n.parse().ok())
                .unwrap_or(usize::MAX);
            let mut held = vec![store];
            loop {
                if held.len() >= cap {
                    return ok(format!("{} opened", held.len()));
                }
                match Store::open(&label) {
                    Ok(s) => held.push(s),
                    Err(e) => return ok(format!("{} then {e:?}", held.len())),
                }
            }
        }
        _ => return Response::new(404, "unknown kv op"),
    };
    match result {
        Ok(body) => ok(body),
        Err(e) => fail(e),
    }
}

/// Opens connections until the host refuses; reports how many it got.
fn sql_exhaust(req: &Request) -> Response {
    let label = param(req, "label").unwrap_or_else(|| "default".into());
    let mut held = Vec::new();
    loop {
        match Connection::open(&label) {
            Ok(c) => held.push(c),
            Err(e) => return ok(format!("{} then {e:?}", held.len())),
        }
    }
}

/// `sql=...` runs one statement; `p=...` (repeatable) are text or, with an
/// `i:` prefix, integer parameters. Output: `columns|row1|row2...` with
/// values comma-separated.
fn sql(req: &Request) -> Response {
    let label = param(req, "label").unwrap_or_else(|| "default".into());
    let conn = match Connection::open(&label) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let statement = param(req, "sql").unwrap_or_default();
    let params: Vec<Value> = req
        .query()
        .split('&')
        .filter_map(|p| p.strip_prefix("p="))
        .map(|v| {
            let v = decode(v);
            match v.strip_prefix("i:").and_then(|n| n.parse().ok()) {
                Some(n) => Value::Integer(n),
                None => Value::Text(v),
            }
        })
        .collect();
    match conn.execute(&statement, &params) {
        Ok(r) => {
            let mut out = r.columns.join(",");
            for row in &r.rows {
                out.push('|');
                out.push_str(&row.values.iter().map(render).collect::<Vec<_>>().join(","));
            }
            ok(out)
        }
        Err(e) => fail(e),
    }
}

async fn outbound(req: &Request) -> Response {
    let url = param(req, "url").unwrap_or_default();
    match spin_sdk::http::send::<_, Response>(Request::get(url)).await {
        Ok(res) => ok(format!(
            "{} {}",
            res.status(),
            String::from_utf8_lossy(res.body())
        )),
        Err(e) => fail(e),
    }
}

/// All values of a repeated query parameter, in order.
fn params(req: &Request, name: &str) -> Vec<String> {
    req.query()
        .split('&')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k) == name).then(|| decode(v))
        })
        .collect()
}

/// A `pg4` parameter from `type:value` (no `type:` means text): `bool`,
/// `i8`, `i16`, `i32`, `i64`, `f32`, `f64`, `str`, `hex` (bytes), `date`
/// (`y-m-d`), `time` (`h:m:s`), `dt` (`y-m-dTh:m:s`), `ts` (epoch seconds),
/// `uuid`, `json`, `dec`, `null`, `i32range` / `i64range` (`lo,hi`, each
/// inclusive below and exclusive above, empty for unbounded), `i32s`,
/// `i64s`, `strs`, `decs` (comma lists, `~` for NULL), `interval`
/// (`micros,days,months`).
fn pg_param(text: &str) -> Result<spin_sdk::pg4::ParameterValue, String> {
    use spin_sdk::pg4::{Interval, ParameterValue as P, RangeBoundKind as K};
    let (ty, v) = text.split_once(':').unwrap_or(("str", text));
    let bad = |what: &str| format!("bad {what} parameter {v:?}");
    let int = |s: &str| s.parse::<i64>().map_err(|_| bad(ty));
    let nums =
        |s: &str| -> Result<Vec<i64>, String> { s.split([',', '-', ':', 'T']).map(int).collect() };
    let list = |s: &str| -> Vec<Option<String>> {
        s.split(',')
            .map(|x| (x != "~").then(|| x.to_owned()))
            .collect()
    };
    Ok(match ty {
        "bool" => P::Boolean(v == "true"),
        "i8" => P::Int8(int(v)? as i8),
        "i16" => P::Int16(int(v)? as i16),
        "i32" => P::Int32(int(v)? as i32),
        "i64" => P::Int64(int(v)?),
        "f32" => P::Floating32(v.parse().map_err(|_| bad(ty))?),
        "f64" => P::Floating64(v.parse().map_err(|_| bad(ty))?),
        "str" => P::Str(v.to_owned()),
        "hex" => P::Binary(
            (0..v.len() / 2)
                .map(|i| u8::from_str_radix(&v[2 * i..2 * i + 2], 16).map_err(|_| bad(ty)))
                .collect::<Result<_, _>>()?,
        ),
        "date" => match nums(v)?[..] {
            [y, m, d] => P::Date((y as i32, m as u8, d as u8)),
            _ => return Err(bad(ty)),
        },
        "time" => match nums(v)?[..] {
            [h, m, s] => P::Time((h as u8, m as u8, s as u8, 0)),
            _ => return Err(bad(ty)),
        },
        "dt" => match nums(v)?[..] {
            [y, mo, d, h, mi, s] => {
                P::Datetime((y as i32, mo as u8, d as u8, h as u8, mi as u8, s as u8, 0))
            }
            _ => return Err(bad(ty)),
        },
        "ts" => P::Timestamp(int(v)?),
        "uuid" => P::Uuid(v.to_owned()),
        "json" => P::Jsonb(v.as_bytes().to_vec()),
        "dec" => P::Decimal(v.to_owned()),
        "null" => P::DbNull,
        "i32range" | "i64range" => {
            let (lo, hi) = v.split_once(',').ok_or_else(|| bad(ty))?;
            let bound = |s: &str, k: K| -> Result<Option<(i64, K)>, String> {
                if s.is_empty() {
                    Ok(None)
                } else {
                    Ok(Some((int(s)?, k)))
                }
            };
            let (lo, hi) = (bound(lo, K::Inclusive)?, bound(hi, K::Exclusive)?);
            if ty == "i32range" {
                P::RangeInt32((
                    lo.map(|(n, k)| (n as i32, k)),
                    hi.map(|(n, k)| (n as i32, k)),
                ))
            } else {
                P::RangeInt64((lo, hi))
            }
        }
        "i32s" => P::ArrayInt32(
            list(v)
                .iter()
                .map(|x| {
                    x.as_deref()
                        .map(int)
                        .transpose()
                        .map(|n| n.map(|n| n as i32))
                })
                .collect::<Result<_, _>>()?,
        ),
        "i64s" => P::ArrayInt64(
            list(v)
                .iter()
                .map(|x| x.as_deref().map(int).transpose())
                .collect::<Result<_, _>>()?,
        ),
        "strs" => P::ArrayStr(list(v)),
        "decs" => P::ArrayDecimal(list(v)),
        "interval" => match nums(v)?[..] {
            [micros, days, months] => P::Interval(Interval {
                micros,
                days: days as i32,
                months: months as i32,
            }),
            _ => return Err(bad(ty)),
        },
        other => return Err(format!("unknown parameter type {other:?}")),
    })
}

/// A `pg4` value as the tests spell it: its `Debug` text without the
/// `DbValue::` prefix.
fn pg_value(v: &spin_sdk::pg4::DbValue) -> String {
    format!("{v:?}")
        .replace("DbValue::", "")
        .replace("RangeBoundKind::", "")
}

/// `/pg/<op>?addr=<address>`: `open`; `query` / `exec` (`sql=`, repeated
/// `p=` parameters, see [`pg_param`]); `script` (repeated `sql=`, each run
/// with `execute` on one connection, results on separate lines, errors
/// included). A query answers `col:type,...` and then one `|`-separated
/// line per row of comma-separated values.
fn pg(req: &Request, op: &str) -> Response {
    use spin_sdk::pg4::Connection;
    let addr = param(req, "addr").unwrap_or_default();
    let conn = match Connection::open(&addr) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let sql = param(req, "sql").unwrap_or_default();
    let ps = match params(req, "p")
        .iter()
        .map(|p| pg_param(p))
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(ps) => ps,
        Err(e) => return Response::new(422, e),
    };
    match op {
        "open" => ok("opened"),
        "exec" => match conn.execute(&sql, &ps) {
            Ok(n) => ok(n.to_string()),
            Err(e) => fail(e),
        },
        "query" => match conn.query(&sql, &ps) {
            Ok(rs) => {
                let mut out = rs
                    .columns
                    .iter()
                    .map(|c| {
                        format!(
                            "{}:{}",
                            c.name,
                            format!("{:?}", c.data_type).replace("DbDataType::", "")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(",");
                for row in &rs.rows {
                    out.push('|');
                    out.push_str(&row.iter().map(pg_value).collect::<Vec<_>>().join(","));
                }
                ok(out)
            }
            Err(e) => fail(e),
        },
        "script" => ok(params(req, "sql")
            .iter()
            .map(|s| match conn.execute(s, &[]) {
                Ok(n) => n.to_string(),
                Err(e) => format!("{e:?}"),
            })
            .collect::<Vec<_>>()
            .join("\n")),
        _ => Response::new(404, "unknown pg op"),
    }
}

/// A Redis `execute` argument: `i:<n>` is an integer, anything else bytes.
fn redis_arg(a: &str) -> spin_sdk::redis::RedisParameter {
    use spin_sdk::redis::RedisParameter as P;
    match a.strip_prefix("i:").and_then(|n| n.parse().ok()) {
        Some(n) => P::Int64(n),
        None => P::Binary(a.as_bytes().to_vec()),
    }
}

fn redis_result(r: &spin_sdk::redis::RedisResult) -> String {
    use spin_sdk::redis::RedisResult as R;
    match r {
        R::Nil => "nil".into(),
        R::Status(s) => format!("status:{s}"),
        R::Int64(n) => format!("int:{n}"),
        R::Binary(b) => format!("bin:{}", String::from_utf8_lossy(b)),
    }
}

/// `/redis/<op>?addr=<address>`: `open`, `get`/`set`/`incr` (`key=`,
/// `value=`), `del` (repeated `k=`), `sadd`/`srem` (`key=`, repeated `v=`),
/// `smembers` (sorted), `publish` (`channel=`, `value=`), `execute` (`cmd=`,
/// repeated `a=`, see [`redis_arg`]; results comma-separated, see
/// [`redis_result`]).
fn redis(req: &Request, op: &str) -> Response {
    use spin_sdk::redis::Connection;
    let addr = param(req, "addr").unwrap_or_default();
    let conn = match Connection::open(&addr) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let key = param(req, "key").unwrap_or_default();
    let value = param(req, "value").unwrap_or_default().into_bytes();
    let result = match op {
        "open" => Ok("opened".to_owned()),
        "get" => conn.get(&key).map(|v| match v {
            Some(v) => String::from_utf8_lossy(&v).into_owned(),
            None => "<nil>".to_owned(),
        }),
        "set" => conn.set(&key, &value).map(|()| "ok".to_owned()),
        "incr" => conn.incr(&key).map(|n| n.to_string()),
        "del" => conn.del(&params(req, "k")).map(|n| n.to_string()),
        "sadd" => conn.sadd(&key, &params(req, "v")).map(|n| n.to_string()),
        "srem" => conn.srem(&key, &params(req, "v")).map(|n| n.to_string()),
        "smembers" => conn.smembers(&key).map(|mut m| {
            m.sort();
            m.join(",")
        }),
        "publish" => conn
            .publish(&param(req, "channel").unwrap_or_default(), &value)
            .map(|()| "ok".to_owned()),
        "execute" => {
            let args: Vec<_> = params(req, "a").iter().map(|a| redis_arg(a)).collect();
            conn.execute(&param(req, "cmd").unwrap_or_default(), &args)
                .map(|rs| rs.iter().map(redis_result).collect::<Vec<_>>().join(","))
        }
        _ => return Response::new(404, "unknown redis op"),
    };
    match result {
        Ok(body) => ok(body),
        Err(e) => fail(e),
    }
}

/// A checksum both the probe and the tests compute over a body: FNV-1a,
/// enough to notice a lost, repeated or reordered chunk.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Largest body `/big` will generate, so a typo can't exhaust guest memory.
const MAX_GENERATED_BODY: usize = 64 * 1024 * 1024;

#[http_component]
async fn handle(req: Request) -> Response {
    let op = req
        .header("spin-path-info")
        .and_then(|h| h.as_str())
        .unwrap_or("")
        .to_owned();
    // `?dump` shows the headers on any route, so routing tests can see
    // which route matched even where the path info is arbitrary.
    let op = if param(&req, "dump").is_some() {
        String::new()
    } else {
        op
    };
    match op.as_str() {
        // Non-wildcard routes have an empty path info: show the headers.
        "" | "/headers" => {
            let mut lines: Vec<String> = req
                .headers()
                .filter(|(n, _)| n.starts_with("spin-"))
                .map(|(n, v)| format!("{n}: {}", v.as_str().unwrap_or("<binary>")))
                .collect();
            lines.sort();
            ok(lines.join("\n"))
        }
        "/env" => {
            let mut vars: Vec<String> = std::env::vars().map(|(k, v)| format!("{k}={v}")).collect();
            vars.sort();
            ok(vars.join("\n"))
        }
        "/echo" => ok(format!(
            "{} {}",
            req.method(),
            String::from_utf8_lossy(req.body())
        )),
        // Size and checksum of the request body, however it was framed.
        "/body" => ok(format!(
            "{} {} {:016x}",
            req.method(),
            req.body().len(),
            fnv1a(req.body())
        )),
        // `n` bytes of a repeating pattern; the tests check them whole.
        "/big" => {
            let n: usize = param(&req, "n").and_then(|n| n.parse().ok()).unwrap_or(0);
            let body: Vec<u8> = (0..n.min(MAX_GENERATED_BODY))
                .map(|i| b'a' + (i % 26) as u8)
                .collect();
            Response::builder()
                .status(200)
                .header("X-Probe-Size", n.to_string())
                .body(body)
                .build()
        }
        "/var" => match spin_sdk::variables::get(&param(&req, "name").unwrap_or_default()) {
            Ok(v) => ok(v),
            Err(e) => fail(e),
        },
        "/file" => match std::fs::read_to_string(param(&req, "path").unwrap_or_default()) {
            Ok(s) => ok(s),
            Err(e) => fail(e.kind()),
        },
        "/write-file" => match std::fs::write(param(&req, "path").unwrap_or_default(), b"x") {
            Ok(()) => ok("written"),
            Err(e) => fail(e.kind()),
        },
        "/http" => outbound(&req).await,
        "/sql" => sql(&req),
        "/sql-exhaust" => sql_exhaust(&req),
        "/log" => {
            println!("probe says {}", param(&req, "msg").unwrap_or_default());
            ok("logged")
        }
        "/panic" => panic!("probe asked to panic"),
        // MySQL is a Spin interface edge-host doesn't implement: the import
        // links as a trap, so this request must fail with a 500.
        "/mysql" => match spin_sdk::mysql::Connection::open("mysql://127.0.0.1:3306/x") {
            Ok(_) => ok("mysql opened"),
            Err(e) => fail(e),
        },
        // Spins the CPU without any host call that could yield.
        "/busy" => {
            let ms: u64 = param(&req, "ms").and_then(|m| m.parse().ok()).unwrap_or(0);
            let start = std::time::Instant::now();
            let mut n = 0u64;
            while start.elapsed().as_millis() < u128::from(ms) {
                for i in 0..100_000u64 {
                    n = std::hint::black_box(n.wrapping_add(i));
                }
            }
            ok(format!("busy {}", n % 2))
        }
        other => {
            if let Some(kv_op) = other.strip_prefix("/kv/") {
                kv(&req, kv_op)
            } else if let Some(pg_op) = other.strip_prefix("/pg/") {
                pg(&req, pg_op)
            } else if let Some(redis_op) = other.strip_prefix("/redis/") {
                redis(&req, redis_op)
            } else {
                Response::new(404, format!("unknown probe op {other:?}"))
            }
        }
    }
}
