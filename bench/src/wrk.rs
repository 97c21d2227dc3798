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
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect_errors":%d,"read_errors":%d,"write_errors":%d,"status_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f,"error_sample":"%s"}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    error_sample_of_threads and error_sample_of_threads() or ""))
end
"#;

/// For the writes (bookings): every thread keeps the first response with
/// a status above 299 (status and the start of its body), and `done`
/// reports one, so a failed run says why. Reads don't define `response`
/// (wrk then never hands bodies to Lua: their figures stay as they were).
const ERROR_SAMPLE_HOOK: &str = r#"
local threads = {}
local setup_numbering = setup
function setup(thread)
  if setup_numbering then setup_numbering(thread) end
  table.insert(threads, thread)
end
function response(status, headers, body)
  if status > 299 and not error_sample then
    error_sample = status .. " " .. string.sub(string.gsub(body or "", '[%c"\\]', " "), 1, 200)
  end
end
function error_sample_of_threads()
  for _, t in ipairs(threads) do
    local s = t:get("error_sample")
    if s then return s end
  end
  return ""
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
    /// One failed response (status and the start of its body), for the
    /// loads that collect one (bookings); empty otherwise.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub error_sample: String,
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

/// Numbers the requests over all threads of all wrk processes of a run:
/// thread `tid` of `threads` in process `stripe` of `stripes` is global
/// thread `g = tid * stripes + stripe` of `T = threads * stripes` and sends
/// requests `offset + g`, `offset + g + T`, … (`next_index`), so the loads
/// that must never repeat a request (bookings, new searches) can derive each
/// request from its number, even with two wrk processes at once. One
/// process is stripe 0 of 1: `offset + tid + threads * sent`.
const REQUEST_NUMBERING: &str = r#"
local next_tid = 0
function setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
end
local sent = 0
function next_index(offset, threads)
  local k = offset + tid * STRIPES + STRIPE + threads * STRIPES * sent
  sent = sent + 1
  return k
end
"#;

/// Which of the wrk processes running one load at once this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stripe {
    pub index: usize,
    pub of: usize,
}

impl Stripe {
    /// The only process of a run.
    pub const WHOLE: Stripe = Stripe { index: 0, of: 1 };

    fn numbering(self) -> String {
        REQUEST_NUMBERING
            .replace("STRIPES", &self.of.to_string())
            .replace("STRIPE", &self.index.to_string())
    }
}

fn lua_string(s: &str) -> String {
    format!("{s:?}")
}

pub fn threads_for(connections: usize) -> usize {
    connections.clamp(1, MAX_THREADS)
}

fn script(load: &Load, threads: usize, stripe: Stripe) -> String {
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
            s += &stripe.numbering();
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
            s += ERROR_SAMPLE_HOOK;
        }
        Load::Searches {
            areas,
            first_day,
            days,
            nights,
            offset,
        } => {
            s += &stripe.numbering();
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
    run_striped(
        url,
        load,
        connections,
        threads_for(connections),
        Stripe::WHOLE,
        seconds,
        work_dir,
    )
}

/// Runs one wrk process per url at the same time, `connections[i]` against
/// `urls[i]`, the load's requests striped over them (no two processes ever
/// send the same request number). Each process gets an equal share of
/// [`MAX_THREADS`] (at least one thread), so the load generator uses as
/// many threads as a single [`run`] does. Returns the summaries in `urls`'
/// order.
pub fn run_parallel(
    urls: &[String],
    load: &Load,
    connections: &[usize],
    seconds: u64,
    work_dir: &Path,
) -> anyhow::Result<Vec<Summary>> {
    assert_eq!(
        urls.len(),
        connections.len(),
        "one connection count per url"
    );
    let of = urls.len();
    let threads = parallel_threads(of);
    // The numbering strides by `threads * of`: every process needs as many.
    anyhow::ensure!(
        connections.iter().all(|&c| c >= threads),
        "each of {of} wrk processes needs at least {threads} connection(s), got {connections:?}"
    );
    std::thread::scope(|scope| {
        let handles: Vec<_> = urls
            .iter()
            .zip(connections)
            .enumerate()
            .map(|(index, (url, &c))| {
                scope.spawn(move || {
                    run_striped(
                        url,
                        load,
                        c,
                        threads,
                        Stripe { index, of },
                        seconds,
                        work_dir,
                    )
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| anyhow::anyhow!("a wrk thread panicked"))?
            })
            .collect()
    })
}

/// Threads per wrk process when `processes` run at once.
pub fn parallel_threads(processes: usize) -> usize {
    (MAX_THREADS / processes.max(1)).max(1)
}

fn run_striped(
    url: &str,
    load: &Load,
    connections: usize,
    threads: usize,
    stripe: Stripe,
    seconds: u64,
    work_dir: &Path,
) -> anyhow::Result<Summary> {
    let threads = threads.clamp(1, connections.max(1));
    let script_path = work_dir.join(format!("wrk-{}-{}.lua", std::process::id(), stripe.index));
    std::fs::write(&script_path, script(load, threads, stripe))?;
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

/// [`next_offset`] after a [`run_parallel`] with these `connections`.
pub fn next_offset_parallel(offset: u64, summaries: &[Summary], connections: &[usize]) -> u64 {
    let per_process = parallel_threads(connections.len());
    let threads: usize = connections
        .iter()
        .map(|&c| per_process.clamp(1, c.max(1)))
        .sum();
    let requests: u64 = summaries.iter().map(|s| s.requests).sum();
    let connections: usize = connections.iter().sum();
    offset + threads as u64 * (requests + connections as u64 + 1)
}

impl Summary {
    /// One summary for wrk processes that ran at once against several
    /// servers: counts summed, the longest duration, and each latency
    /// percentile the worst of the processes' (a percentile of the merged
    /// distribution is not recoverable from theirs; the worst is an upper
    /// bound). Throughput: [`Summary::rps_sum`].
    pub fn combine(parts: &[Summary]) -> Summary {
        let sum = |f: fn(&Summary) -> u64| parts.iter().map(f).sum::<u64>();
        let max = |f: fn(&Summary) -> u64| parts.iter().map(f).max().unwrap_or(0);
        let requests = sum(|s| s.requests);
        let mean_us = if requests == 0 {
            0.0
        } else {
            parts
                .iter()
                .map(|s| s.mean_us * s.requests as f64)
                .sum::<f64>()
                / requests as f64
        };
        Summary {
            requests,
            duration_us: max(|s| s.duration_us),
            bytes: sum(|s| s.bytes),
            connect_errors: sum(|s| s.connect_errors),
            read_errors: sum(|s| s.read_errors),
            write_errors: sum(|s| s.write_errors),
            status_errors: sum(|s| s.status_errors),
            timeouts: sum(|s| s.timeouts),
            p50_us: max(|s| s.p50_us),
            p90_us: max(|s| s.p90_us),
            p99_us: max(|s| s.p99_us),
            max_us: max(|s| s.max_us),
            mean_us,
            error_sample: parts
                .iter()
                .map(|s| s.error_sample.clone())
                .find(|s| !s.is_empty())
                .unwrap_or_default(),
        }
    }

    /// Throughput of processes that ran at once: the sum of each one's.
    pub fn rps_sum(parts: &[Summary]) -> f64 {
        parts.iter().map(Summary::rps).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The request numbers the Lua numbering gives, computed the same way.
    fn numbers(stripe: Stripe, threads: u64, per_thread: u64, offset: u64) -> Vec<u64> {
        let of = stripe.of as u64;
        let mut k = Vec::new();
        for tid in 0..threads {
            for sent in 0..per_thread {
                k.push(offset + tid * of + stripe.index as u64 + threads * of * sent);
            }
        }
        k
    }

    #[test]
    fn striped_processes_never_share_a_request_number() {
        let mut all: Vec<u64> = (0..2)
            .flat_map(|index| numbers(Stripe { index, of: 2 }, 1, 50, 7))
            .collect();
        all.sort();
        assert_eq!(all, (7..107).collect::<Vec<_>>());
        let whole = numbers(Stripe::WHOLE, 2, 3, 0);
        let mut sorted = whole.clone();
        sorted.sort();
        assert_eq!(sorted, (0..6).collect::<Vec<_>>());
    }

    #[test]
    fn the_numbering_script_names_its_stripe() {
        let lua = Stripe { index: 1, of: 2 }.numbering();
        assert!(
            lua.contains("offset + tid * 2 + 1 + threads * 2 * sent"),
            "{lua}"
        );
        let lua = Stripe::WHOLE.numbering();
        assert!(
            lua.contains("offset + tid * 1 + 0 + threads * 1 * sent"),
            "{lua}"
        );
    }

    #[test]
    fn combined_summaries_sum_counts_and_keep_the_worst_latency() {
        let part = |requests, p99_us| Summary {
            requests,
            duration_us: 1_000_000,
            bytes: 10,
            connect_errors: 0,
            read_errors: 0,
            write_errors: 0,
            status_errors: 1,
            timeouts: 0,
            p50_us: p99_us / 2,
            p90_us: p99_us,
            p99_us,
            max_us: p99_us,
            mean_us: 1.0,
            error_sample: String::new(),
        };
        let parts = [part(100, 400), part(300, 200)];
        let c = Summary::combine(&parts);
        assert_eq!(
            (c.requests, c.status_errors, c.p99_us, c.p50_us),
            (400, 2, 400, 200)
        );
        assert_eq!(Summary::rps_sum(&parts), 400.0);
    }

    /// A real wrk run (skipped when wrk is not installed) against a server
    /// that refuses every booking: the run counts the failures and says why.
    #[test]
    fn a_failed_booking_run_reports_a_sample() {
        use std::io::{BufRead, BufReader, Write};
        if Command::new("wrk").arg("--version").output().is_err() {
            eprintln!("skipped: no wrk");
            return;
        }
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/api/v1.0/orders", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut stream = stream;
                    loop {
                        let mut len = 0;
                        loop {
                            let mut line = String::new();
                            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                                return;
                            }
                            if let Some(v) =
                                line.to_ascii_lowercase().strip_prefix("content-length:")
                            {
                                len = v.trim().parse().unwrap();
                            }
                            if line == "\r\n" {
                                break;
                            }
                        }
                        let mut body = vec![0; len];
                        std::io::Read::read_exact(&mut reader, &mut body).unwrap();
                        let reply = r#"{"errno":"4004","errmsg":"taken \"nights\""}"#;
                        let _ = write!(
                            stream,
                            "HTTP/1.1 409 Conflict\r\nContent-Length: {}\r\n\r\n{reply}",
                            reply.len()
                        );
                    }
                });
            }
        });
        let load = Load::Bookings {
            cookies: vec!["ihome_session=x".into()],
            first_house: 1,
            houses: 10,
            first_day: 20_000,
            nights: 3,
            offset: 0,
        };
        let dir = std::env::temp_dir().join(format!("ihome-bench-wrk-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let s = run(&url, &load, 2, 1, &dir);
        let _ = std::fs::remove_dir_all(&dir);
        let s = s.unwrap();
        assert!(s.requests > 0 && s.status_errors == s.requests, "{s:?}");
        assert!(s.error_sample.starts_with("409 {"), "{s:?}");
        assert!(s.error_sample.contains("4004"), "{s:?}");
    }
}
