//! Runs the app the way the end-to-end tests do (`spawn_app_with`: the
//! release edge-host, or real Spin with `IHOME_TEST_HOST=spin`, on a free
//! port, a fresh state dir, a loopback SMS gateway and fdfs-proxy) for tools
//! outside Rust: tests/schemathesis/run.sh and the browser suite
//! (tests/browser/lib/app.mjs). One harness starts the app for every suite.
//!
//! `ihome-app` registers a real-name verified user through the API (captcha
//! code from the KV store, SMS code from the loopback gateway) and prints one
//! JSON line
//! `{"base": "http://127.0.0.1:PORT", "mobile": "…", "password": "…", "state_dir": "…"}`
//! (the tool logs in with `POST /api/v1.0/sessions` itself).
//!
//! `ihome-app --serve [--env NAME=VALUE]…` registers nobody, adds each
//! `NAME=VALUE` to the host's environment (e.g. `SPIN_VARIABLE_LEGACY_CLIENTS=true`),
//! prints `{"base": …, "state_dir": …}` and then answers one JSON line per
//! command line on its standard input, as an operator could look them up:
//! - `captcha <uuid>` → `{"code": "ABCD"}` (`null` while there is none);
//! - `sms <mobile>` → `{"code": "123456"}`, the last code the gateway got
//!   (`null` before one arrived).
//!
//! `--payments` turns payments on against a localstripe of its own (the
//! harness's `Localstripe`), whose events go to the app's webhook; the JSON
//! line then adds `"stripe": "http://127.0.0.1:PORT"` (localstripe's origin,
//! which also serves the Stripe.js the pages load).
//!
//! Either way everything keeps running until standard input closes (or the
//! caller dies): then the app is dropped, which stops the host, the SMS
//! gateway and fdfs-proxy.

use std::io::{BufRead, Read, Write};

use ihome_tests::servers::Localstripe;
use ihome_tests::{AppOptions, TestApp, spawn_app_with};
use serde_json::{Value, json};

fn main() {
    let mut args = std::env::args().skip(1);
    let mut serve = false;
    let mut payments = false;
    let mut options = AppOptions::default();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--serve" => serve = true,
            "--payments" => payments = true,
            "--env" => {
                let pair = args.next().expect("--env needs NAME=VALUE");
                let (name, value) = pair.split_once('=').expect("--env needs NAME=VALUE");
                options.env.push((name.to_string(), value.to_string()));
            }
            other => panic!(
                "unknown argument {other:?} (expected --serve, --payments, --env NAME=VALUE)"
            ),
        }
    }
    let stripe =
        payments.then(|| Localstripe::start().expect("localstripe could not be installed"));
    if let Some(stripe) = &stripe {
        options = options.with_payments(stripe);
    }
    let app = spawn_app_with(options);
    if let Some(stripe) = &stripe {
        app.receive_stripe_events(stripe);
    }
    let stripe_origin = stripe.as_ref().map(Localstripe::origin);
    if !serve {
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
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        return;
    }
    println!(
        "{}",
        json!({ "base": app.base, "state_dir": app.state_dir.path(), "stripe": stripe_origin })
    );
    let mut out = std::io::stdout().lock();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let answer = answer(&app, line.trim());
        writeln!(out, "{answer}").and_then(|()| out.flush()).ok();
    }
}

/// The answer to one command line.
fn answer(app: &TestApp, command: &str) -> Value {
    match command.split_once(' ') {
        Some(("captcha", uuid)) => {
            let entry = app.kv_json(&format!("captcha:{uuid}"));
            json!({ "code": entry.and_then(|e| e["code"].as_str().map(str::to_string)) })
        }
        Some(("sms", mobile)) => {
            let code = app.sms.as_ref().and_then(|sms| sms.last_code(mobile));
            json!({ "code": code })
        }
        _ => {
            json!({ "error": format!("unknown command {command:?} (captcha <uuid>, sms <mobile>)") })
        }
    }
}
