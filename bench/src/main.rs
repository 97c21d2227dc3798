//! ihome-bench: the benchmark driver `scripts/bench` runs after building.
//!
//! One run, so every figure has a baseline measured minutes apart on the
//! same (noisy, 2-core) machine:
//! 1. start-up: edge-host cold (empty compiled-code cache) and warm, process
//!    spawn to the first 200;
//! 2. the app on a fresh state dir: migrate (GET /areas), seed the SQLite
//!    file, register users through the API (captcha from the KV file, SMS code
//!    from a loopback gateway), then the native baseline on the same file;
//! 3. host overhead: an empty component vs. the native server's `/noop`;
//! 4. load: wrk at each connection count per scenario, edge and native
//!    interleaved for the reads both serve; RSS sampled during the widest run;
//! 5. login cost: sequential POST /sessions (Argon2id inside wasm);
//! 6. the table on stdout, the JSON (and optionally markdown) files.
//!
//! Exits non-zero when anything fails: the app not starting, a non-2xx
//! response during a load run, a failed registration.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use clap::Parser;
use ihome_bench::dates;
use ihome_bench::landlord::{Acceptor, PgAcceptor};
use ihome_bench::pg::{self, Psql};
use ihome_bench::procs::{Proc, RssSampler};
use ihome_bench::seed::{self, SeedSize};
use ihome_bench::wrk::{self, Load, Summary};
use ihome_tests::SmsGateway;
use ihome_tests::servers::{Postgres, Redis};
use rand::Rng;
use serde::Serialize;
use serde_json::{Value, json};

/// The app's time zone (spin.toml `utc_offset` default, +08:00): "today"
/// for search and booking dates.
const UTC_OFFSET_SECS: i64 = ihome_bench::detail::DEFAULT_UTC_OFFSET_SECS;
/// Longest a host may take to compile every component and bind.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(300);
/// Poll interval while waiting for the first 200 after spawn.
const FIRST_200_POLL: Duration = Duration::from_millis(2);
/// Timeout of the driver's own requests (registration, logins, checks).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);
/// RSS sampling interval during the widest load run.
const RSS_SAMPLE_EVERY: Duration = Duration::from_millis(50);
/// Warm-up before each scenario's measured runs.
const WARMUP_SECS: u64 = 1;
const WARMUP_CONNECTIONS: usize = 16;
/// Search dates: a 3-night stay starting a week from today (inside the
/// seeded future orders, so the overlap test excludes some houses).
const SEARCH_START_DAYS: i64 = 7;
const SEARCH_NIGHTS: i64 = 3;
/// A new query per request: stays starting on any of this many days (in
/// every area), so a run never asks one twice.
const NEW_SEARCH_DAYS: i64 = 3_650;
/// The history phase adds this many times each house's seeded stays, all
/// finished.
const HISTORY_MULTIPLIER: usize = 10;
/// Targets from the brief: edge/native throughput for the reads, and the
/// host's own per-request cost.
const TARGET_MIN_RATIO: f64 = 0.5;
const TARGET_MAX_OVERHEAD_US: f64 = 100.0;
/// Guests the booking load rotates through, request by request. One guest
/// may hold only 10 pending orders (the app's cap) and the landlord accepts
/// between sweeps, so 64 connections need the load spread over many guests.
const BOOKING_GUESTS: usize = 16;
/// Booking guests on the server backend: the embedded run's, logged in
/// there, and more registered there. The pending cap (10 per guest) must
/// survive the landlord's worst pause: on PostgreSQL that is a psql session
/// in another process, and on this shared 2-core machine it was seen going
/// 110-265 ms without a sweep while 16 guests took ~60 bookings/s each
/// (409s). Triple the guests triple that margin; bookings per guest are
/// rarely concurrent either way (PostgreSQL serialises one guest's bookings
/// on their user row, so fewer guests could only lower its figures).
const SERVER_BOOKING_GUESTS: usize = 3 * BOOKING_GUESTS;
/// Registered users: the booking guests (the first also holds the session
/// of the GET /session scenario) and one who logs in repeatedly.
const REGISTERED_USERS: usize = BOOKING_GUESTS + 1;

#[derive(Parser)]
#[command(about = "iHome benchmark: edge-host vs a native baseline, in one run")]
struct Args {
    /// Tiny data and 2-second runs at 1 and 16 connections (smoke test).
    #[arg(long)]
    quick: bool,
    /// The workspace root (spin.toml, target/).
    #[arg(long, default_value = ".")]
    root: PathBuf,
    /// Scratch directory for state dirs, caches and logs (wiped first).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Write the JSON results here (repeatable).
    #[arg(long = "json")]
    json_out: Vec<PathBuf>,
    /// Write a markdown table with the machine's description here.
    #[arg(long)]
    markdown: Option<PathBuf>,
    /// Override the mode's connection counts (comma-separated).
    #[arg(long, value_delimiter = ',')]
    connections: Option<Vec<usize>>,
    /// Override the mode's seconds per measured run.
    #[arg(long)]
    seconds: Option<u64>,
    /// Benchmark this edge-host binary instead of target/release/edge-host
    /// (e.g. a copy built before a change, for before/after figures).
    #[arg(long)]
    edge_host: Option<PathBuf>,
    /// Skip the embedded load runs and the history phase: set-up, then the
    /// server backend only (for targeted runs; no server/embedded ratios).
    #[arg(long)]
    only_servers: bool,
    /// Load only the scenarios whose name contains one of these (repeatable,
    /// case-sensitive; e.g. `--only "new query" --only "POST /orders"`), on
    /// every backend; the history phase runs when a search is selected.
    #[arg(long)]
    only: Vec<String>,
    /// Skip the server backend (PostgreSQL + Redis) phase.
    #[arg(long)]
    no_servers: bool,
    /// Also serve the reads with this real Spin CLI (`spin up` on the same
    /// seeded state), for edge-host/Spin ratios in the same run.
    #[arg(long)]
    spin: Option<PathBuf>,
}

/// Sizes and durations of one mode.
#[derive(Clone, Debug, Serialize)]
struct Plan {
    mode: &'static str,
    users: usize,
    houses: usize,
    orders: usize,
    seconds: u64,
    connections: Vec<usize>,
    logins: usize,
    warm_starts: usize,
    /// Sequential `GET /areas` of the slow-client scenario, per phase.
    slow_client_requests: usize,
}

impl Plan {
    fn new(quick: bool) -> Plan {
        if quick {
            Plan {
                mode: "quick",
                users: 20,
                houses: 200,
                orders: 2_000,
                seconds: 2,
                connections: vec![1, 16],
                logins: 5,
                warm_starts: 1,
                slow_client_requests: 200,
            }
        } else {
            Plan {
                mode: "full",
                users: 1_000,
                houses: 10_000,
                orders: 100_000,
                seconds: 10,
                connections: vec![1, 16, 64],
                logins: 20,
                warm_starts: 3,
                slow_client_requests: 2_000,
            }
        }
    }

    fn max_connections(&self) -> usize {
        *self.connections.iter().max().expect("connections")
    }
}

#[derive(Clone, Debug, Serialize)]
struct Run {
    scenario: String,
    target: &'static str,
    connections: usize,
    rps: f64,
    p50_us: u64,
    p99_us: u64,
    requests: u64,
    errors: u64,
    raw: Summary,
    /// Runs against several instances at once (`edge-pg×2`): each wrk
    /// process's own summary; `raw` is [`Summary::combine`] of them.
    #[serde(skip_serializing_if = "Option::is_none")]
    per_instance: Option<Vec<Summary>>,
}

/// edge-host's throughput against another target's in the same scenario.
#[derive(Clone, Debug, Serialize)]
struct Ratio {
    scenario: String,
    connections: usize,
    /// The other target: "native" or "spin".
    baseline: &'static str,
    edge_rps: f64,
    baseline_rps: f64,
    /// edge req/s ÷ baseline req/s.
    ratio: f64,
    edge_p50_us: u64,
    baseline_p50_us: u64,
}

/// Every edge run that `baseline` also ran, as a ratio.
fn ratios_against(runs: &[Run], baseline: &'static str) -> Vec<Ratio> {
    runs.iter()
        .filter(|r| r.target == "edge")
        .filter_map(|e| {
            let b = runs.iter().find(|b| {
                b.target == baseline && b.scenario == e.scenario && b.connections == e.connections
            })?;
            Some(Ratio {
                scenario: e.scenario.clone(),
                connections: e.connections,
                baseline,
                edge_rps: e.rps,
                baseline_rps: b.rps,
                ratio: if b.rps > 0.0 { e.rps / b.rps } else { 0.0 },
                edge_p50_us: e.p50_us,
                baseline_p50_us: b.p50_us,
            })
        })
        .collect()
}

/// What each request of a scenario is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The same request every time (a read; cached reads hit).
    Same,
    /// A booking of nights nobody asked for before.
    Bookings,
    /// A search no earlier request asked (each misses the cache).
    NewSearches,
}

struct Scenario {
    name: String,
    path: String,
    headers: Vec<(String, String)>,
    native: bool,
    /// Also under the real Spin (the reads; bookings would share the
    /// write load and the booking sequence with edge-host's runs).
    spin: bool,
    /// Also on the server backend (PostgreSQL + Redis), one and two
    /// instances.
    servers: bool,
    kind: Kind,
}

/// What the changing loads need to know of the data.
struct LoadData<'a> {
    /// Session cookies of the booking guests (on the backend being loaded).
    booking_cookies: &'a [String],
    seeded: &'a seed::Seeded,
    first_booking_day: i64,
    today: dates::Date,
}

impl Scenario {
    /// The wrk load of this scenario, its changing requests numbered from
    /// `offset`.
    fn load(&self, offset: u64, data: &LoadData) -> Load {
        match self.kind {
            Kind::Bookings => Load::Bookings {
                cookies: data.booking_cookies.to_vec(),
                first_house: data.seeded.first_house,
                houses: data.seeded.houses,
                first_day: data.first_booking_day,
                nights: seed::BENCH_NIGHTS,
                offset,
            },
            Kind::NewSearches => Load::Searches {
                areas: seed::AREAS,
                first_day: data.today.add_days(1).0,
                days: NEW_SEARCH_DAYS,
                nights: SEARCH_NIGHTS,
                offset,
            },
            Kind::Same => Load::Get {
                headers: self.headers.clone(),
            },
        }
    }
}

struct Paths {
    root: PathBuf,
    work: PathBuf,
    edge_host: PathBuf,
    native: PathBuf,
    /// The real Spin CLI, when one was given.
    spin: Option<PathBuf>,
}

fn main() {
    let args = Args::parse();
    match run(&args) {
        Ok(true) => {}
        Ok(false) => {
            eprintln!("bench: FAILED (see the failures above)");
            std::process::exit(1);
        }
        Err(e) => {
            eprintln!("bench: FAILED: {e:#}");
            std::process::exit(1);
        }
    }
}

fn log(msg: impl AsRef<str>) {
    eprintln!("\x1b[1m--> {}\x1b[0m", msg.as_ref());
}

fn run(args: &Args) -> anyhow::Result<bool> {
    let mut plan = Plan::new(args.quick);
    if let Some(c) = &args.connections {
        ensure!(
            !c.is_empty() && !c.contains(&0),
            "--connections needs counts ≥ 1"
        );
        plan.connections = c.clone();
    }
    if let Some(s) = args.seconds {
        plan.seconds = s.max(1);
    }
    let root = args.root.canonicalize().context("--root")?;
    let work = args
        .work_dir
        .clone()
        .unwrap_or_else(|| root.join("target/bench").join(plan.mode));
    if work.exists() {
        std::fs::remove_dir_all(&work).with_context(|| format!("wiping {}", work.display()))?;
    }
    std::fs::create_dir_all(&work)?;
    let paths = Paths {
        edge_host: args
            .edge_host
            .clone()
            .unwrap_or_else(|| root.join("target/release/edge-host")),
        native: root.join("target/release/native-baseline"),
        spin: args.spin.clone(),
        root,
        work,
    };
    for bin in [&paths.edge_host, &paths.native]
        .into_iter()
        .chain(paths.spin.as_ref())
    {
        ensure!(
            bin.is_file(),
            "{} is missing (scripts/bench builds it)",
            bin.display()
        );
    }
    let mut failures: Vec<String> = Vec::new();
    let started = Instant::now();

    // 1. Start-up, before anything else warms the page cache for us.
    let cache = paths.work.join("compile-cache");
    log("start-up: cold (empty compiled-code cache)");
    let cold_ms = first_200_ms(&paths, &cache, "cold")?;
    let mut warm = Vec::new();
    for i in 0..plan.warm_starts {
        log(format!("start-up: warm #{}", i + 1));
        warm.push(first_200_ms(&paths, &cache, &format!("warm{i}"))?);
    }
    let warm_ms = median_f64(&mut warm);

    // 2. The app, seeded.
    let sms = SmsGateway::start();
    let state = paths.work.join("state");
    std::fs::create_dir_all(&state)?;
    let edge = start_edge(
        &paths,
        &paths.root.join("spin.toml"),
        &state,
        &cache,
        "edge",
        &[("SPIN_VARIABLE_SMS_GATEWAY_ORIGIN", sms.origin())],
    )?;
    let client = client()?;
    let areas_url = format!("{}/api/v1.0/areas", edge.base);
    let resp = client.get(&areas_url).send()?;
    ensure!(
        resp.status() == 200,
        "GET /areas (migration): {}",
        resp.status()
    );
    log(format!(
        "seeding {} users, {} houses, {} orders",
        plan.users, plan.houses, plan.orders
    ));
    let seeded = seed::seed(
        &state.join("sqlite_db.db"),
        SeedSize {
            users: plan.users,
            houses: plan.houses,
            orders: plan.orders,
        },
        UTC_OFFSET_SECS,
    )?;
    log(format!(
        "seeded {} orders in {:.1} s; detail house {}",
        seeded.orders, seeded.seconds, seeded.detail_house
    ));
    let mut users = Vec::new();
    for _ in 0..REGISTERED_USERS {
        users.push(register(&edge.base, KvAt::StateDir(&state), &sms)?);
    }
    log(format!("registered {} users through the API", users.len()));
    let (booking_guests, login_user) = users.split_at(BOOKING_GUESTS);
    // The server backend starts from this data: seeded and registered,
    // before any load wrote to it (the embedded runs book and add history).
    let snapshot = paths.work.join("snapshot.db");
    rusqlite::Connection::open(state.join("sqlite_db.db"))?
        .execute("VACUUM INTO ?1", [snapshot.to_string_lossy()])
        .context("snapshot of the seeded database")?;
    let (guest, login_user) = (&booking_guests[0], &login_user[0]);
    let native = Proc::start(
        "native-baseline",
        {
            let mut c = Command::new(&paths.native);
            c.arg("--db").arg(state.join("sqlite_db.db"));
            c
        },
        "Listening on ",
        &paths.work.join("native.log"),
        STARTUP_TIMEOUT,
    )?;

    // The scenarios, and a check that each answers 200 before any load.
    let today = dates::today(UTC_OFFSET_SECS);
    let sd = today.add_days(SEARCH_START_DAYS);
    let ed = sd.add_days(SEARCH_NIGHTS);
    let detail_path = format!("/api/v1.0/houses/{}", seeded.detail_house);
    let search_path = format!("/api/v1.0/houses?aid=3&sd={sd}&ed={ed}&sk=price-inc&p=2");
    let session_headers = vec![("Cookie".to_string(), guest.cookie.clone())];
    let matches = json!({
        "areas": compare(&client, &edge.base, ("native", &native.base), "/api/v1.0/areas")?,
        "house_detail": compare(&client, &edge.base, ("native", &native.base), &detail_path)?,
    });
    check_ok(&client, &edge.base, &search_path, &[])?;
    check_ok(&client, &edge.base, "/api/v1.0/session", &session_headers)?;
    // What the server backend must answer on the same data.
    let embedded_bodies = vec![
        ("areas", "/api/v1.0/areas".to_string()),
        ("house_detail", detail_path.clone()),
    ]
    .into_iter()
    .map(|(key, path)| Ok((key, check_ok(&client, &edge.base, &path, &[])?, path)))
    .collect::<anyhow::Result<Vec<_>>>()?;
    // The real Spin on the same state: same database, same sessions.
    let spin = match &paths.spin {
        Some(bin) => Some(start_spin(bin, &paths, &state, &sms)?),
        None => None,
    };
    let spin_matches = match &spin {
        Some(spin) => {
            check_ok(&client, &spin.base, &search_path, &[])?;
            check_ok(&client, &spin.base, "/api/v1.0/session", &session_headers)?;
            json!({
                "areas": compare(&client, &edge.base, ("spin", &spin.base), "/api/v1.0/areas")?,
                "house_detail": compare(&client, &edge.base, ("spin", &spin.base), &detail_path)?,
            })
        }
        None => Value::Null,
    };

    let edge_idle_kib = edge.rss_kib()?;
    let native_idle_kib = native.rss_kib()?;
    let spin_idle_kib = spin.as_ref().map(Proc::rss_kib).transpose()?;

    // 2b. The cost of exporting telemetry: a second edge-host on the same
    // state with OTEL_EXPORTER_OTLP_ENDPOINT pointing at a sink that takes
    // OTLP, against a third with none set, taking turns on the house detail
    // (SQLite, key-value: a span per host call) in this run.
    log("telemetry: edge-host with and without an OTLP endpoint (house detail)");
    let telemetry = telemetry_cost(&paths, &state, &cache, &sms, &detail_path, plan.seconds)?;

    // 3. Host overhead: an empty component against the native floor.
    log("host overhead: empty component vs native /noop (1 connection)");
    let noop_toml = write_noop_manifest(&paths)?;
    let noop_state = paths.work.join("state-noop");
    let noop = start_edge(&paths, &noop_toml, &noop_state, &cache, "noop", &[])?;
    let get = Load::Get { headers: vec![] };
    check_ok(&client, &noop.base, "/", &[])?;
    wrk::run(
        &format!("{}/", noop.base),
        &get,
        1,
        WARMUP_SECS,
        &paths.work,
    )?;
    wrk::run(
        &format!("{}/noop", native.base),
        &get,
        1,
        WARMUP_SECS,
        &paths.work,
    )?;
    let edge_noop = wrk::run(
        &format!("{}/", noop.base),
        &get,
        1,
        plan.seconds,
        &paths.work,
    )?;
    let native_noop = wrk::run(
        &format!("{}/noop", native.base),
        &get,
        1,
        plan.seconds,
        &paths.work,
    )?;
    drop(noop);
    for (name, s) in [("edge noop", &edge_noop), ("native noop", &native_noop)] {
        if s.errors() > 0 || s.requests == 0 {
            failures.push(format!(
                "{name}: {} requests, {} errors",
                s.requests,
                s.errors()
            ));
        }
    }
    let overhead_us = edge_noop.p50_us as f64 - native_noop.p50_us as f64;

    // 4. Load.
    let search_scenarios = |suffix: &str, page: i64| {
        vec![
            Scenario {
                name: format!("GET /houses?aid&sd&ed&sk&p{suffix}"),
                path: format!("/api/v1.0/houses?aid=3&sd={sd}&ed={ed}&sk=price-inc&p={page}"),
                headers: vec![],
                native: false,
                spin: suffix.is_empty(),
                servers: suffix.is_empty(),
                kind: Kind::Same,
            },
            Scenario {
                name: format!("GET /houses, a new query each request{suffix}"),
                path: "/".into(),
                headers: vec![],
                native: false,
                spin: false,
                servers: false,
                kind: Kind::NewSearches,
            },
        ]
    };
    let mut scenarios = vec![
        Scenario {
            name: "GET /areas".into(),
            path: "/api/v1.0/areas".into(),
            headers: vec![],
            native: true,
            spin: true,
            servers: true,
            kind: Kind::Same,
        },
        Scenario {
            name: "GET /houses/:id".into(),
            path: detail_path.clone(),
            headers: vec![],
            native: true,
            spin: true,
            servers: true,
            kind: Kind::Same,
        },
    ];
    scenarios.extend(search_scenarios("", 2));
    scenarios.extend([
        Scenario {
            name: "GET /session".into(),
            path: "/api/v1.0/session".into(),
            headers: session_headers.clone(),
            native: false,
            spin: true,
            servers: false,
            kind: Kind::Same,
        },
        Scenario {
            name: "POST /orders".into(),
            path: "/api/v1.0/orders".into(),
            headers: vec![],
            native: false,
            spin: false,
            servers: true,
            kind: Kind::Bookings,
        },
    ]);
    let selected = |sc: &Scenario| {
        args.only.is_empty() || args.only.iter().any(|o| sc.name.contains(o.as_str()))
    };
    scenarios.retain(|sc| selected(sc));
    let mut runs: Vec<Run> = Vec::new();
    let mut edge_peak_kib = 0;
    let mut native_peak_kib = 0;
    let mut spin_peak_kib = 0;
    let mut booking_offset = 0u64;
    let mut search_offset = 0u64;
    let first_booking_day = today.add_days(seed::BENCH_BOOKING_FIRST_DAY);
    let embedded_cookies: Vec<String> = booking_guests.iter().map(|g| g.cookie.clone()).collect();
    let embedded_loads = LoadData {
        booking_cookies: &embedded_cookies,
        seeded: &seeded,
        first_booking_day: first_booking_day.0,
        today,
    };
    let mut run_scenario = |sc: &Scenario, failures: &mut Vec<String>| -> anyhow::Result<()> {
        let acceptor = match sc.kind {
            Kind::Bookings => Some(Acceptor::start(
                &state.join("sqlite_db.db"),
                booking_guests.iter().map(|g| g.mobile.as_str()),
            )?),
            _ => None,
        };
        let mut targets = vec![("edge", edge.base.clone(), edge.pid())];
        if sc.native {
            targets.push(("native", native.base.clone(), native.pid()));
        }
        if let Some(spin) = spin.as_ref().filter(|_| sc.spin) {
            targets.push(("spin", spin.base.clone(), spin.pid()));
        }
        // Each run of a changing load starts past the requests of the last.
        let mut unused = 0u64;
        let offset: &mut u64 = match sc.kind {
            Kind::Bookings => &mut booking_offset,
            Kind::NewSearches => &mut search_offset,
            Kind::Same => &mut unused,
        };
        let load_for = |offset: u64| sc.load(offset, &embedded_loads);
        for (_, base, _) in &targets {
            let url = format!("{base}{}", sc.path);
            let warm = wrk::run(
                &url,
                &load_for(*offset),
                WARMUP_CONNECTIONS,
                WARMUP_SECS,
                &paths.work,
            )?;
            *offset = wrk::next_offset(*offset, &warm, WARMUP_CONNECTIONS);
        }
        for &c in &plan.connections {
            for (target, base, pid) in &targets {
                let url = format!("{base}{}", sc.path);
                log(format!(
                    "{} [{target}] {c} connection(s), {} s",
                    sc.name, plan.seconds
                ));
                let sampler = (c == plan.max_connections())
                    .then(|| RssSampler::start(*pid, RSS_SAMPLE_EVERY));
                let s = wrk::run(&url, &load_for(*offset), c, plan.seconds, &paths.work)?;
                if let Some(sampler) = sampler {
                    let peak = sampler.finish();
                    let target_peak = match *target {
                        "edge" => &mut edge_peak_kib,
                        "spin" => &mut spin_peak_kib,
                        _ => &mut native_peak_kib,
                    };
                    *target_peak = (*target_peak).max(peak);
                }
                *offset = wrk::next_offset(*offset, &s, c);
                record(&mut runs, failures, sc, target, c, s.rps(), s, None);
            }
        }
        if let Some(acceptor) = acceptor {
            log(format!(
                "{}: the landlord accepted {} orders",
                sc.name,
                acceptor.finish()?
            ));
        }
        Ok(())
    };
    let mut history = None;
    if args.only_servers {
        log("--only-servers: no embedded load runs, no history phase");
    } else {
        for sc in &scenarios {
            run_scenario(sc, &mut failures)?;
        }
    }
    let history_searches: Vec<Scenario> = search_scenarios(" (after 10x history)", 3)
        .into_iter()
        .filter(|sc| selected(sc))
        .collect();
    if !args.only_servers && !history_searches.is_empty() {
        // Search again after every house gained ten times its finished stays
        // (written straight into the database, as the seeding was): the cost of
        // availability must not grow with history. The cached search asks
        // another page, so its first request builds it on the grown data.
        log("adding 10x finished stays to every house");
        let added = seed::add_history(&state.join("sqlite_db.db"), HISTORY_MULTIPLIER)?;
        log(format!(
            "added {} finished stays in {:.1} s",
            added.orders, added.seconds
        ));
        history = Some(added);
        for sc in &history_searches {
            run_scenario(sc, &mut failures)?;
        }
    }

    // 4b. The server backend: the same reads and bookings on PostgreSQL +
    // Redis, through one instance and through two sharing them.
    let servers = if args.no_servers || !scenarios.iter().any(|sc| sc.servers) {
        log("servers: skipped (--no-servers, or no server scenario selected)");
        json!({"skipped": "not selected"})
    } else {
        servers_phase(
            &ServersRun {
                paths: &paths,
                plan: &plan,
                cache: &cache,
                sms: &sms,
                snapshot: &snapshot,
                guests: booking_guests,
                scenarios: &scenarios,
                seeded: &seeded,
                first_booking_day: first_booking_day.0,
                today,
                search_path: &search_path,
                embedded_bodies: &embedded_bodies,
            },
            &mut runs,
            &mut failures,
        )?
    };
    if let Ok(tail) = std::fs::read_to_string(&edge.log) {
        let failed = tail
            .lines()
            .filter(|l| l.contains("request failed"))
            .count();
        if failed > 0 {
            failures.push(format!(
                "edge-host logged {failed} failed requests (see {})",
                edge.log.display()
            ));
        }
    }

    // 4c. One slow client: the other client's latency with 2,000 stalled
    // requests held against the host, and without (README, "Slow and
    // greedy clients").
    log(format!(
        "slow clients: {} x GET /areas from 127.0.0.2, without and with {} stalled requests",
        plan.slow_client_requests,
        2 * ihome_bench::slow::STALLED
    ));
    let slow_clients = match ihome_bench::slow::run(
        &edge.base,
        &booking_guests[0].cookie,
        plan.slow_client_requests,
    ) {
        Ok(s) => Some(s),
        Err(e) => {
            failures.push(format!("slow clients: {e:#}"));
            None
        }
    };

    // 5. Login cost.
    log(format!("{} sequential logins", plan.logins));
    let mut login_ms = Vec::new();
    for _ in 0..plan.logins {
        let t = Instant::now();
        let resp = client
            .post(format!("{}/api/v1.0/sessions", edge.base))
            .json(&json!({"mobile": login_user.mobile, "password": login_user.password}))
            .send()?;
        let status = resp.status();
        let body: Value = resp.json().unwrap_or(Value::Null);
        login_ms.push(t.elapsed().as_secs_f64() * 1e3);
        if status != 200 || body["errno"] != "0" {
            failures.push(format!("login: HTTP {status} {body}"));
            break;
        }
    }
    let login_p50_ms = median_f64(&mut login_ms.clone());

    // 6. Report.
    let ratios = ratios_against(&runs, "native");
    let spin_ratios = ratios_against(&runs, "spin");
    let server_ratios = server_ratios(&runs);
    let sizes = component_sizes(&paths.root)?;
    let min_ratio = ratios.iter().map(|r| r.ratio).fold(f64::INFINITY, f64::min);
    let machine = machine();
    let result = json!({
        "date": format!("{} UTC", dates::format_timestamp(dates::now_unix(), 0)),
        "mode": plan.mode,
        "plan": plan,
        "machine": machine,
        "seed": seeded,
        "history": history,
        "registered_users": users.len(),
        "host_env": {
            "RUST_LIB_BACKTRACE (inherited)": std::env::var("RUST_LIB_BACKTRACE").ok(),
            "RUST_BACKTRACE (inherited)": std::env::var("RUST_BACKTRACE").ok(),
        },
        "runs": runs,
        "ratios": ratios,
        "spin_ratios": spin_ratios,
        "servers": servers,
        "server_ratios": server_ratios,
        "responses_match_native": matches,
        "responses_match_spin": spin_matches,
        "telemetry": telemetry,
        "host_overhead": {
            "edge_noop_p50_us": edge_noop.p50_us,
            "edge_noop_p99_us": edge_noop.p99_us,
            "edge_noop_rps": edge_noop.rps(),
            "native_noop_p50_us": native_noop.p50_us,
            "native_noop_p99_us": native_noop.p99_us,
            "native_noop_rps": native_noop.rps(),
            "overhead_p50_us": overhead_us,
        },
        "login": {"count": login_ms.len(), "p50_ms": login_p50_ms, "all_ms": login_ms},
        "slow_clients": slow_clients,
        "startup": {"cold_ms": cold_ms, "warm_ms": warm_ms, "warm_samples_ms": warm},
        "memory": {
            "edge_idle_kib": edge_idle_kib,
            "edge_peak_kib": edge_peak_kib,
            "native_idle_kib": native_idle_kib,
            "native_peak_kib": native_peak_kib,
            "spin_idle_kib": spin_idle_kib,
            "spin_peak_kib": spin_peak_kib,
            "peak_at_connections": plan.max_connections(),
        },
        "component_sizes": sizes,
        "targets": {
            "min_read_ratio": TARGET_MIN_RATIO,
            "max_overhead_us": TARGET_MAX_OVERHEAD_US,
            "worst_read_ratio": min_ratio,
            "read_ratio_met": min_ratio >= TARGET_MIN_RATIO,
            "overhead_met": overhead_us < TARGET_MAX_OVERHEAD_US,
        },
        "failures": failures,
        "wall_seconds": started.elapsed().as_secs_f64(),
    });
    let table = render_table(&result);
    println!("{table}");
    for path in &args.json_out {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, serde_json::to_string_pretty(&result)? + "\n")?;
        log(format!("wrote {}", path.display()));
    }
    if let Some(md) = &args.markdown {
        std::fs::write(md, render_markdown(&result, &table))?;
        log(format!("wrote {}", md.display()));
    }
    for f in &failures {
        eprintln!("FAILURE: {f}");
    }
    Ok(failures.is_empty())
}

/// Target names of the server backend's runs.
const PG_ONE: &str = "edge-pg";
const PG_TWO: &str = "edge-pg×2";

/// What the server phase needs from the rest of the run.
struct ServersRun<'a> {
    paths: &'a Paths,
    plan: &'a Plan,
    cache: &'a Path,
    sms: &'a SmsGateway,
    /// The seeded SQLite file as it was before any load.
    snapshot: &'a Path,
    /// The booking guests (registered on the embedded app, so in the
    /// snapshot); they log in again on the server backend.
    guests: &'a [User],
    scenarios: &'a [Scenario],
    seeded: &'a seed::Seeded,
    first_booking_day: i64,
    today: dates::Date,
    search_path: &'a str,
    /// `(key, body, path)` of reads the embedded app answered on the
    /// snapshot's data.
    embedded_bodies: &'a [(&'static str, String, String)],
}

/// The server backend: throwaway PostgreSQL and Redis on loopback, the
/// snapshot copied into PostgreSQL after the app migrated it, two edge-host
/// instances on them. Each server scenario runs on one instance (`edge-pg`)
/// and on both at once (`edge-pg×2`: two wrk processes, half the
/// connections each, req/s summed, latency percentiles the worse of the
/// two). Returns what to record; skipped (one line said so) when the
/// server binaries are missing.
fn servers_phase(
    ctx: &ServersRun,
    runs: &mut Vec<Run>,
    failures: &mut Vec<String>,
) -> anyhow::Result<Value> {
    let skip = |why: &str| {
        log(format!(
            "servers: skipped, no {PG_ONE} / {PG_TWO} rows ({why}; scripts/bench installs them as root)"
        ));
        Ok(json!({"skipped": why}))
    };
    let Some(pg) = Postgres::start() else {
        return skip("no PostgreSQL server binaries");
    };
    let Some(redis) = Redis::start() else {
        return skip("no redis-server");
    };
    let Some(psql) = Psql::find(pg.port()) else {
        return skip("no psql client");
    };
    let paths = ctx.paths;
    let work = &paths.work;
    let pg_version = psql.query("SHOW server_version")?;
    let redis_version = ihome_tests::redis_command(&redis.authority(), &[b"INFO", b"server"])
        .and_then(|info| {
            String::from_utf8_lossy(&info)
                .lines()
                .find_map(|l| l.strip_prefix("redis_version:"))
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_default();
    log(format!(
        "servers: PostgreSQL {pg_version} on {}, Redis {redis_version} on {}",
        pg.authority(),
        redis.authority()
    ));
    let env = [
        ("SPIN_VARIABLE_SMS_GATEWAY_ORIGIN", ctx.sms.origin()),
        ("SPIN_VARIABLE_DATABASE_URL", pg.url()),
        ("SPIN_VARIABLE_DATABASE_HOST", pg.authority()),
        ("SPIN_VARIABLE_REDIS_URL", redis.url()),
        ("SPIN_VARIABLE_REDIS_HOST", redis.authority()),
    ];
    let manifest = paths.root.join("spin.toml");
    let client = client()?;
    let start = |n: usize| {
        start_edge(
            paths,
            &manifest,
            &work.join(format!("state-pg{n}")),
            ctx.cache,
            &format!("edge-pg{n}"),
            &env,
        )
    };
    let one = start(1)?;
    // The first request migrates the empty database.
    check_ok(&client, &one.base, "/api/v1.0/areas", &[]).context("migrating PostgreSQL")?;
    log("servers: copying the seeded SQLite data into PostgreSQL");
    let copied = pg::copy_sqlite(ctx.snapshot, &psql, &work.join("pg-copy.log"))?;
    let rows: u64 = copied.tables.iter().map(|(_, n)| n).sum();
    log(format!(
        "servers: copied {rows} rows of {} tables in {:.1} s",
        copied.tables.len(),
        copied.seconds
    ));
    // Nothing the migration request cached may outlive the copy.
    ensure!(
        ihome_tests::redis_command(&redis.authority(), &[b"FLUSHALL"]).is_some(),
        "Redis FLUSHALL failed"
    );
    let two = start(2)?;
    let instances = [&one, &two];
    for p in instances {
        check_ok(&client, &p.base, "/api/v1.0/areas", &[])?;
        check_ok(&client, &p.base, ctx.search_path, &[])?;
    }
    // Sessions live in Redis here: the guests log in through the API, and
    // more register there (see SERVER_BOOKING_GUESTS).
    let mut cookies = ctx
        .guests
        .iter()
        .map(|g| login(&client, &one.base, g))
        .collect::<anyhow::Result<Vec<String>>>()?;
    let mut mobiles: Vec<String> = ctx.guests.iter().map(|g| g.mobile.clone()).collect();
    let authority = redis.authority();
    while cookies.len() < SERVER_BOOKING_GUESTS {
        let user = register(&one.base, KvAt::Redis(&authority), ctx.sms)?;
        cookies.push(user.cookie);
        mobiles.push(user.mobile);
    }
    log(format!(
        "servers: {} guests logged in on {PG_ONE}, {} more registered there",
        ctx.guests.len(),
        cookies.len() - ctx.guests.len()
    ));
    let mut matches = serde_json::Map::new();
    for (key, body, path) in ctx.embedded_bodies {
        let embedded: Value = serde_json::from_str(body)?;
        let mut same = true;
        for p in instances {
            let got: Value = serde_json::from_str(&check_ok(&client, &p.base, path, &[])?)?;
            if got != embedded {
                eprintln!(
                    "warning: {path}: {} response differs from edge's on the same data\n  edge:   {embedded}\n  {}: {got}",
                    p.name, p.name
                );
                same = false;
            }
        }
        matches.insert(key.to_string(), same.into());
    }

    let loads = LoadData {
        booking_cookies: &cookies,
        seeded: ctx.seeded,
        first_booking_day: ctx.first_booking_day,
        today: ctx.today,
    };
    let plan = ctx.plan;
    let idle_kib = one.rss_kib()?;
    let mut peak_kib = 0;
    let mut accepted = Vec::new();
    // Its own database: bookings number from 0 again.
    let mut booking_offset = 0u64;
    let mut redis_connections = Vec::new();
    for sc in ctx.scenarios.iter().filter(|s| s.servers) {
        let connections_before = redis_stat(&redis, "total_connections_received");
        let mut requests = 0u64;
        ensure!(
            sc.kind != Kind::NewSearches,
            "{}: changing searches are not striped here",
            sc.name
        );
        let acceptor = match sc.kind {
            Kind::Bookings => Some(PgAcceptor::start(
                &psql,
                &work.join("pg-landlord.log"),
                mobiles.iter().map(String::as_str),
            )?),
            _ => None,
        };
        let mut unused = 0u64;
        let offset = if sc.kind == Kind::Bookings {
            &mut booking_offset
        } else {
            &mut unused
        };
        let urls: Vec<String> = instances
            .iter()
            .map(|p| format!("{}{}", p.base, sc.path))
            .collect();
        for url in &urls {
            let warm = wrk::run(
                url,
                &sc.load(*offset, &loads),
                WARMUP_CONNECTIONS,
                WARMUP_SECS,
                work,
            )?;
            *offset = wrk::next_offset(*offset, &warm, WARMUP_CONNECTIONS);
            requests += warm.requests;
        }
        for &c in &plan.connections {
            log(format!(
                "{} [{PG_ONE}] {c} connection(s), {} s",
                sc.name, plan.seconds
            ));
            let sampler = (c == plan.max_connections())
                .then(|| RssSampler::start(one.pid(), RSS_SAMPLE_EVERY));
            let s = wrk::run(&urls[0], &sc.load(*offset, &loads), c, plan.seconds, work)?;
            if let Some(sampler) = sampler {
                peak_kib = peak_kib.max(sampler.finish());
            }
            *offset = wrk::next_offset(*offset, &s, c);
            requests += s.requests;
            record(runs, failures, sc, PG_ONE, c, s.rps(), s, None);
            // Two instances need a connection each: no ×2 run at 1.
            if c < instances.len() {
                continue;
            }
            let each: Vec<usize> = (0..instances.len())
                .map(|i| c / instances.len() + usize::from(i < c % instances.len()))
                .collect();
            log(format!(
                "{} [{PG_TWO}] {c} connections ({each:?}), {} s",
                sc.name, plan.seconds
            ));
            let parts =
                wrk::run_parallel(&urls, &sc.load(*offset, &loads), &each, plan.seconds, work)?;
            *offset = wrk::next_offset_parallel(*offset, &parts, &each);
            requests += parts.iter().map(|p| p.requests).sum::<u64>();
            let rps = Summary::rps_sum(&parts);
            record(
                runs,
                failures,
                sc,
                PG_TWO,
                c,
                rps,
                Summary::combine(&parts),
                Some(parts),
            );
        }
        // Responses the load generator never saw (cut off at the end of
        // a run) are not counted: per_request is a slight overestimate.
        if let (Some(before), Some(after)) = (
            connections_before,
            redis_stat(&redis, "total_connections_received"),
        ) {
            let opened = after.saturating_sub(before);
            redis_connections.push(json!({
                "scenario": sc.name,
                "requests": requests,
                "connections_opened": opened,
                "per_request": opened as f64 / requests.max(1) as f64,
            }));
        }
        if let Some(acceptor) = acceptor {
            let (n, longest) = acceptor.finish()?;
            log(format!(
                "{} [servers]: the landlord accepted {n} orders (longest gap between sweeps {:.0} ms)",
                sc.name,
                longest * 1e3,
            ));
            accepted.push(json!({"scenario": sc.name, "accepted": n,
                "longest_gap_ms": longest * 1e3, "guests": mobiles.len()}));
        }
    }
    for p in instances {
        let failed = std::fs::read_to_string(&p.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("request failed"))
            .count();
        if failed > 0 {
            failures.push(format!(
                "{} logged {failed} failed requests (see {})",
                p.name,
                p.log.display()
            ));
        }
    }
    // PostgreSQL's refusal when max_connections is reached.
    let refused = pg.log().matches("too many clients").count();
    if refused > 0 {
        failures.push(format!(
            "PostgreSQL refused {refused} connections (too many clients; max_connections {})",
            psql.query("SHOW max_connections")?
        ));
    }
    Ok(json!({
        "postgres_version": pg_version,
        "redis_version": redis_version,
        "max_connections": psql.query("SHOW max_connections")?,
        "instances": instances.len(),
        "copied": copied,
        "responses_match_embedded": matches,
        "landlord": accepted,
        "redis_connections": redis_connections,
        "pg_refused_connections": refused,
        "edge_pg_idle_kib": idle_kib,
        "edge_pg_peak_kib": peak_kib,
    }))
}

/// A counter from Redis's `INFO stats`.
fn redis_stat(redis: &Redis, name: &str) -> Option<u64> {
    let info = ihome_tests::redis_command(&redis.authority(), &[b"INFO", b"stats"])?;
    String::from_utf8_lossy(&info)
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':')?.trim().parse().ok())
}

/// Records one run of a scenario, and a failure if any request failed.
#[allow(clippy::too_many_arguments)]
fn record(
    runs: &mut Vec<Run>,
    failures: &mut Vec<String>,
    sc: &Scenario,
    target: &'static str,
    connections: usize,
    rps: f64,
    s: Summary,
    per_instance: Option<Vec<Summary>>,
) {
    if s.errors() > 0 || s.requests == 0 {
        failures.push(format!(
            "{} [{target}] at {connections} connections: {} requests, errors {{connect {}, read {}, write {}, status>399 {}, timeout {}}}{}",
            sc.name, s.requests, s.connect_errors, s.read_errors, s.write_errors, s.status_errors, s.timeouts,
            if s.error_sample.is_empty() { String::new() } else { format!("; e.g. HTTP {}", s.error_sample) }
        ));
    }
    runs.push(Run {
        scenario: sc.name.clone(),
        target,
        connections,
        rps,
        p50_us: s.p50_us,
        p99_us: s.p99_us,
        requests: s.requests,
        errors: s.errors(),
        raw: s,
        per_instance,
    });
}

/// The server backend against the embedded one, scenario by scenario.
#[derive(Clone, Debug, Serialize)]
struct ServerRatio {
    scenario: String,
    connections: usize,
    embedded_rps: f64,
    pg_rps: f64,
    /// edge-pg req/s ÷ edge req/s.
    pg_vs_embedded: f64,
    /// Two instances (none at 1 connection).
    pg2_rps: Option<f64>,
    pg2_vs_embedded: Option<f64>,
    /// edge-pg×2 req/s ÷ edge-pg req/s: what the second instance adds.
    pg2_vs_pg: Option<f64>,
    embedded_p50_us: u64,
    pg_p50_us: u64,
    pg2_p50_us: Option<u64>,
}

fn server_ratios(runs: &[Run]) -> Vec<ServerRatio> {
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    runs.iter()
        .filter(|r| r.target == PG_ONE)
        .filter_map(|p| {
            let find = |target: &str| {
                runs.iter().find(|r| {
                    r.target == target && r.scenario == p.scenario && r.connections == p.connections
                })
            };
            let e = find("edge")?;
            let two = find(PG_TWO);
            Some(ServerRatio {
                scenario: p.scenario.clone(),
                connections: p.connections,
                embedded_rps: e.rps,
                pg_rps: p.rps,
                pg_vs_embedded: ratio(p.rps, e.rps),
                pg2_rps: two.map(|t| t.rps),
                pg2_vs_embedded: two.map(|t| ratio(t.rps, e.rps)),
                pg2_vs_pg: two.map(|t| ratio(t.rps, p.rps)),
                embedded_p50_us: e.p50_us,
                pg_p50_us: p.p50_us,
                pg2_p50_us: two.map(|t| t.p50_us),
            })
        })
        .collect()
}

/// Logs `user` in and returns the `ihome_session=…` cookie.
fn login(client: &reqwest::blocking::Client, base: &str, user: &User) -> anyhow::Result<String> {
    let resp = client
        .post(format!("{base}/api/v1.0/sessions"))
        .json(&json!({"mobile": user.mobile, "password": user.password}))
        .send()?;
    let cookie = ihome_tests::session_cookie(&resp);
    let body: Value = resp.json()?;
    ensure!(body["errno"] == "0", "login at {base}: {body}");
    cookie.context("login set no ihome_session cookie")
}

fn client() -> anyhow::Result<reqwest::blocking::Client> {
    Ok(reqwest::blocking::Client::builder()
        .timeout(CLIENT_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()?)
}

fn start_edge(
    paths: &Paths,
    manifest: &Path,
    state: &Path,
    cache: &Path,
    name: &str,
    env: &[(&str, String)],
) -> anyhow::Result<Proc> {
    std::fs::create_dir_all(state)?;
    let mut cmd = Command::new(&paths.edge_host);
    cmd.arg("--from")
        .arg(manifest)
        .arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--state-dir")
        .arg(state)
        .arg("--cache-dir")
        .arg(cache)
        // The environment is inherited as a user's shell would pass it:
        // edge-host itself turns error backtraces off unless
        // RUST_LIB_BACKTRACE is set (edge-host/src/main.rs).
        .current_dir(&paths.root);
    for (k, v) in env {
        cmd.env(k, v);
    }
    Proc::start(
        name,
        cmd,
        "Serving ",
        &paths.work.join(format!("{name}.log")),
        STARTUP_TIMEOUT,
    )
}

/// Requests/s of `path` on an edge-host with no OTLP endpoint and on a
/// second one on the same state exporting traces and metrics to a loopback
/// OTLP receiver, alternating [`TELEMETRY_ROUNDS`] rounds each at 16
/// connections (the median of each); the ratio is what exporting costs, in
/// throughput and in the host's CPU time per request.
/// Alternating runs per host in the telemetry phase.
const TELEMETRY_ROUNDS: usize = 5;

fn telemetry_cost(
    paths: &Paths,
    state: &Path,
    cache: &Path,
    sms: &SmsGateway,
    path: &str,
    seconds: u64,
) -> anyhow::Result<Value> {
    // A real receiver: it decodes every export with the official OTLP
    // definitions (as a collector would), keeping counts only.
    let receiver = ihome_tests::otlp::OtlpReceiver::counting();
    // Both hosts start here, side by side, so neither is the one that
    // served the earlier phases: with two identical hosts (no endpoint on
    // either) the CPU ratio was 1.07 when the first was the bench's
    // long-running `edge`, which would be counted against exporting.
    let plain = start_edge(
        paths,
        &paths.root.join("spin.toml"),
        state,
        cache,
        "edge-plain",
        &[("SPIN_VARIABLE_SMS_GATEWAY_ORIGIN", sms.origin())],
    )?;
    let plain = &plain;
    let traced = start_edge(
        paths,
        &paths.root.join("spin.toml"),
        state,
        cache,
        "edge-otel",
        &[
            ("SPIN_VARIABLE_SMS_GATEWAY_ORIGIN", sms.origin()),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint()),
            ("OTEL_SERVICE_NAME", "ihome-bench".to_string()),
            // Metrics every 10 s instead of the SDK's 60 s, so a run sees
            // several exports (what they cost is part of the figure).
            ("OTEL_METRIC_EXPORT_INTERVAL", "10000".to_string()),
        ],
    )?;
    let get = Load::Get { headers: vec![] };
    let (mut with, mut without) = (Vec::new(), Vec::new());
    let (mut cpu_with, mut cpu_without) = (Vec::new(), Vec::new());
    for base in [&plain.base, &traced.base] {
        wrk::run(&format!("{base}{path}"), &get, 16, WARMUP_SECS, &paths.work)?;
    }
    // Requests/s and the host's CPU microseconds per request of one run.
    // On a machine other work shares, throughput moves with that work; the
    // CPU a request costs the host moves far less, so both are kept.
    let measure = |host: &Proc| -> anyhow::Result<(f64, f64)> {
        let before = host.cpu_time()?;
        let run = wrk::run(
            &format!("{}{path}", host.base),
            &get,
            16,
            seconds,
            &paths.work,
        )?;
        let used = host.cpu_time()? - before;
        Ok((
            run.rps(),
            used.as_secs_f64() * 1e6 / run.requests.max(1) as f64,
        ))
    };
    for _ in 0..TELEMETRY_ROUNDS {
        let (rps, cpu) = measure(plain)?;
        without.push(rps);
        cpu_without.push(cpu);
        let (rps, cpu) = measure(&traced)?;
        with.push(rps);
        cpu_with.push(cpu);
    }
    let (with_rps, without_rps) = (
        median_f64(&mut with.clone()),
        median_f64(&mut without.clone()),
    );
    let (with_cpu, without_cpu) = (median_f64(&mut cpu_with), median_f64(&mut cpu_without));
    log(format!(
        "telemetry: {with_rps:.0} req/s with an OTLP endpoint, {without_rps:.0} without: {:.3}; \
         host CPU {with_cpu:.0} / {without_cpu:.0} µs per request: {:.3}",
        with_rps / without_rps,
        with_cpu / without_cpu
    ));
    // The next metrics export, at most one interval away.
    let deadline = Instant::now() + Duration::from_secs(15);
    while receiver.counts().1 == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    let exported = receiver.paths().len();
    let (spans, metric_points) = receiver.counts();
    ensure!(
        spans > 0 && metric_points > 0,
        "the traced edge-host sent {spans} spans and {metric_points} metric points"
    );
    ensure!(
        receiver.bad_bodies().is_empty(),
        "undecodable OTLP: {:?}",
        receiver.bad_bodies()
    );
    Ok(json!({
        "path": path,
        "with_endpoint_rps": with_rps.round(),
        "without_rps": without_rps.round(),
        "ratio": with_rps / without_rps,
        "rounds": TELEMETRY_ROUNDS,
        "rps_with_each_round": with,
        "rps_without_each_round": without,
        "cpu_us_per_request_with": with_cpu,
        "cpu_us_per_request_without": without_cpu,
        "cpu_ratio": with_cpu / without_cpu,
        "otlp_requests_received": exported,
        "spans_received": spans,
        "metric_points_received": metric_points,
    }))
}

/// Spawns the real Spin CLI (`spin up`) on the app's seeded state dir.
fn start_spin(bin: &Path, paths: &Paths, state: &Path, sms: &SmsGateway) -> anyhow::Result<Proc> {
    let mut cmd = Command::new(bin);
    cmd.arg("up")
        .arg("--from")
        .arg(paths.root.join("spin.toml"))
        .arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--state-dir")
        .arg(state)
        .env("SPIN_VARIABLE_SMS_GATEWAY_ORIGIN", sms.origin())
        .current_dir(&paths.root);
    Proc::start(
        "spin",
        cmd,
        "Serving ",
        &paths.work.join("spin.log"),
        STARTUP_TIMEOUT,
    )
}

/// Spawns edge-host on a fresh state dir and times spawn → first 200 of
/// GET /areas (which also runs the migrations, as a real first request does).
fn first_200_ms(paths: &Paths, cache: &Path, name: &str) -> anyhow::Result<f64> {
    let state = paths.work.join(format!("state-{name}"));
    let mut proc = start_edge(
        paths,
        &paths.root.join("spin.toml"),
        &state,
        cache,
        &format!("start-{name}"),
        &[],
    )?;
    let url = format!("{}/api/v1.0/areas", proc.base);
    let client = client()?;
    let deadline = proc.spawned + STARTUP_TIMEOUT;
    loop {
        if let Ok(resp) = client.get(&url).send()
            && resp.status() == 200
        {
            break;
        }
        if Instant::now() > deadline {
            bail!("{name}: no 200 from {url}; log:\n{}", proc.log_tail());
        }
        thread::sleep(FIRST_200_POLL);
    }
    let ms = proc.spawned.elapsed().as_secs_f64() * 1e3;
    proc.stop();
    log(format!("start-up {name}: {ms:.0} ms"));
    Ok(ms)
}

/// A one-route manifest serving the empty component at `/...`.
fn write_noop_manifest(paths: &Paths) -> anyhow::Result<PathBuf> {
    let wasm = paths.root.join("target/wasm32-wasip2/wasm/noop.wasm");
    ensure!(
        wasm.is_file(),
        "{} is missing (scripts/build-components builds it)",
        wasm.display()
    );
    let toml = format!(
        r#"spin_manifest_version = 2

[application]
name = "noop"

[[trigger.http]]
route = "/..."
component = "noop"

[component.noop]
source = {:?}
"#,
        wasm.display().to_string()
    );
    let path = paths.work.join("noop-spin.toml");
    std::fs::write(&path, toml)?;
    Ok(path)
}

fn check_ok(
    client: &reqwest::blocking::Client,
    base: &str,
    path: &str,
    headers: &[(String, String)],
) -> anyhow::Result<String> {
    let mut req = client.get(format!("{base}{path}"));
    for (k, v) in headers {
        req = req.header(k, v);
    }
    let resp = req.send().with_context(|| format!("GET {path}"))?;
    let status = resp.status();
    let body = resp.text()?;
    ensure!(status == 200, "GET {path}: HTTP {status} {body}");
    Ok(body)
}

/// Whether edge and another target (`other`, at `other_base`) return the
/// same JSON for `path` (parsed, so key order and whitespace do not matter).
/// A mismatch is reported, not fatal: for the native baseline it means its
/// queries drifted from the component's; for Spin, a host difference.
fn compare(
    client: &reqwest::blocking::Client,
    edge: &str,
    (other, other_base): (&str, &str),
    path: &str,
) -> anyhow::Result<bool> {
    let e: Value = serde_json::from_str(&check_ok(client, edge, path, &[])?)?;
    let o: Value = serde_json::from_str(&check_ok(client, other_base, path, &[])?)?;
    let same = e == o;
    if !same {
        eprintln!(
            "warning: {path}: {other} response differs from edge\n  edge:   {e}\n  {other}: {o}"
        );
    }
    Ok(same)
}

/// Where the app keeps its key-value data (the captcha a registration
/// reads, as an operator could).
#[derive(Clone, Copy)]
enum KvAt<'a> {
    /// Spin key-value: `sqlite_key_value.db` in this state dir.
    StateDir(&'a Path),
    /// Redis at this `host:port`.
    Redis(&'a str),
}

struct User {
    mobile: String,
    password: String,
    /// `ihome_session=…`
    cookie: String,
}

/// Registers a bench user with the harness's [`ihome_tests::register_through_api`],
/// the captcha's code read where the app keeps it.
fn register(base: &str, kv: KvAt, sms: &SmsGateway) -> anyhow::Result<User> {
    let mut rng = rand::thread_rng();
    let mobile = format!("13{:09}", rng.gen_range(0..1_000_000_000u64));
    let password = format!("bench-pw-{}", rng.gen_range(10_000_000..99_999_999));
    let captcha = |uuid: &str| captcha_code(kv, uuid).map_err(|e| format!("{e:#}"));
    let api = |path: &str| format!("{base}/api/v1.0{path}");
    let registered = ihome_tests::register_through_api(
        &client()?,
        &api,
        &ihome_tests::Registration {
            mobile: &mobile,
            password: &password,
            captcha_code: &captcha,
            sms,
        },
    )
    .map_err(anyhow::Error::msg)?;
    Ok(User {
        mobile,
        password,
        cookie: registered.cookie,
    })
}

/// The code of captcha `uuid`, read from the app's key-value store as an
/// operator could.
fn captcha_code(kv: KvAt, uuid: &str) -> anyhow::Result<String> {
    let key = format!("captcha:{uuid}");
    let entry: Value = serde_json::from_slice(&match kv {
        KvAt::StateDir(state) => {
            let kv = rusqlite::Connection::open(state.join("sqlite_key_value.db"))?;
            kv.busy_timeout(Duration::from_secs(10))?;
            let raw: Vec<u8> = kv
                .query_row(
                    "SELECT value FROM spin_key_value WHERE store = 'default' AND key = ?1",
                    [&key],
                    |r| r.get(0),
                )
                .context("captcha entry in the KV store")?;
            let (_, value) = ihome_shared::store::spin_kv::decode_entry(&raw)
                .context("captcha entry in the app's KV format")?;
            value.to_vec()
        }
        KvAt::Redis(authority) => ihome_tests::redis_command(authority, &[b"GET", key.as_bytes()])
            .context("captcha entry in Redis")?,
    })?;
    Ok(entry["code"]
        .as_str()
        .context("captcha entry has a code")?
        .to_string())
}

fn median_f64(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// target/component-sizes.txt, written by scripts/build-components.
fn component_sizes(root: &Path) -> anyhow::Result<Value> {
    let path = root.join("target/component-sizes.txt");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut components = Vec::new();
    let mut total = 0u64;
    let mut app_total = 0u64;
    for line in text.lines().skip(1) {
        let mut it = line.split_whitespace();
        let (Some(name), Some(bytes)) = (it.next(), it.next().and_then(|b| b.parse::<u64>().ok()))
        else {
            continue;
        };
        if name == "TOTAL" {
            total = bytes;
        } else {
            // functions/* are the app; tests/components/* (noop, host-probe) are not shipped.
            let app = root.join("functions").join(name).is_dir();
            if app {
                app_total += bytes;
            }
            components.push(json!({"name": name, "bytes": bytes, "app": app}));
        }
    }
    Ok(json!({"components": components, "total_bytes": total, "app_total_bytes": app_total}))
}

fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_default();
    let free = Command::new("free")
        .arg("-h")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let nproc = thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    // Read at the end of the run: how busy the machine was besides us.
    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    json!({"nproc": nproc, "cpu_model": cpu, "free_h": free, "kernel": kernel.trim(),
           "loadavg_at_end": loadavg.trim()})
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(0.0)
}

fn render_table(r: &Value) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "iHome benchmark ({} mode, {})",
        r["mode"].as_str().unwrap_or(""),
        r["date"].as_str().unwrap_or("")
    );
    let seed = &r["seed"];
    let _ = writeln!(
        t,
        "data: {} houses, {} orders, {} seeded + {} registered users; {} s per run",
        seed["houses"], seed["orders"], seed["users"], r["registered_users"], r["plan"]["seconds"]
    );
    let _ = writeln!(t);
    let _ = writeln!(
        t,
        "| scenario | target | conns | req/s | p50 ms | p99 ms | errors |"
    );
    let _ = writeln!(t, "|---|---|---:|---:|---:|---:|---:|");
    for run in r["runs"].as_array().into_iter().flatten() {
        let _ = writeln!(
            t,
            "| {} | {} | {} | {:.0} | {:.3} | {:.3} | {} |",
            run["scenario"].as_str().unwrap_or(""),
            run["target"].as_str().unwrap_or(""),
            run["connections"],
            f(&run["rps"]),
            f(&run["p50_us"]) / 1e3,
            f(&run["p99_us"]) / 1e3,
            run["errors"]
        );
    }
    let _ = writeln!(t);
    let sv = &r["servers"];
    if let Some(why) = sv["skipped"].as_str() {
        let _ = writeln!(t, "Server backend ({PG_ONE}, {PG_TWO}): skipped ({why}).");
        let _ = writeln!(t);
    } else if !sv.is_null() {
        let rows: u64 = sv["copied"]["tables"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t[1].as_u64())
            .sum();
        let _ = writeln!(
            t,
            "{PG_ONE}: the same edge-host and components on PostgreSQL {} + Redis {} (loopback, \
             durability off; {rows} rows copied from the seeded SQLite file before any load). \
             {PG_TWO}: two edge-host instances on the same servers, two wrk processes at once \
             with half the connections each: req/s is their sum, p50/p99 the worse of the two.",
            sv["postgres_version"].as_str().unwrap_or("?"),
            sv["redis_version"].as_str().unwrap_or("?"),
        );
        let _ = writeln!(t);
    }
    for (key, baseline) in [("ratios", "native"), ("spin_ratios", "spin")] {
        let rows = r[key].as_array().cloned().unwrap_or_default();
        if rows.is_empty() {
            continue;
        }
        let _ = writeln!(
            t,
            "| edge/{baseline} (same run) | conns | edge req/s | {baseline} req/s | ratio |"
        );
        let _ = writeln!(t, "|---|---:|---:|---:|---:|");
        for x in rows {
            let _ = writeln!(
                t,
                "| {} | {} | {:.0} | {:.0} | {:.2} |",
                x["scenario"].as_str().unwrap_or(""),
                x["connections"],
                f(&x["edge_rps"]),
                f(&x["baseline_rps"]),
                f(&x["ratio"])
            );
        }
        let _ = writeln!(t);
    }
    let rows = r["server_ratios"].as_array().cloned().unwrap_or_default();
    if !rows.is_empty() {
        let opt = |v: &Value, digits: usize| match v.as_f64() {
            Some(x) => format!("{x:.digits$}"),
            None => "–".to_string(),
        };
        let _ = writeln!(
            t,
            "| servers vs embedded (same run) | conns | edge req/s | {PG_ONE} req/s | {PG_ONE}/edge | {PG_TWO} req/s | {PG_TWO}/edge | {PG_TWO}/{PG_ONE} |"
        );
        let _ = writeln!(t, "|---|---:|---:|---:|---:|---:|---:|---:|");
        for x in rows {
            let _ = writeln!(
                t,
                "| {} | {} | {:.0} | {:.0} | {:.2} | {} | {} | {} |",
                x["scenario"].as_str().unwrap_or(""),
                x["connections"],
                f(&x["embedded_rps"]),
                f(&x["pg_rps"]),
                f(&x["pg_vs_embedded"]),
                opt(&x["pg2_rps"], 0),
                opt(&x["pg2_vs_embedded"], 2),
                opt(&x["pg2_vs_pg"], 2),
            );
        }
        let _ = writeln!(t);
    }
    let h = &r["host_overhead"];
    let s = &r["startup"];
    let m = &r["memory"];
    let tg = &r["targets"];
    let _ = writeln!(t, "| measure | value |");
    let _ = writeln!(t, "|---|---:|");
    let _ = writeln!(
        t,
        "| empty component, p50 of full request (1 conn) | {} µs |",
        h["edge_noop_p50_us"]
    );
    let _ = writeln!(
        t,
        "| loopback floor: native /noop p50 (1 conn) | {} µs |",
        h["native_noop_p50_us"]
    );
    let _ = writeln!(
        t,
        "| host overhead per request (difference; target < {} µs) | {:.0} µs |",
        tg["max_overhead_us"],
        f(&h["overhead_p50_us"])
    );
    let te = &r["telemetry"];
    let _ = writeln!(
        t,
        "| house detail with an OTLP endpoint / without, 16 conns (target ≥ 0.95) | {} / {} req/s = {:.3} |",
        te["with_endpoint_rps"],
        te["without_rps"],
        f(&te["ratio"])
    );
    let _ = writeln!(
        t,
        "| edge-host CPU per house detail with an OTLP endpoint / without (target ≤ 1.05) | {:.0} / {:.0} µs = {:.3} |",
        f(&te["cpu_us_per_request_with"]),
        f(&te["cpu_us_per_request_without"]),
        f(&te["cpu_ratio"])
    );
    if let Some(sc) = r["slow_clients"].as_object() {
        let _ = writeln!(
            t,
            "| GET /areas p99 from a 2nd client while one stalls {} requests (without) | {:.1} ms ({:.1} ms, ×{:.2}) |",
            sc["stalled_opened"],
            f(&sc["attacked_p99_us"]) / 1e3,
            f(&sc["baseline_p99_us"]) / 1e3,
            f(&sc["p99_ratio"])
        );
    }
    let _ = writeln!(
        t,
        "| login (Argon2id in wasm), p50 of {} sequential | {:.1} ms |",
        r["login"]["count"],
        f(&r["login"]["p50_ms"])
    );
    let _ = writeln!(
        t,
        "| start-up cold (empty cache) → first 200 | {:.0} ms |",
        f(&s["cold_ms"])
    );
    let _ = writeln!(
        t,
        "| start-up warm (cache present) → first 200, median | {:.0} ms |",
        f(&s["warm_ms"])
    );
    let _ = writeln!(
        t,
        "| edge-host RSS idle | {:.1} MiB |",
        f(&m["edge_idle_kib"]) / 1024.0
    );
    let _ = writeln!(
        t,
        "| edge-host RSS peak at {} conns | {:.1} MiB |",
        m["peak_at_connections"],
        f(&m["edge_peak_kib"]) / 1024.0
    );
    let _ = writeln!(
        t,
        "| native-baseline RSS idle / peak | {:.1} / {:.1} MiB |",
        f(&m["native_idle_kib"]) / 1024.0,
        f(&m["native_peak_kib"]) / 1024.0
    );
    if let Some(idle) = r["servers"]["edge_pg_idle_kib"].as_f64() {
        let _ = writeln!(
            t,
            "| {PG_ONE} (one instance) RSS idle / peak at {} conns | {:.1} / {:.1} MiB |",
            m["peak_at_connections"],
            idle / 1024.0,
            f(&r["servers"]["edge_pg_peak_kib"]) / 1024.0
        );
    }
    if !m["spin_idle_kib"].is_null() {
        let _ = writeln!(
            t,
            "| real Spin RSS idle / peak | {:.1} / {:.1} MiB |",
            f(&m["spin_idle_kib"]) / 1024.0,
            f(&m["spin_peak_kib"]) / 1024.0
        );
    }
    let sizes = &r["component_sizes"];
    let comps = sizes["components"].as_array().cloned().unwrap_or_default();
    let n_app = comps.iter().filter(|c| c["app"] == true).count();
    let _ = writeln!(
        t,
        "| the app's {n_app} wasm components, total size | {:.1} KiB |",
        f(&sizes["app_total_bytes"]) / 1024.0
    );
    let _ = writeln!(
        t,
        "| worst read ratio edge/native (target ≥ {}) | {:.2} |",
        tg["min_read_ratio"],
        f(&tg["worst_read_ratio"])
    );
    let _ = writeln!(
        t,
        "| responses identical to native (areas, detail) | {} / {} |",
        r["responses_match_native"]["areas"], r["responses_match_native"]["house_detail"]
    );
    if let Some(m) = r["servers"]["responses_match_embedded"].as_object() {
        let _ = writeln!(
            t,
            "| responses identical on the server backend (areas, detail) | {} / {} |",
            m["areas"], m["house_detail"]
        );
    }
    if !r["responses_match_spin"].is_null() {
        let _ = writeln!(
            t,
            "| responses identical under real Spin (areas, detail) | {} / {} |",
            r["responses_match_spin"]["areas"], r["responses_match_spin"]["house_detail"]
        );
    }
    let _ = writeln!(t);
    let _ = writeln!(t, "| component | bytes |");
    let _ = writeln!(t, "|---|---:|");
    for c in sizes["components"].as_array().into_iter().flatten() {
        let test_only = if c["app"] == true {
            ""
        } else {
            " (test component)"
        };
        let _ = writeln!(
            t,
            "| {}{test_only} | {} |",
            c["name"].as_str().unwrap_or(""),
            c["bytes"]
        );
    }
    let _ = writeln!(
        t,
        "| the app (functions/*) | {} |",
        sizes["app_total_bytes"]
    );
    let _ = writeln!(t, "| everything built | {} |", sizes["total_bytes"]);
    t
}

fn render_markdown(r: &Value, table: &str) -> String {
    let m = &r["machine"];
    format!(
        "# Benchmark results\n\nProduced by `scripts/bench` (full mode); raw figures in `bench/results/`.\n\n## Machine\n\n- date: {}\n- nproc: {}\n- CPU: {}\n- kernel: {}\n- /proc/loadavg at the end of the run: {}\n- memory (`free -h`):\n\n```\n{}```\n\nThe load generator (wrk) runs on the same 2 cores as the server under test, so absolute req/s understate both servers; compare the edge/native ratios, which are measured minutes apart in the same run. What the figures mean and where the edge's time goes (profiles): `bench/README.md`.\n\n## Results\n\n{}",
        r["date"].as_str().unwrap_or(""),
        m["nproc"],
        m["cpu_model"].as_str().unwrap_or(""),
        m["kernel"].as_str().unwrap_or(""),
        m["loadavg_at_end"].as_str().unwrap_or("not recorded"),
        m["free_h"].as_str().unwrap_or(""),
        table
    )
}
