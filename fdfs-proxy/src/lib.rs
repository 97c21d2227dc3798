//! `fdfs-proxy`: an HTTP sidecar that stores files in FastDFS for the iHome
//! app's Spin components (which cannot open raw TCP sockets), or, without a
//! tracker, in an embedded local-disk store with FastDFS-shaped ids.
//!
//! # HTTP API
//!
//! | request | success | errors |
//! |---|---|---|
//! | `POST /files[?ext=jpg]`, raw body or `multipart/form-data` | 200 `{"file_id":"group1/M00/00/00/…jpg","size":N}` | 400, 413, 502, 503, 507 |
//! | `GET /files/<file_id>` (`Range`, `If-None-Match`, `If-Range`) | 200 / 206 / 304, streamed bytes | 400, 404, 416, 502, 503 |
//! | `HEAD /files/<file_id>` | as GET, no body | as GET |
//! | `DELETE /files/<file_id>` | 204 | 400, 404, 502, 503 |
//! | `POST /files?token=<token>` (as above) | 200, the token → file id record on disk first | also 409: the token was used or abandoned |
//! | `POST /tokens/<token>/abandon` | 204: the token's file deleted, the token refused from then on | 400, 500, 502, 503 |
//! | `DELETE /tokens/<token>` | 204: the record forgotten | 400, 404, 500 |
//! | `GET /health` | 200 `{"status":"ok","backend":"local"\|"fastdfs",…}` | 503 same shape |
//!
//! Every error body is `{"error":"…"}`.
//!
//! # Layout
//!
//! Layered like mini-redis, bottom to top:
//!
//! * [`proto`]: the FastDFS wire format, pure bytes in and out: the 10-byte
//!   [`proto::header`], field encodings ([`proto::field`]), status codes
//!   ([`proto::errno`]) and one module per command under [`proto::cmd`].
//! * [`file_id`] and [`name`]: the file-id grammar (what may reach a server
//!   or the disk) and FastDFS's file-name encoding (base64 of ip, time, size,
//!   crc32).
//! * [`client`]: the I/O: connections with per-call timeouts
//!   ([`client::conn`]), a per-address pool ([`client::pool`]), tracker
//!   failover and one method per operation ([`client::FdfsClient`]).
//! * [`store`]: the back ends behind one interface: FastDFS
//!   ([`store::fastdfs`]) and the local disk ([`store::local`]).
//! * [`tokens`]: durable upload-token records, so a client that crashed
//!   after an upload can still find and delete its file.
//! * [`body`]: size-limited byte streams between HTTP and the stores.
//! * [`http`]: the hyper server, one dispatcher, one module per route.
//! * [`config`]: flags and their validation; `main.rs` wires it together.

pub mod body;
pub mod client;
pub mod config;
pub mod file_id;
pub mod http;
pub mod name;
pub mod proto;
pub mod store;
pub mod telemetry;
pub mod tokens;

use std::io;
use std::sync::Arc;

use client::{FdfsClient, PoolConfig};
use config::{Config, DEFAULT_LOCAL_GROUP, POOL_MAX_IDLE_TIME};
use file_id::GroupName;
use store::{FastdfsStore, LocalStore, Store};

/// Builds the back end the configuration asks for (creating directories,
/// cleaning interrupted uploads). Fails before anything is served.
pub fn open_store(cfg: &Config) -> io::Result<Store> {
    if cfg.trackers.is_empty() {
        let group = match &cfg.group {
            Some(g) => g.clone(),
            None => GroupName::parse(DEFAULT_LOCAL_GROUP).expect("valid default group"),
        };
        Ok(Store::Local(LocalStore::open(&cfg.state_dir, group)?))
    } else {
        let pool = PoolConfig {
            connect_timeout: cfg.connect_timeout,
            io_timeout: cfg.io_timeout,
            max_idle_per_addr: cfg.pool_size,
            max_idle_time: POOL_MAX_IDLE_TIME,
        };
        let client = FdfsClient::new(cfg.trackers.clone(), pool);
        Ok(Store::Fastdfs(FastdfsStore::open(
            client,
            cfg.group.clone(),
            &cfg.state_dir,
        )?))
    }
}

/// The shared application state for [`http::serve`]; opens the token
/// records under the state directory.
pub fn app(cfg: &Config, store: Store) -> io::Result<Arc<http::App>> {
    Ok(Arc::new(http::App {
        store,
        tokens: tokens::Tokens::open(&cfg.state_dir)?,
        max_file_size: cfg.max_file_size,
        answer_timeout: cfg.answer_timeout,
    }))
}
