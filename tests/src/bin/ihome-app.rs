//! Runs the app the way the end-to-end tests do (`spawn_app()`: the release
//! edge-host on a free port, a fresh state dir, a loopback SMS gateway and
//! fdfs-proxy) for tools outside Rust, such as tests/schemathesis/run.sh.
//!
//! It registers a real-name verified user through the API (captcha code from
//! the KV file, SMS code from the loopback gateway), prints one JSON line
//! `{"base": "http://127.0.0.1:PORT", "mobile": "…", "password": "…", "state_dir": "…"}`
//! (the tool logs in with `POST /api/v1.0/sessions` itself) and keeps
//! everything running until its standard input closes.

use std::io::Read;

use ihome_tests::{AppOptions, spawn_app_with};
use serde_json::json;

fn main() {
    let app = spawn_app_with(AppOptions::default());
    let user = app.register_verified();
    println!(
        "{}",
        json!({
            "base": app.base,
            "mobile": user.mobile,
            "password": user.password,
            "state_dir": app.state_dir.path(),
        })
    );
    // Until the caller closes our stdin (or dies): then the app is dropped,
    // which stops the host, the SMS gateway and fdfs-proxy.
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
}
