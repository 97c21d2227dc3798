//! All API tests in one integration binary (one link, one process; tests run
//! in parallel, each against its own app from `spawn_app()`).
//!
//! Each module owns one area of the API.

mod accounts;
mod booking_rules;
mod classic;
mod config;
mod conversations;
mod crash;
mod foundation;
mod host;
mod houses;
mod image_clean;
mod images;
mod limits;
mod listings;
mod notifications;
mod orders;
mod outage;
mod payments;
mod search;
mod servers;
mod slow_clients;
mod telemetry;
mod upgrade;
mod upload_guard;
