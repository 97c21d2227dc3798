//! native-baseline: the same read work as the wasm components, done by a
//! minimal native server, so the benchmark can report edge/native ratios
//! measured in the same run on the same seeded database file.
//!
//! Routes (everything else is 404):
//! - `GET /api/v1.0/areas`: the areas envelope, read from SQLite per request;
//! - `GET /api/v1.0/houses/:id`: the house-detail envelope with the same
//!   joins as the house-detail component (house + owner, images, facilities,
//!   the 10 newest comments, the booked future ranges), no cache;
//! - `GET /noop`: 200 with no body, the loopback floor for the host's
//!   per-request overhead.
//!
//! hyper 1 on tokio's multi-threaded runtime; each worker thread keeps its
//! own SQLite connection (queries take well under a millisecond, so running
//! them inline on the worker is what a minimal native service would do).

use std::cell::RefCell;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
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
use ihome_bench::detail::{self, DetailConfig};
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
static CONFIG: OnceLock<DetailConfig> = OnceLock::new();

thread_local! {
    static CONN: RefCell<Option<Connection>> = const { RefCell::new(None) };
}

fn with_conn<T>(f: impl FnOnce(&Connection) -> anyhow::Result<T>) -> anyhow::Result<T> {
    CONN.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            let path = DB_PATH.get().expect("db path set in main");
            let conn = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .with_context(|| format!("opening {}", path.display()))?;
            conn.busy_timeout(BUSY_TIMEOUT)?;
            conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
            *slot = Some(conn);
        }
        f(slot.as_ref().expect("just opened"))
    })
}

#[derive(Serialize)]
struct Envelope<T: Serialize> {
    errno: &'static str,
    errmsg: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<T>,
}

fn json<T: Serialize>(
    status: StatusCode,
    errno: &'static str,
    errmsg: &'static str,
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

fn ok<T: Serialize>(data: T) -> Response<Full<Bytes>> {
    json(StatusCode::OK, "0", "成功", Some(data))
}

fn not_found() -> Response<Full<Bytes>> {
    json::<()>(StatusCode::NOT_FOUND, "4002", "无数据", None)
}

fn internal(err: anyhow::Error) -> Response<Full<Bytes>> {
    eprintln!("native-baseline: {err:#}");
    json::<()>(
        StatusCode::INTERNAL_SERVER_ERROR,
        "4001",
        "数据库错误",
        None,
    )
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
        match with_conn(detail::areas) {
            Ok(areas) => ok(areas),
            Err(e) => internal(e),
        }
    } else if let Some(id) = path.strip_prefix("/api/v1.0/houses/") {
        match id.parse::<i64>() {
            Ok(id) if id > 0 => {
                let config = CONFIG.get().expect("config set in main");
                match with_conn(|c| detail::house_detail(c, id, config)) {
                    Ok(Some(house)) => ok(detail::DetailPage { user_id: -1, house }),
                    Ok(None) => not_found(),
                    Err(e) => internal(e),
                }
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
    CONFIG
        .set(DetailConfig {
            image_base: args.image_base_url.clone(),
            utc_offset_secs: args.utc_offset_secs,
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
