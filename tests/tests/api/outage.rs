//! Outages as clients and operators see them (issue 22, item 5): a
//! PostgreSQL killed under write load is 503 with errno 4001 to every
//! request it touches, never a 500, and loses nothing it acknowledged; and
//! the log of many requests failing at once is still one whole line per
//! failure.
//!
//! # Layout
//! - [`well_formed`]: what every line of an app's log must look like.
//! - the log test: concurrent requests that each log a 4500, every line
//!   parsed (any backend, under the host of the run);
//! - the kill test: two instances on one PostgreSQL + Redis, bookings
//!   through both while PostgreSQL is SIGKILLed twice and restarted.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use ihome_tests::servers::{Postgres, Redis};
use ihome_tests::{
    AppOptions, Backend, TestApp, TestUser, date_from_today as d, json, spawn_app_with, wait_until,
};
use rand::Rng;
use serde_json::Value;

use crate::houses::{form_with, publish};
use crate::orders::register_many;

/// How the components start the lines they log: `http::serve`'s
/// `<errno> (<status>): <cause>` and the write transaction's failed
/// rollback. A line holding one of these holds it once, at its start; a
/// line where it shows up anywhere else is pieces of lines run together.
const LINE_STARTS: &[&str] = &["4001 (", "4301 (", "4500 (", "rollback failed: "];

/// The lines of `log` that are not whole: a component's line start found
/// twice or after the start of a line.
fn broken_lines(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|line| {
            LINE_STARTS.iter().any(|start| {
                let found = line.matches(start).count();
                found > 1 || (found == 1 && !line.starts_with(start))
            })
        })
        .collect()
}

/// Asserts that every line of `app`'s log is whole ([`broken_lines`]).
#[track_caller]
fn well_formed(app: &TestApp) {
    let log = app.log();
    let broken = broken_lines(&log);
    assert!(
        broken.is_empty(),
        "{} log lines run together, e.g.:\n{}",
        broken.len(),
        broken
            .iter()
            .take(10)
            .copied()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn broken_lines_are_found() {
    assert!(broken_lines("4001 (503): database unavailable: x\nServing http://x\n").is_empty());
    assert_eq!(
        broken_lines("4001 (4001 (503): 503): database unavailable: x\n"),
        ["4001 (4001 (503): 503): database unavailable: x"]
    );
    assert_eq!(
        broken_lines("rollback failed: rollback failed: 40014001\n"),
        ["rollback failed: rollback failed: 40014001"]
    );
    assert_eq!(broken_lines("x4500 (500): y\n"), ["x4500 (500): y"]);
}

/// Requests in flight at once in the log test: more than one host runs
/// at a time on two cores, so the writes of their log lines meet.
const LOGGING_PARALLELISM: usize = 32;
/// Requests each of them sends.
const LOGGING_REQUESTS_EACH: usize = 12;

/// A malformed `utc_offset` makes every search a 4500 whose cause is
/// logged: hundreds of lines written by many instances at once, each of
/// which must reach the host's output (echoed to its stderr, which the
/// harness reads) and the component's log file whole.
#[test]
fn log_lines_of_many_concurrent_failures_stay_whole() {
    let app = spawn_app_with(AppOptions {
        env: vec![("SPIN_VARIABLE_UTC_OFFSET".into(), "+25:00".into())],
        ..Default::default()
    });
    let app = std::sync::Arc::new(app);
    let runner = app.clone();
    let answers = ihome_tests::concurrently(LOGGING_PARALLELISM, move |_| {
        let client = runner.client();
        (0..LOGGING_REQUESTS_EACH)
            .map(|_| {
                let resp = client.get(&runner.api("/houses?aid=1"));
                (resp.status, resp.errno().to_owned())
            })
            .collect::<Vec<_>>()
    });
    let sent = LOGGING_PARALLELISM * LOGGING_REQUESTS_EACH;
    for (status, errno) in answers.iter().flatten() {
        assert_eq!((*status, errno.as_str()), (500, "4500"));
    }
    let expected = "4500 (500): Spin variable utc_offset = \"+25:00\" is malformed: ";
    let logged = |log: &str| log.lines().filter(|l| l.starts_with(expected)).count();
    // Every line arrives (hosts pass output on as it comes), each whole.
    assert!(
        wait_until(Duration::from_secs(10), || logged(&app.log()) >= sent),
        "{} of {sent} lines logged whole:\n{}",
        logged(&app.log()),
        app.log()
    );
    well_formed(&app);
    let log = app.log();
    assert_eq!(logged(&log), sent);
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("utc_offset")).collect();
    assert_eq!(lines.len(), sent, "lines naming the variable: {lines:#?}");
    assert!(lines.iter().all(|l| *l == lines[0]), "{lines:#?}");
    // The components' log files (`<state dir>/logs/houses_stderr.txt`, one
    // per instance) hold the same lines, whole too.
    let mut in_files = 0;
    for dir in std::iter::once(app.state_dir.path().to_path_buf()).chain(
        (1..ihome_tests::SERVER_INSTANCES)
            .map(|n| app.state_dir.path().join(format!("instance-{n}"))),
    ) {
        let Ok(text) = std::fs::read_to_string(dir.join("logs/houses_stderr.txt")) else {
            continue;
        };
        for line in text.lines() {
            assert_eq!(line, lines[0], "in {}", dir.display());
            in_files += 1;
        }
    }
    assert_eq!(in_files, sent);
}

/// Guests booking at once, each through both instances in turn.
const GUESTS: usize = 6;
/// Houses they book: enough nights that bookings keep being acknowledged
/// for the whole test, few enough that many collide.
const HOUSES: usize = 8;
/// Stays start within this many days (inside the 365-day horizon).
const BOOKING_WINDOW_DAYS: i64 = 300;
/// PostgreSQL is killed this many times.
const KILLS: usize = 2;
/// Load while PostgreSQL is up, before each kill and after the last restart.
const LOAD_WHILE_UP: Duration = Duration::from_secs(3);
/// How long PostgreSQL stays dead after the first 503 was seen.
const DOWN_FOR: Duration = Duration::from_secs(1);
/// How long a restarted PostgreSQL may take to serve a booking again
/// (crash recovery, then the hosts' pools reconnecting).
const RECOVERY: Duration = Duration::from_secs(30);
/// The longest one request may take: no answer in this time counts as a
/// failure (a request must not hang on a dead server).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(20);

/// A booking the app answered with errno 0.
struct Acknowledged {
    order_id: i64,
    house_id: i64,
    start: String,
    end: String,
    nights: i64,
}

/// One answer of the load: what was asked, its status and errno (status 0
/// and the transport error when there was no answer).
struct Answer {
    what: &'static str,
    status: u16,
    errno: String,
}

/// Whether `answer` is one the app may give during an outage: done, a
/// conflict (a night taken, the pending cap), or the database unavailable.
fn acceptable(answer: &Answer) -> bool {
    matches!(
        (answer.what, answer.status, answer.errno.as_str()),
        (_, 200, "0") | ("book", 409, "4004") | (_, 503, "4001")
    )
}

/// Sends one request and reads the envelope's errno, without panicking on
/// a transport error (which is recorded as status 0).
fn send(what: &'static str, req: reqwest::blocking::RequestBuilder) -> (Answer, Value) {
    match req.timeout(ANSWER_TIMEOUT).send() {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let body: Value = resp.json().unwrap_or(Value::Null);
            let errno = body["errno"].as_str().unwrap_or("").to_owned();
            (
                Answer {
                    what,
                    status,
                    errno,
                },
                body,
            )
        }
        Err(e) => (
            Answer {
                what,
                status: 0,
                errno: format!("no answer: {e}"),
            },
            Value::Null,
        ),
    }
}

/// What the load threads share.
struct Load<'a> {
    app: &'a TestApp,
    landlord: &'a TestUser,
    houses: &'a [i64],
    done: AtomicBool,
    acknowledged: AtomicUsize,
    unavailable: AtomicUsize,
    answers: Mutex<Vec<Answer>>,
}

impl Load<'_> {
    /// One guest's loop: book a random stay; when acknowledged, have the
    /// landlord accept it (so the guest stays under the pending-order cap
    /// and the nights stay held by an accepted order).
    fn run(&self, guest: &TestUser) -> Vec<Acknowledged> {
        let mut rng = rand::thread_rng();
        let mut mine = Vec::new();
        while !self.done.load(Ordering::SeqCst) {
            let house_id = self.houses[rng.gen_range(0..self.houses.len())];
            let first = rng.gen_range(1..BOOKING_WINDOW_DAYS);
            let nights = rng.gen_range(1..=3);
            let (start, end) = (d(first), d(first + nights));
            let (answer, body) = send(
                "book",
                guest
                    .client
                    .inner
                    .post(self.app.api("/orders"))
                    .json(&json!({"house_id": house_id, "start_date": start, "end_date": end})),
            );
            let order_id = body["data"]["order_id"].as_i64();
            self.record(answer);
            let Some(order_id) = order_id else { continue };
            self.acknowledged.fetch_add(1, Ordering::SeqCst);
            mine.push(Acknowledged {
                order_id,
                house_id,
                start,
                end,
                nights,
            });
            let (answer, _) = send(
                "accept",
                self.landlord
                    .client
                    .inner
                    .put(self.app.api(&format!("/orders/{order_id}/status")))
                    .json(&json!({"action": "accept"})),
            );
            self.record(answer);
        }
        mine
    }

    fn record(&self, answer: Answer) {
        if answer.status == 503 {
            self.unavailable.fetch_add(1, Ordering::SeqCst);
        }
        self.answers.lock().unwrap().push(answer);
    }
}

/// Two instances on one PostgreSQL and one Redis; guests book through both
/// while PostgreSQL is killed (SIGKILL to the postmaster and every backend)
/// and restarted, twice. Every answer is 200, a 409 conflict or 503 with
/// 4001; every acknowledged booking is in the database afterwards with its
/// nights held; both instances serve again by themselves; the log stays
/// one whole line per entry.
#[test]
fn postgres_killed_under_bookings_is_never_a_500_and_loses_nothing_acknowledged() {
    if Backend::from_env() == Backend::Servers {
        println!("skipped: the embedded run of the suite runs this on its own servers");
        return;
    }
    let Some(mut pg) = Postgres::start() else {
        return;
    };
    let Some(redis) = Redis::start() else { return };
    let app = spawn_app_with(AppOptions {
        instances: 2,
        ..AppOptions::on_servers(&pg, &redis)
    });
    let landlord = app.register_verified();
    let houses: Vec<i64> = (0..HOUSES)
        .map(|i| {
            publish(
                &app,
                &landlord,
                &form_with(json!({"title": format!("停电测试 {i}")})),
            )
        })
        .collect();
    let guests = register_many(&app, GUESTS);

    let load = Load {
        app: &app,
        landlord: &landlord,
        houses: &houses,
        done: AtomicBool::new(false),
        acknowledged: AtomicUsize::new(0),
        unavailable: AtomicUsize::new(0),
        answers: Mutex::new(Vec::new()),
    };
    let acknowledged: Vec<Acknowledged> = thread::scope(|s| {
        let workers: Vec<_> = guests
            .iter()
            .map(|guest| {
                let load = &load;
                s.spawn(move || load.run(guest))
            })
            .collect();
        for kill in 0..KILLS {
            thread::sleep(LOAD_WHILE_UP);
            pg.kill();
            let seen = load.unavailable.load(Ordering::SeqCst);
            assert!(
                wait_until(RECOVERY, || load.unavailable.load(Ordering::SeqCst) > seen),
                "kill {kill}: no request was answered 503 while PostgreSQL was dead"
            );
            thread::sleep(DOWN_FOR);
            pg.restart();
            let before = load.acknowledged.load(Ordering::SeqCst);
            assert!(
                wait_until(RECOVERY, || load.acknowledged.load(Ordering::SeqCst)
                    > before + 2),
                "kill {kill}: no booking acknowledged within {RECOVERY:?} of the restart:\n{}",
                app.log()
            );
        }
        thread::sleep(LOAD_WHILE_UP);
        load.done.store(true, Ordering::SeqCst);
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });

    let answers = load.answers.into_inner().unwrap();
    let wrong: Vec<String> = answers
        .iter()
        .filter(|a| !acceptable(a))
        .map(|a| format!("{} -> HTTP {} errno {}", a.what, a.status, a.errno))
        .collect();
    assert!(
        wrong.is_empty(),
        "{} of {} answers were neither done, a conflict nor 503/4001, e.g.:\n{}\nlog:\n{}",
        wrong.len(),
        answers.len(),
        wrong
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n"),
        app.log()
    );
    let unavailable = answers.iter().filter(|a| a.status == 503).count();
    println!(
        "{} answers: {} bookings acknowledged, {unavailable} answered 503/4001",
        answers.len(),
        acknowledged.len()
    );

    // Every acknowledged booking is there, with its dates and its nights.
    let mut db = app.db();
    let active = ["WAIT_ACCEPT", "WAIT_COMMENT"];
    for ack in &acknowledged {
        let row = db
            .opt_row(
                "SELECT house_id, start_date, end_date, status,
                        (SELECT count(*) FROM house_nights n WHERE n.order_id = o.id) AS nights
                   FROM orders o WHERE id = ?1",
                &[ack.order_id.into()],
            )
            .unwrap_or_else(|| panic!("acknowledged order {} is gone", ack.order_id));
        assert_eq!(
            (
                row.int("house_id"),
                row.text("start_date"),
                row.text("end_date"),
                row.int("nights")
            ),
            (ack.house_id, ack.start.clone(), ack.end.clone(), ack.nights),
            "order {}",
            ack.order_id
        );
        let status = row.text("status");
        assert!(
            active.contains(&status.as_str()),
            "order {}: {status}",
            ack.order_id
        );
    }
    // Both instances serve by themselves, and the log is whole lines.
    for _ in 0..2 {
        let areas = app.client().get(&app.api("/areas"));
        assert_eq!(areas.errno(), "0", "{}", areas.text());
    }
    assert!(!app.log().contains("panicked"), "{}", app.log());
    well_formed(&app);
}
