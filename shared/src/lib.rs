//! What every iHome function component shares.
//!
//! Each HTTP route of the app is its own wasm component (see `spin.toml`); the
//! components are deliberately thin: they parse the request into domain types,
//! call into this crate for storage and sessions, and return an envelope.
//!
//! # Layout
//! - [`errno`]: the error table of the API (errno + HTTP status) and [`ApiError`],
//!   the one error type every handler returns.
//! - [`http`]: the JSON envelope, request helpers (path params from Spin's
//!   `spin-path-match-*` headers, query strings, bounded JSON bodies, cookies),
//!   and [`http::serve`], the wrapper that turns a handler's `Result` into a response.
//! - [`de`]: serde helpers for "numbers as JSON numbers or decimal strings".
//! - [`domain`]: newtypes parsed once at the edge (`Mobile`, `Password`, ...).
//! - [`clock`]: wall clock, the app's time zone, calendar dates.
//! - [`store`]: the SQL and key-value traits operations run over, their
//!   backends (Spin SQLite and key-value; rusqlite and memory, feature
//!   `native`), and the versioned migrations.
//! - [`session`]: cookie sessions with a sliding 24 h expiry.
//! - [`cache`]: cache keys and their invalidation.
//! - [`config`]: typed configuration: the app's Spin variables, their
//!   defaults and parsers, read once per request.
//! - [`images`]: image URLs from stored file ids.
//! - [`houses`]: the publish form, `HouseItem` lists, the search query.
//! - [`orders`]: booking, the order state machine, comments, `OrderItem` lists.
//! - [`upload`]: bounded upload bodies, multipart forms, image type sniffing.
//! - [`image_check`]: uploads decoded whole (JPEG, PNG, WebP) with bounded dimensions.
//! - [`image_store`]: the fdfs-proxy client, the FastDFS file id grammar and
//!   the queue of files to delete.
//! - [`photos`]: avatars and house photos: upload, record, clean up.
//! - [`accounts`]: registering, logging in, the profile, renaming, real-name
//!   verification (one operation each), password hashing.
//! - [`captcha`], [`sms`]: single-use image and SMS codes; sending SMS codes.
//! - [`client`]: the client address per-client limits are keyed by.
//! - [`ratelimit`]: per-client, per-mobile and app-wide limits and lock-outs on
//!   the store's atomic counters (4201 + `Retry-After`).

pub mod accounts;
pub mod cache;
pub mod captcha;
pub mod client;
pub mod clock;
pub mod config;
pub mod de;
pub mod domain;
pub mod errno;
pub mod houses;
pub mod http;
pub mod image_check;
pub mod image_store;
pub mod images;
pub mod nights;
pub mod orders;
pub mod photos;
pub mod ratelimit;
pub mod session;
pub mod sms;
pub mod store;
pub mod upload;

pub use errno::{ApiError, ApiResult, Errno};
