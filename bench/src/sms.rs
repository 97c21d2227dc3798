//! A loopback SMS gateway: the app is pointed at it with
//! `SPIN_VARIABLE_SMS_GATEWAY_ORIGIN`, and it records the `{"mobile","code"}`
//! it is asked to send so the benchmark can register users like a person.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// How long the gateway waits for a slow request.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest body it accepts (a code message is a few dozen bytes).
const MAX_BODY: usize = 64 * 1024;

type Codes = Arc<Mutex<HashMap<String, String>>>;

pub struct SmsGateway {
    port: u16,
    codes: Codes,
}

impl SmsGateway {
    pub fn start() -> anyhow::Result<SmsGateway> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let codes: Codes = Arc::default();
        let c = codes.clone();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let c = c.clone();
                thread::spawn(move || serve(stream, &c));
            }
        });
        Ok(SmsGateway { port, codes })
    }

    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn code_for(&self, mobile: &str) -> Option<String> {
        self.codes.lock().unwrap().get(mobile).cloned()
    }
}

fn serve(mut stream: TcpStream, codes: &Mutex<HashMap<String, String>>) {
    let _ = stream.set_read_timeout(Some(READ_TIMEOUT));
    let Ok(clone) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(clone);
    let mut content_length = 0usize;
    let mut chunked = false;
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
            break;
        }
        if let Some((k, v)) = header.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            content_length = v.trim().parse().unwrap_or(0);
        }
        if let Some((k, v)) = header.split_once(':')
            && k.eq_ignore_ascii_case("transfer-encoding")
            && v.to_ascii_lowercase().contains("chunked")
        {
            chunked = true;
        }
    }
    let body = if chunked {
        read_chunked(&mut reader)
    } else {
        let mut body = vec![0; content_length.min(MAX_BODY)];
        let _ = reader.read_exact(&mut body);
        body
    };
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body)
        && let (Some(m), Some(code)) = (v["mobile"].as_str(), v["code"].as_str())
    {
        codes
            .lock()
            .unwrap()
            .insert(m.to_string(), code.to_string());
    }
    let body = "{}";
    let _ = write!(
        stream,
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// A `Transfer-Encoding: chunked` body (outbound requests from the host may
/// stream their body without a length).
fn read_chunked(reader: &mut impl BufRead) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let mut size_line = String::new();
        if reader.read_line(&mut size_line).unwrap_or(0) == 0 {
            break;
        }
        let hex = size_line.trim().split(';').next().unwrap_or("");
        let Ok(size) = usize::from_str_radix(hex, 16) else {
            break;
        };
        if size == 0 || body.len() + size > MAX_BODY {
            break;
        }
        let mut chunk = vec![0; size];
        if reader.read_exact(&mut chunk).is_err() {
            break;
        }
        body.extend_from_slice(&chunk);
        let mut crlf = String::new();
        let _ = reader.read_line(&mut crlf);
    }
    body
}
