//! host-probe: a component for edge-host's integration tests. The request's
//! `spin-path-info` picks the operation, the query string its arguments;
//! success answers 200 with a plain-text result, a host error answers 400
//! with the error's `Debug` text so tests can assert on the exact variant.

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
        // Redis is a Spin interface edge-host doesn't implement: the import
        // links as a trap, so this request must fail with a 500.
        "/redis" => match spin_sdk::redis::Connection::open("redis://127.0.0.1:6379") {
            Ok(_) => ok("redis opened"),
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
        other => match other.strip_prefix("/kv/") {
            Some(kv_op) => kv(&req, kv_op),
            None => Response::new(404, format!("unknown probe op {other:?}")),
        },
    }
}
