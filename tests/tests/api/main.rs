//! All API tests in one integration binary (one link, one process; tests run
//! in parallel, each against its own app from `spawn_app()`).
//!
//! Each module owns one area of the API.

mod accounts;
mod config;
mod crash;
mod foundation;
mod host;
mod host_features;
mod houses;
mod image_clean;
mod images;
mod limits;
mod orders;
mod outage;
mod search;
mod servers;
mod slow_clients;
mod telemetry;
mod upgrade;
mod upload_guard;
