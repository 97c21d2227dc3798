//! native-baseline: the same read work as the wasm components, done by a
//! minimal native server, so the benchmark can report edge/native ratios
//! measured in the same run on the same seeded database file.
//!
//! Routes (everything else is 404):
//! - `GET /api/v1.0/areas`: the areas envelope, read from SQLite per request;
//! - `GET /api/v1.0/houses/:id`: the house-detail envelope (house + owner,
//!   images, facilities, the 10 newest comments, the booked future ranges),
//!   its five queries run per request;
//! - `GET /noop`: 200 with no body, the loopback floor for the host's
//!   per-request overhead.
//!
//! Both reads are the app's own operations (`ihome_bench::detail`), run on
//! rusqlite instead of Spin SQLite, with an empty in-memory key-value store
//! per request so no cache answers for them. hyper 1 on tokio's
//! multi-threaded runtime; each worker thread keeps its own SQLite
//! connection (queries take well under a millisecond, so running them inline
//! on the worker is what a minimal native service would do).

use std::cell::RefCell;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use clap::Parser;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use ihome_bench::detail;
use ihome_shared::houses::View;
use ihome_shared::http::Envelope;
use ihome_shared::store::SqlError;
use ihome_shared::store::native::NativeSqlite;
use ihome_shared::{ApiError, ApiResult};
use rusqlite::{Connection, OpenFlags};
use serde::Serialize;
use tokio::net::TcpListener;

/// How long a query waits for the app's writer (the benchmark books orders
/// through the edge host while this server may be reading).
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Statements kept prepared per connection: the handful this server runs.
const STATEMENT_CACHE: usize = 16;

#[derive(Parser)]
#[command(about = "Minimal native server doing the same reads as the iHome components")]
struct Args {
    /// The app's SQLite database (`<state-dir>/sqlite_db.db`).
    #[arg(long)]
    db: PathBuf,
    /// Address to listen on; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Base of image URLs (spin.toml's `image_base_url` default).
    #[arg(long, default_value = detail::DEFAULT_IMAGE_BASE_URL)]
    image_base_url: String,
    /// The app's time zone offset in seconds (spin.toml's `utc_offset`, +08:00).
    #[arg(long, default_value_t = detail::DEFAULT_UTC_OFFSET_SECS)]
    utc_offset_secs: i64,
}

static DB_PATH: OnceLock<PathBuf> = OnceLock::new();
static VIEW: OnceLock<View> = OnceLock::new();

thread_local! {
    static DB: RefCell<Option<NativeSqlite>> = const { RefCell::new(None) };
}

/// The app's database file on this worker thread's connection.
fn open(path: &Path) -> anyhow::Result<NativeSqlite> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("opening {}", path.display()))?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // The app has migrated it: no schema check per request.
    Ok(NativeSqlite { conn })
}

fn with_db<T>(f: impl FnOnce(&NativeSqlite) -> ApiResult<T>) -> ApiResult<T> {
    DB.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            let path = DB_PATH.get().expect("db path set in main");
            let db = open(path).map_err(|e| SqlError::Unavailable(format!("{e:#}")))?;
            *slot = Some(db);
        }
        f(slot.as_ref().expect("just opened"))
    })
}

fn json<T: Serialize>(
    status: StatusCode,
    errno: &'static str,
    errmsg: &str,
    data: Option<T>,
) -> Response<Full<Bytes>> {
    let body = serde_json::to_vec(&Envelope {
        errno,
        errmsg,
        data,
    })
    .expect("envelope serialises");
    Response::builder()
        .status(status)
        .header("content-type", "application/json; charset=utf-8")
        .header("cache-control", "no-store")
        .body(Full::new(Bytes::from(body)))
        .expect("valid response")
}

fn not_found() -> Response<Full<Bytes>> {
    json::<()>(StatusCode::NOT_FOUND, "4002", "无数据", None)
}

/// The envelope the app answers with: the data, or the error with its
/// status (a fault's cause goes to stderr, as the app logs it).
fn reply<T: Serialize>(result: ApiResult<T>) -> Response<Full<Bytes>> {
    match result {
        Ok(data) => json(StatusCode::OK, "0", "成功", Some(data)),
        Err(err) => error(&err),
    }
}

fn error(err: &ApiError) -> Response<Full<Bytes>> {
    if let Some(cause) = err.cause() {
        eprintln!("native-baseline: {cause}");
    }
    let status = StatusCode::from_u16(err.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json::<()>(status, err.errno.code(), &err.message, None)
}

async fn handle(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.method() != Method::GET {
        return Ok(json::<()>(
            StatusCode::METHOD_NOT_ALLOWED,
            "4103",
            "参数错误",
            None,
        ));
    }
    let path = req.uri().path();
    let resp = if path == "/noop" {
        Response::new(Full::new(Bytes::new()))
    } else if path == "/api/v1.0/areas" {
        reply(with_db(detail::areas))
    } else if let Some(id) = path.strip_prefix("/api/v1.0/houses/") {
        match id.parse::<i64>() {
            Ok(id) if id > 0 => {
                let view = VIEW.get().expect("view set in main");
                reply(with_db(|db| detail::house_detail(db, id, view)))
            }
            _ => json::<()>(StatusCode::BAD_REQUEST, "4103", "参数错误", None),
        }
    } else {
        not_found()
    };
    Ok(resp)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.db.is_file(), "{} does not exist", args.db.display());
    DB_PATH.set(args.db.clone()).expect("set once");
    VIEW.set(View {
        image_base: args.image_base_url.clone(),
        utc_offset: args.utc_offset_secs,
    })
    .expect("set once");
    let listener = TcpListener::bind(args.listen).await?;
    println!("Listening on http://{}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        // Like the edge host: answer each request as soon as it is written.
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service_fn(handle))
                .await;
        });
    }
}
