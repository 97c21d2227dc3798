//! The typed core of iHome: every use case of the API is one operation here.
//!
//! Each HTTP route is its own wasm component (see `spin.toml`); a component
//! parses the request into domain types, calls ONE operation of this crate,
//! and renders its result. An operation owns its SQL, its parameters, its
//! row mapping (columns read by name), its cache keys and invalidation, and
//! its errors; no SQL string, column number or business rule leaves it.
//! Operations run over two small traits ([`store::Sql`], [`store::Kv`]), so
//! the same code runs in the components on Spin SQLite + Spin key-value (the
//! embedded default) or on PostgreSQL + Redis (when `database_url` and
//! `redis_url` are set: many instances sharing them), and on rusqlite + an
//! in-memory map in tests and the bench (feature `native`).
//!
//! ```text
//! fn book(req: &ApiRequest) -> ApiResult<Response> {          // functions/orders
//!     let kv = store::kv()?;
//!     let guest = session::require(&kv, req)?.user;             // parse …
//!     let booking = Booking::parse(&req.json()?, clock::today()?)?;
//!     let id = orders::book(&store::db()?, &kv, guest.user_id, &booking, clock::now())?;
//!     Ok(http::ok(json!({ "order_id": id })))                    // … render
//! }
//! ```
//!
//! # Layout
//! Edges and plumbing:
//! - [`http`]: the envelope, [`http::serve`] (a route's method table: 405
//!   with a truthful `Allow`, HEAD answered by the GET handler, errors
//!   rendered and their causes logged once), request helpers, capped bodies.
//! - [`errno`]: the errno table and [`ApiError`], the one error type.
//! - [`log`]: [`log_line!`], the one way a component writes a log line
//!   (whole, in one write, whatever runs beside it).
//! - [`config`]: the app's Spin variables, typed, read once per request.
//! - [`domain`], [`de`], [`clock`]: newtypes parsed once at the edge, serde
//!   helpers, calendar dates in the app's time zone.
//! - [`store`]: the [`store::Sql`] and [`store::Kv`] traits, their backends
//!   and the versioned migrations ([`store::migrate`]).
//! - [`cache`]: cached reads and the generation that invalidates them.
//! - [`session`], [`client`], [`ratelimit`]: who is asking, from where, and
//!   how often they may.
//!
//! Use cases, one module (or file) each:
//! - [`accounts`]: register, log in, profile, rename, real-name verification.
//! - [`captcha`], [`sms`]: single-use image and SMS codes.
//! - [`houses`]: areas, publish, edit, publish state, detail, search, the
//!   index carousel, a landlord's houses, blocked nights.
//! - [`nights`]: the one availability model behind booking, blocking, the
//!   calendar and date search.
//! - [`orders`]: book, accept/reject/cancel, comment with a rating, lists.
//! - [`photos`]: avatars and house photos (upload, delete, reorder) over the
//!   image store ([`images`]: formats, uploads, cleaning, the store, URLs).
//!
//! The use cases depend downwards only: [`orders`] uses [`houses`]'s view
//! and [`nights`]; [`houses`] uses [`nights`] (the booking horizon, when a
//! held night stops being held) and [`domain::CancelPolicy`], never
//! [`orders`]. What is left of a loop: [`nights::block`] expires a request
//! whose deadline passed through [`orders::expire::take_over`] (the order
//! row decides a race with a late accept), and [`orders`] and [`notify`]
//! use each other's event and outbox types.

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
pub mod images;
pub mod log;
pub mod messages;
pub mod nights;
pub mod notify;
pub mod orders;
pub mod outbound;
pub mod outbox;
pub mod payments;
pub mod photos;
pub mod ratelimit;
pub mod row_lock;
pub mod session;
pub mod sms;
pub mod store;

pub use errno::{ApiError, ApiResult, Errno};
