//! Uploads that will be refused are answered before their body is read: a
//! client streaming a 50 MiB file anonymously, to a stranger's house, or
//! with a declared length over the cap hears the refusal within a second,
//! while it is still sending (issue #22), on both upload routes; a client
//! that sends everything first still hears it; a small upload by the owner
//! still goes through.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ihome_shared::images::upload::MAX_UPLOAD_BODY;
use ihome_tests::{TestApp, TestUser, json, spawn_app};
use serde_json::Value;

use crate::houses::{form_with, publish};

/// What the client declares and would send in all.
const DECLARED_BODY: u64 = 50 << 20;
/// The client sends a chunk of this size every [`SEND_PAUSE`]: a steady
/// 6.4 MB/s, so reading 40 MiB before answering (the old drain) would take
/// about 6 s, far beyond [`ANSWER_WITHIN`].
const SEND_CHUNK: usize = 64 * 1024;
const SEND_PAUSE: Duration = Duration::from_millis(10);
/// How soon a refused upload must be answered, whatever the client still sends.
const ANSWER_WITHIN: Duration = Duration::from_secs(1);

/// The answer to a refused upload: status, errno, when it came and how
/// much the client had sent by then.
struct Refusal {
    status: u16,
    errno: String,
    after: Duration,
    sent_by_then: u64,
}

/// Sends `POST path` declaring a [`DECLARED_BODY`]-byte multipart body and
/// streams it steadily from a second thread while this one reads the
/// answer, as a browser uploading a big file would.
fn refusal(app: &TestApp, path: &str, cookie: &str) -> Refusal {
    let addr = app.base.trim_start_matches("http://").to_string();
    let mut stream = TcpStream::connect(&addr).expect("connect to the host");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let started = Instant::now();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\n\
         Content-Type: multipart/form-data; boundary=x\r\n\
         Content-Length: {DECLARED_BODY}\r\nCookie: {cookie}\r\n\r\n"
    )
    .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let sent = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let sender = {
        let (sent, stop) = (sent.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut chunk = b"--x\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.jpg\"\r\n\r\n\xFF\xD8\xFF".to_vec();
            chunk.resize(SEND_CHUNK, 0);
            while sent.load(Ordering::SeqCst) < DECLARED_BODY && !stop.load(Ordering::SeqCst) {
                if writer.write_all(&chunk).is_err() {
                    break; // the host let the connection go: expected
                }
                sent.fetch_add(SEND_CHUNK as u64, Ordering::SeqCst);
                std::thread::sleep(SEND_PAUSE);
            }
        })
    };
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let (head_end, after, sent_by_then) = loop {
        match stream.read(&mut buf) {
            Ok(n) if n > 0 => answer.extend_from_slice(&buf[..n]),
            other => panic!(
                "POST {path}: no whole answer ({other:?}) after {:?}",
                String::from_utf8_lossy(&answer)
            ),
        }
        if let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n") {
            break (end + 4, started.elapsed(), sent.load(Ordering::SeqCst));
        }
    };
    let head = String::from_utf8_lossy(&answer[..head_end]).to_ascii_lowercase();
    // The hosts stream a component's answer chunked; a length is fine too.
    let length: Option<usize> = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok());
    let complete = |body: &[u8]| match length {
        Some(n) => body.len() >= n,
        None => body.ends_with(b"0\r\n\r\n"),
    };
    while !complete(&answer[head_end..]) {
        match stream.read(&mut buf) {
            Ok(n) if n > 0 => answer.extend_from_slice(&buf[..n]),
            other => panic!("POST {path}: answer cut short ({other:?})"),
        }
    }
    let body = match length {
        Some(n) => answer[head_end..head_end + n].to_vec(),
        None => dechunk(&answer[head_end..]),
    };
    stop.store(true, Ordering::SeqCst);
    let _ = stream.shutdown(std::net::Shutdown::Both);
    sender.join().unwrap();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("bad status line in {head:?}"));
    let body: Value = serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("POST {path}: answer not JSON ({e})"));
    Refusal {
        status,
        errno: body["errno"].as_str().unwrap_or_default().to_string(),
        after,
        sent_by_then,
    }
}

/// The payload of a chunked body (no trailers).
fn dechunk(mut chunked: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = chunked
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("a chunk size line");
        let size_text = String::from_utf8_lossy(&chunked[..line_end]).to_string();
        let size = usize::from_str_radix(size_text.trim(), 16).expect("a hex chunk size");
        if size == 0 {
            return out;
        }
        let data = line_end + 2;
        out.extend_from_slice(&chunked[data..data + size]);
        chunked = &chunked[data + size + 2..];
    }
}

/// A session cookie (`name=value`) for `user`, from a fresh login.
fn session_cookie(app: &TestApp, user: &TestUser) -> String {
    let login = app.client().post_json(
        &app.api("/sessions"),
        &json!({"mobile": user.mobile, "password": user.password}),
    );
    login
        .header("set-cookie")
        .and_then(|c| c.split(';').next())
        .expect("a session cookie")
        .to_string()
}

#[test]
fn refused_uploads_are_answered_before_their_body_is_read() {
    let app = spawn_app();
    let owner = app.register_verified();
    let stranger = app.register();
    let house_id = publish(&app, &owner, &form_with(json!({})));
    let (owner_cookie, stranger_cookie) = (
        session_cookie(&app, &owner),
        session_cookie(&app, &stranger),
    );
    let images = format!("/api/v1.0/houses/{house_id}/images");
    let avatar = "/api/v1.0/user/avatar";
    // Warm both components, so the first case does not time a compilation
    // or a cold instance.
    for path in [images.as_str(), avatar] {
        let warm = app.client().send_raw(
            "POST",
            &app.url(path),
            "multipart/form-data; boundary=x",
            b"",
        );
        assert_eq!(warm.status, 401, "{path}: {}", warm.text());
    }
    // (path, cookie, status, errno)
    let cases = [
        (images.as_str(), "", 401, "4101"),
        (images.as_str(), stranger_cookie.as_str(), 403, "4105"),
        (images.as_str(), owner_cookie.as_str(), 413, "4302"),
        (avatar, "", 401, "4101"),
        (avatar, stranger_cookie.as_str(), 413, "4302"),
    ];
    for (path, cookie, status, errno) in cases {
        let r = refusal(&app, path, cookie);
        eprintln!(
            "POST {path} ({status}): answered after {:?}, {} KiB sent by then",
            r.after,
            r.sent_by_then / 1024
        );
        assert_eq!((r.status, r.errno.as_str()), (status, errno), "POST {path}");
        assert!(
            r.after < ANSWER_WITHIN,
            "POST {path} ({status}): answered only after {:?}",
            r.after
        );
    }
    // The refused uploads left nothing behind, and the owner's small upload
    // still goes through.
    assert!(crate::images::house_images_in_db(&app, house_id).is_empty());
    let small = owner.client.post_multipart(
        &app.url(&images),
        "house_image",
        "a.jpg",
        crate::images::jpeg(2_000),
    );
    assert_eq!(small.errno(), "0", "{}", small.text());
    assert_eq!(crate::images::house_images_in_db(&app, house_id).len(), 1);
}

/// Refused bodies are read and dropped after the answer, so an ordinary
/// client that sends all first and reads after gets its answer, for a small
/// body (again and again on its pooled connection) as for one over the cap.
#[test]
fn a_refused_body_is_answered_to_a_client_that_sends_first() {
    let app = spawn_app();
    let client = app.client();
    let url = app.api("/user/avatar");
    for len in [64 * 1024, 64 * 1024, 64 * 1024, MAX_UPLOAD_BODY + 1] {
        let refused = client.send_raw(
            "POST",
            &url,
            "multipart/form-data; boundary=x",
            vec![b'x'; len],
        );
        refused.assert_error("4101", 401);
    }
}
