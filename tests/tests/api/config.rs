//! End-to-end tests: typed configuration. A malformed Spin variable is a
//! 4500 on the routes that read it, with the variable and its value in the
//! log, never a silent fall-back to the default; routes that don't read it
//! are unaffected.

use ihome_tests::{AppOptions, TestApp, spawn_app_with};

fn app_with(variable: &str, value: &str) -> TestApp {
    spawn_app_with(AppOptions {
        env: vec![(
            format!("SPIN_VARIABLE_{}", variable.to_ascii_uppercase()),
            value.to_string(),
        )],
        ..Default::default()
    })
}

/// Whether the app logged the 4500 whose cause names `variable` = `value`.
#[track_caller]
fn assert_logged(app: &TestApp, variable: &str, value: &str) {
    let cause = format!("{variable} = {value:?}");
    assert!(
        app.logged_error("4500", &cause),
        "no 4500 naming {cause} in the log:\n{}",
        app.log()
    );
}

#[test]
fn a_malformed_utc_offset_is_a_logged_4500() {
    let app = app_with("utc_offset", "+25:00");
    // The search needs "today" in the app's zone.
    let search = app.client().get(&app.api("/houses?aid=1"));
    search.assert_error("4500", 500);
    assert!(
        !search.errmsg().contains("utc_offset"),
        "the cause is for the log, not the client: {}",
        search.errmsg()
    );
    assert_logged(&app, "utc_offset", "+25:00");
    // A route that doesn't read it is unaffected.
    let areas = app.client().get(&app.api("/areas"));
    assert_eq!(areas.errno(), "0", "{}", areas.text());
}

#[test]
fn a_malformed_legacy_clients_is_a_logged_4500_on_every_route() {
    // Every component reads the mode before anything else: a typo fails
    // loudly everywhere, never half the app in one mode and half in the other.
    let app = app_with("legacy_clients", "yes");
    for path in ["/areas", "/session", "/houses?aid=1"] {
        app.client().get(&app.api(path)).assert_error("4500", 500);
    }
    assert_logged(&app, "legacy_clients", "yes");
}
