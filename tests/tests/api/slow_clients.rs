//! Slow and greedy clients (issue #22): one client stalling a thousand
//! requests must not take the app from everyone else. These are edge-host's
//! limits (`edge-host/src/limits.rs`): real Spin has none (README,
//! "Deploying": a proxy in front must provide them), so under real Spin the
//! tests say so and pass.
//!
//! The attacker talks raw HTTP/1.1 from 127.0.0.1; the innocent client is
//! another loopback address, 127.0.0.2, so the host sees two clients.

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use ihome_tests::{AppOptions, Host, TestApp, json, spawn_app_with, wait_until};

/// Requests the attacker stalls of each kind (JSON, upload): issue #22's
/// figure, the size of the instance pool.
const STALLED: usize = 1000;
/// `GET /areas` the other client makes while the attack holds.
const INNOCENT_REQUESTS: usize = 200;
/// The `Content-Length` the attacker promises for a JSON body: under the
/// app's 64 KiB JSON cap, so the guest waits for all of it.
const JSON_LENGTH: usize = 60_000;
/// The `Content-Length` promised for an upload: 5 MiB, under the 10 MiB cap.
const UPLOAD_LENGTH: usize = 5 * 1024 * 1024;
/// The short time limit (seconds) the timing tests give the host, so they
/// run in seconds rather than the defaults' tens.
const SHORT_LIMIT: &str = "1";
/// How long a test waits for the host to act on [`SHORT_LIMIT`]: generous,
/// so a loaded machine doesn't fail the test; the behaviour checked is
/// "cut", not how fast.
const CUT_WITHIN: Duration = Duration::from_secs(15);
/// A body idle timeout (seconds) longer than any test runs, for tests that
/// need stalled requests held.
const HOLD: &str = "300";

/// True (after saying why) when the host under test is real Spin.
fn spin_has_no_limits() -> bool {
    let spin = matches!(Host::from_env(), Host::Spin(_));
    if spin {
        eprintln!("skipped: real Spin has no per-client limits or time limits (README, Deploying)");
    }
    spin
}

fn app_with_host_args(args: &[&str]) -> TestApp {
    spawn_app_with(AppOptions {
        host_args: args.iter().map(|a| a.to_string()).collect(),
        ..AppOptions::default()
    })
}

fn addr(app: &TestApp) -> SocketAddr {
    app.base
        .trim_start_matches("http://")
        .parse()
        .expect("host:port")
}

/// A client at 127.0.0.2: another client as far as the host can tell.
fn other_client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .local_address("127.0.0.2".parse::<IpAddr>().unwrap())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// Request headers promising `length` bytes of body, then `part` of it.
fn stalled_request(
    app: &TestApp,
    path: &str,
    content_type: &str,
    cookie: &str,
    length: usize,
    part: &[u8],
) -> Vec<u8> {
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: {content_type}\r\n\
         Content-Length: {length}\r\n{cookie}\r\n",
        addr(app)
    )
    .into_bytes();
    req.extend_from_slice(part);
    req
}

/// Issue #22's request: a login promising 60,000 bytes, sending 11.
fn stalled_login(app: &TestApp) -> Vec<u8> {
    stalled_request(
        app,
        "/api/v1.0/sessions",
        "application/json",
        "",
        JSON_LENGTH,
        br#"{"mobile":"#,
    )
}

/// An avatar upload by a logged-in user (the session cookie line, ending in
/// CRLF) promising 5 MiB and sending the first part's headers.
fn stalled_upload(app: &TestApp, cookie: &str) -> Vec<u8> {
    stalled_request(
        app,
        "/api/v1.0/user/avatar",
        "multipart/form-data; boundary=XyZ",
        cookie,
        UPLOAD_LENGTH,
        b"--XyZ\r\nContent-Disposition: form-data; name=\"avatar\"; filename=\"a.jpg\"\r\n\
          Content-Type: image/jpeg\r\n\r\n\xff\xd8\xff\xe0",
    )
}

/// Logs a new user in and returns their `Cookie:` header line.
fn session_cookie(app: &TestApp) -> String {
    let user = app.register();
    let login = reqwest::blocking::Client::new()
        .post(app.api("/sessions"))
        .json(&json!({"mobile": user.mobile, "password": user.password}))
        .send()
        .unwrap();
    assert!(login.status().is_success(), "login: {}", login.status());
    let cookies: Vec<String> = login
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .map(str::to_string)
        .collect();
    assert!(!cookies.is_empty(), "no session cookie");
    format!("Cookie: {}\r\n", cookies.join("; "))
}

/// Opens a connection and sends `bytes`; `None` if the host refused or
/// closed it before that.
fn send(app: &TestApp, bytes: &[u8]) -> Option<TcpStream> {
    let mut stream = TcpStream::connect_timeout(&addr(app), Duration::from_secs(5)).ok()?;
    stream.write_all(bytes).ok()?;
    Some(stream)
}

/// What became of a request the client sent.
#[derive(Debug, PartialEq)]
enum Outcome {
    /// An answer: its status line and headers, lower-cased.
    Answered { status: u16, head: String },
    /// The connection ended without an answer.
    Closed,
    /// Nothing yet (the request is still held).
    Pending,
}

/// Reads what the host said on `stream` within `wait` (zero: only what has
/// arrived already).
fn outcome(stream: &mut TcpStream, wait: Duration) -> Outcome {
    let deadline = Instant::now() + wait;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            stream.set_nonblocking(true).unwrap();
        } else {
            stream.set_read_timeout(Some(left)).unwrap();
        }
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                got.extend_from_slice(&buf[..n]);
                if got.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if got.is_empty() {
                    return Outcome::Pending;
                }
                break;
            }
            Err(_) => break,
        }
    }
    stream.set_nonblocking(false).unwrap();
    if got.is_empty() {
        return Outcome::Closed;
    }
    let head = String::from_utf8_lossy(&got).to_ascii_lowercase();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {head:?}"));
    Outcome::Answered { status, head }
}

/// Whether the host has closed `stream`, waiting up to `wait` (a pending
/// response is read and skipped).
fn closed_within(stream: &mut TcpStream, wait: Duration) -> bool {
    let deadline = Instant::now() + wait;
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false;
            }
            Err(_) => return true,
        }
    }
}

#[track_caller]
fn assert_busy(outcome: &Outcome) {
    match outcome {
        Outcome::Answered { status: 503, head } => {
            assert!(head.contains("\r\nretry-after: "), "{head}");
            assert!(head.contains("\r\nconnection: close"), "{head}");
        }
        other => panic!("expected 503 + Retry-After, got {other:?}"),
    }
}

/// Issue #22 whole: 1,000 stalled logins and 1,000 stalled uploads from one
/// client while another keeps asking for the areas. Every answer the other
/// client gets is 200; the attacker holds no more than its caps.
#[test]
fn a_thousand_stalled_requests_from_one_client_leave_the_others_served() {
    if spin_has_no_limits() {
        return;
    }
    // The default caps, and a body timeout longer than the test, so the
    // attack holds all through it.
    let app = app_with_host_args(&["--body-idle-timeout", HOLD]);
    let cookie = session_cookie(&app);
    let areas = app.api("/areas");
    let innocent = other_client();
    let check = |phase: &str| {
        for i in 0..INNOCENT_REQUESTS {
            let resp = innocent
                .get(&areas)
                .send()
                .unwrap_or_else(|e| panic!("{phase}: request {i}: {e}"));
            let status = resp.status().as_u16();
            assert!(status < 500, "{phase}: request {i} got {status}");
            assert_eq!(status, 200, "{phase}: request {i}");
        }
    };
    check("before the attack");

    let (logins, uploads) = (stalled_login(&app), stalled_upload(&app, &cookie));
    let attack: Vec<TcpStream> = thread::scope(|s| {
        let senders: Vec<_> = [&logins, &uploads]
            .into_iter()
            .map(|req| {
                s.spawn(|| {
                    (0..STALLED)
                        .filter_map(|_| send(&app, req))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        // The other client asks all through the attack.
        check("during the attack");
        senders
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    check("with the attack in place");

    let mut attack = attack;
    let (mut held, mut closed, mut busy) = (0, 0, 0);
    for stream in &mut attack {
        match outcome(stream, Duration::ZERO) {
            Outcome::Pending => held += 1,
            Outcome::Closed => closed += 1,
            answered => {
                assert_busy(&answered);
                busy += 1;
            }
        }
    }
    eprintln!("attack: {held} held, {busy} answered 503, {closed} closed");
    // One client holds at most its connection cap (256 by default); the
    // rest were closed at accept or refused for load.
    assert!(held <= 256, "{held} stalled connections held");
    assert!(held > 0, "the attack held nothing: it tested nothing");
    assert!(busy > 0, "no request hit the in-flight cap");
    assert!(closed > 0, "no connection hit the connection cap");
    drop(attack);
    check("after the attack");
}

/// A body that stops arriving gets 408 with `Connection: close` once the
/// body idle timeout passes, and the slot it held is free at once: with a
/// cap of one request per client, the next request is served.
#[test]
fn a_stalled_body_is_answered_408_and_its_slot_freed() {
    if spin_has_no_limits() {
        return;
    }
    let app = app_with_host_args(&[
        "--body-idle-timeout",
        SHORT_LIMIT,
        "--max-requests-per-client",
        "1",
    ]);
    let cookie = session_cookie(&app);
    for (what, req) in [
        ("login", stalled_login(&app)),
        ("upload", stalled_upload(&app, &cookie)),
    ] {
        let started = Instant::now();
        let mut stream = send(&app, &req).expect("connected");
        match outcome(&mut stream, CUT_WITHIN) {
            Outcome::Answered { status: 408, head } => {
                assert!(head.contains("\r\nconnection: close"), "{what}: {head}")
            }
            other => panic!("{what}: expected 408, got {other:?}"),
        }
        assert!(
            started.elapsed() >= Duration::from_secs(1),
            "{what}: cut before the idle timeout"
        );
        assert!(closed_within(&mut stream, CUT_WITHIN), "{what}: left open");
        let next = app.client().get(&app.api("/areas"));
        assert_eq!(next.status, 200, "{what}: slot not freed: {}", next.text());
    }
}

/// A body that keeps trickling in is cut at the total deadline.
#[test]
fn a_trickling_body_is_cut_at_the_body_deadline() {
    if spin_has_no_limits() {
        return;
    }
    let app = app_with_host_args(&["--body-idle-timeout", "5", "--body-timeout", "2"]);
    let mut stream = send(&app, &stalled_login(&app)).expect("connected");
    let started = Instant::now();
    let answer = loop {
        // A byte every 300 ms: never idle, never done.
        thread::sleep(Duration::from_millis(300));
        let _ = stream.write_all(b" ");
        match outcome(&mut stream, Duration::ZERO) {
            Outcome::Pending if started.elapsed() < CUT_WITHIN => continue,
            other => break other,
        }
    };
    assert!(
        matches!(answer, Outcome::Answered { status: 408, .. }),
        "expected 408, got {answer:?}"
    );
}

/// Headers sent a byte at a time are cut at the header timeout, and so is
/// a connection that sends nothing at all.
#[test]
fn slow_or_missing_headers_are_cut() {
    if spin_has_no_limits() {
        return;
    }
    let app = app_with_host_args(&["--header-timeout", SHORT_LIMIT]);
    let mut silent = send(&app, b"").expect("connected");
    let mut slow = send(&app, b"GET /api/v1.0/areas HTTP/1.1\r\n").expect("connected");
    let started = Instant::now();
    let mut cut = false;
    while started.elapsed() < CUT_WITHIN {
        thread::sleep(Duration::from_millis(200));
        if slow.write_all(b"X").is_err() || closed_within(&mut slow, Duration::ZERO) {
            cut = true;
            break;
        }
    }
    assert!(cut, "slow headers were never cut");
    assert!(
        closed_within(&mut silent, CUT_WITHIN),
        "silent connection left open"
    );
}

/// A keep-alive connection left idle after its request is closed.
#[test]
fn an_idle_keep_alive_connection_is_closed() {
    if spin_has_no_limits() {
        return;
    }
    let app = app_with_host_args(&["--header-timeout", SHORT_LIMIT]);
    let get = format!(
        "GET /api/v1.0/areas HTTP/1.1\r\nHost: {}\r\n\r\n",
        addr(&app)
    );
    let mut stream = send(&app, get.as_bytes()).expect("connected");
    match outcome(&mut stream, CUT_WITHIN) {
        Outcome::Answered { status: 200, head } => {
            assert!(!head.contains("connection: close"), "{head}")
        }
        other => panic!("expected 200, got {other:?}"),
    }
    assert!(
        closed_within(&mut stream, CUT_WITHIN),
        "idle connection left open"
    );
}

/// Over the per-client in-flight cap: 503 + Retry-After; over the
/// connection cap: closed at accept. Another client is served throughout.
#[test]
fn per_client_caps_answer_503_or_close_and_spare_other_clients() {
    if spin_has_no_limits() {
        return;
    }
    let app = app_with_host_args(&[
        "--body-idle-timeout",
        HOLD,
        "--max-requests-per-client",
        "2",
        "--max-connections-per-client",
        "3",
    ]);
    let held: Vec<TcpStream> = (0..2)
        .map(|_| send(&app, &stalled_login(&app)).expect("connected"))
        .collect();
    // Wait until both are in flight (each answers nothing while held).
    thread::sleep(Duration::from_millis(500));
    let get = format!(
        "GET /api/v1.0/areas HTTP/1.1\r\nHost: {}\r\n\r\n",
        addr(&app)
    );
    let mut third = send(&app, get.as_bytes()).expect("connected");
    assert_busy(&outcome(&mut third, CUT_WITHIN));
    assert!(closed_within(&mut third, CUT_WITHIN), "503 left open");
    let mut held = held;
    held.push(send(&app, b"").expect("connected"));
    // Three connections open: a fourth is closed at once, unanswered.
    let mut fourth = TcpStream::connect(addr(&app)).expect("connected");
    let _ = fourth.write_all(get.as_bytes());
    assert!(
        closed_within(&mut fourth, CUT_WITHIN),
        "fourth connection kept"
    );
    let other = other_client().get(app.api("/areas")).send().unwrap();
    assert_eq!(other.status(), 200);
    for stream in &mut held[..2] {
        assert_eq!(outcome(stream, Duration::ZERO), Outcome::Pending);
    }
}

/// With the caps off, the instance pool itself runs out: the request that
/// finds it empty gets 503 + Retry-After, never Spin's empty 500.
#[test]
fn with_the_caps_off_a_full_instance_pool_answers_503() {
    if spin_has_no_limits() {
        return;
    }
    let app = app_with_host_args(&[
        "--body-idle-timeout",
        HOLD,
        "--max-requests-per-client",
        "0",
        "--max-connections-per-client",
        "0",
        "--max-requests",
        "0",
    ]);
    // Stalled uploads ("stalled avatar uploads do the same", issue #22).
    let upload = stalled_upload(&app, &session_cookie(&app));
    // The probes below take a slot now and then while the stalled requests
    // still arrive (slowly, on a loaded machine), and a stalled request that
    // meets that moment is refused: a few more than the pool holds make sure
    // it fills whatever the probes took.
    const MARGIN: usize = 50;
    let mut held: Vec<TcpStream> = (0..STALLED + MARGIN)
        .map(|_| send(&app, &upload).expect("connected"))
        .collect();
    let get = format!(
        "GET /api/v1.0/areas HTTP/1.1\r\nHost: {}\r\n\r\n",
        addr(&app)
    );
    // The pool fills as the host gets to the stalled requests.
    let started = Instant::now();
    let answer = loop {
        let mut probe = send(&app, get.as_bytes()).expect("connected");
        match outcome(&mut probe, CUT_WITHIN) {
            Outcome::Answered { status: 200, .. } if started.elapsed() < CUT_WITHIN => {
                thread::sleep(Duration::from_millis(100));
            }
            other => break other,
        }
    };
    let log = app.log();
    if log.contains("pooling allocator unavailable") {
        // On-demand allocation (the machine refused the pool's address
        // space) has no instance limit to run out of.
        eprintln!("skipped: edge-host runs without its instance pool here");
        return;
    }
    let tail: String = log.lines().rev().take(20).collect::<Vec<_>>().join("\n");
    assert!(
        matches!(answer, Outcome::Answered { status: 503, .. }),
        "expected 503, got {answer:?}; the host's last lines (newest first):\n{tail}"
    );
    assert_busy(&answer);
    // The host logs before it answers, but its stderr reaches the test's
    // log through a pipe and a reader thread, which may not have caught up.
    assert!(
        wait_until(Duration::from_secs(5), || app
            .log()
            .contains("no instance available")),
        "{tail}"
    );
    let busy = held
        .iter_mut()
        .map(|s| outcome(s, Duration::ZERO))
        .filter(|o| *o != Outcome::Pending)
        .count();
    assert!(
        busy < held.len(),
        "the pool never held the stalled requests"
    );
}
