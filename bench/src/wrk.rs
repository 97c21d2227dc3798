//! Load runs with wrk (Debian's `wrk` package): a generated Lua script sets
//! the method, headers and (for bookings) a distinct body per request, and
//! its `done` hook prints the summary as one JSON line we parse.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

/// wrk threads never exceed this: the machine has 2 cores, and the server
/// under test needs them as much as the load generator does.
pub const MAX_THREADS: usize = 2;
/// Marker of the summary line the Lua `done` hook prints.
const SUMMARY_MARKER: &str = "BENCH_JSON ";
/// A request slower than this counts as a timeout (wrk's own default is 2 s,
/// too short for logins under load).
pub const REQUEST_TIMEOUT_SECS: u64 = 10;

const DONE_HOOK: &str = r#"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect_errors":%d,"read_errors":%d,"write_errors":%d,"status_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
"#;

/// What one request looks like.
#[derive(Clone, Debug)]
pub enum Load {
    /// The same GET every time, with optional extra headers.
    Get { headers: Vec<(String, String)> },
    /// POST /orders: request k (over all threads, plus `offset`) books house
    /// `first_house + k % houses` for `nights` nights from day
    /// `first_day + (k / houses) * nights` (days since 1970), so no two
    /// requests ever ask for the same nights of the same house, as the
    /// guest whose session is `cookies[k % cookies.len()]`.
    Bookings {
        cookies: Vec<String>,
        first_house: i64,
        houses: i64,
        first_day: i64,
        nights: i64,
        offset: u64,
    },
    /// GET /houses where request k (over all threads, plus `offset`) asks
    /// area `1 + k % areas` for a `nights`-night stay from day `first_day +
    /// (k / areas) % days` (days since 1970), sorted by price: every request
    /// a query no earlier request of the run asked (while `k < areas *
    /// days`), so each one misses the search cache and measures the query.
    Searches {
        areas: i64,
        first_day: i64,
        days: i64,
        nights: i64,
        offset: u64,
    },
}

/// The summary of one run, as wrk's Lua API reports it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Summary {
    pub requests: u64,
    pub duration_us: u64,
    pub bytes: u64,
    pub connect_errors: u64,
    pub read_errors: u64,
    pub write_errors: u64,
    /// Responses with status > 399.
    pub status_errors: u64,
    pub timeouts: u64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
    pub mean_us: f64,
}

impl Summary {
    pub fn rps(&self) -> f64 {
        if self.duration_us == 0 {
            0.0
        } else {
            self.requests as f64 * 1e6 / self.duration_us as f64
        }
    }

    pub fn errors(&self) -> u64 {
        self.connect_errors
            + self.read_errors
            + self.write_errors
            + self.status_errors
            + self.timeouts
    }
}

/// Numbers the requests over all threads: thread `tid` of `threads` sends
/// requests `offset + tid`, `offset + tid + threads`, … (`next_index`), so
/// the loads that must never repeat a request (bookings, new searches) can
/// derive each request from its number.
const REQUEST_NUMBERING: &str = r#"
local next_tid = 0
function setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
end
local sent = 0
function next_index(offset, threads)
  local k = offset + tid + threads * sent
  sent = sent + 1
  return k
end
"#;

fn lua_string(s: &str) -> String {
    format!("{s:?}")
}

pub fn threads_for(connections: usize) -> usize {
    connections.clamp(1, MAX_THREADS)
}

fn script(load: &Load, threads: usize) -> String {
    let mut s = String::new();
    match load {
        Load::Get { headers } => {
            for (k, v) in headers {
                s += &format!("wrk.headers[{}] = {}\n", lua_string(k), lua_string(v));
            }
        }
        Load::Bookings {
            cookies,
            first_house,
            houses,
            first_day,
            nights,
            offset,
        } => {
            s += REQUEST_NUMBERING;
            s += &format!(
                r#"
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local cookies = {{ {cookies} }}
function request()
  local k = next_index({offset}, {threads})
  wrk.headers["Cookie"] = cookies[(k % #cookies) + 1]
  local house = {first_house} + (k % {houses})
  local day = {first_day} + math.floor(k / {houses}) * {nights}
  local body = string.format('{{"house_id":%d,"start_date":"%s","end_date":"%s"}}',
    house, os.date("!%Y-%m-%d", day * 86400), os.date("!%Y-%m-%d", (day + {nights}) * 86400))
  return wrk.format(nil, nil, nil, body)
end
"#,
                cookies = cookies
                    .iter()
                    .map(|c| lua_string(c))
                    .collect::<Vec<_>>()
                    .join(", "),
            );
        }
        Load::Searches {
            areas,
            first_day,
            days,
            nights,
            offset,
        } => {
            s += REQUEST_NUMBERING;
            s += &format!(
                r#"
function request()
  local k = next_index({offset}, {threads})
  local area = 1 + (k % {areas})
  local day = {first_day} + (math.floor(k / {areas}) % {days})
  local path = string.format('/api/v1.0/houses?aid=%d&sd=%s&ed=%s&sk=price-inc&p=1', area,
    os.date("!%Y-%m-%d", day * 86400), os.date("!%Y-%m-%d", (day + {nights}) * 86400))
  return wrk.format("GET", path)
end
"#
            );
        }
    }
    s + DONE_HOOK
}

/// Runs wrk against `url` and returns its summary.
pub fn run(
    url: &str,
    load: &Load,
    connections: usize,
    seconds: u64,
    work_dir: &Path,
) -> anyhow::Result<Summary> {
    let threads = threads_for(connections);
    let script_path = work_dir.join(format!("wrk-{}.lua", std::process::id()));
    std::fs::write(&script_path, script(load, threads))?;
    let out = Command::new("wrk")
        .arg(format!("-t{threads}"))
        .arg(format!("-c{connections}"))
        .arg(format!("-d{seconds}s"))
        .arg(format!("--timeout={REQUEST_TIMEOUT_SECS}s"))
        .arg("-s")
        .arg(&script_path)
        .arg(url)
        .output()
        .context("running wrk (is it installed? scripts/bench installs it)")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "wrk failed ({}): {}{}",
            out.status,
            stdout,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix(SUMMARY_MARKER))
        .with_context(|| format!("wrk printed no summary:\n{stdout}"))?;
    serde_json::from_str(line).with_context(|| format!("parsing wrk summary {line}"))
}

/// The highest request index a run of a changing load can have used, so the next run
/// starts after it: every thread sends at most `requests + connections`
/// (completed plus in flight when the run stopped).
pub fn next_offset(offset: u64, summary: &Summary, connections: usize) -> u64 {
    let threads = threads_for(connections) as u64;
    offset + threads * (summary.requests + connections as u64 + 1)
}
