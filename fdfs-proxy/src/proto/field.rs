//! Field encodings: fixed-width NUL-padded strings, int64 BE, IP addresses.
//!
//! Fixed-width strings have **no guaranteed NUL**: a 16-char group or a
//! 15-char IPv4 fills its field completely, so decoding stops at the first
//! NUL *or* the field end.

use std::net::IpAddr;

use super::{INT_LEN, ProtoError};

/// Appends `s` into a `width`-byte field: truncated if longer (the reference
/// client truncates the group at 16), NUL-padded if shorter.
pub fn put_fixed(buf: &mut Vec<u8>, s: &[u8], width: usize) {
    let n = s.len().min(width);
    buf.extend_from_slice(&s[..n]);
    buf.resize(buf.len() + (width - n), 0);
}

/// The bytes of a fixed-width field up to the first NUL.
pub fn get_fixed(field: &[u8]) -> &[u8] {
    match field.iter().position(|&b| b == 0) {
        Some(i) => &field[..i],
        None => field,
    }
}

/// A fixed-width field as UTF-8 text.
pub fn get_fixed_str<'a>(field: &'a [u8], what: &'static str) -> Result<&'a str, ProtoError> {
    std::str::from_utf8(get_fixed(field)).map_err(|_| ProtoError::BadField {
        what,
        detail: format!("not UTF-8: {:02x?}", get_fixed(field)),
    })
}

pub fn put_i64(buf: &mut Vec<u8>, v: i64) {
    buf.extend_from_slice(&v.to_be_bytes());
}

/// Reads an int64 BE from the start of `b` (callers have checked the length).
pub fn get_i64(b: &[u8]) -> i64 {
    let mut x = [0u8; INT_LEN];
    x.copy_from_slice(&b[..INT_LEN]);
    i64::from_be_bytes(x)
}

/// A textual IP field (`"10.0.0.5"`, `"::1"`) as an address.
pub fn get_ip(field: &[u8], what: &'static str) -> Result<IpAddr, ProtoError> {
    let s = get_fixed_str(field, what)?;
    s.parse().map_err(|_| ProtoError::BadField {
        what,
        detail: format!("not an IP address: {s:?}"),
    })
}

/// A port carried as int64; anything outside 1..=65535 is a protocol error.
pub fn get_port(b: &[u8]) -> Result<u16, ProtoError> {
    let v = get_i64(b);
    match u16::try_from(v) {
        Ok(p) if p != 0 => Ok(p),
        _ => Err(ProtoError::BadField {
            what: "port",
            detail: v.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_pads_and_truncates() {
        let mut b = Vec::new();
        put_fixed(&mut b, b"group1", 16);
        assert_eq!(b, b"group1\0\0\0\0\0\0\0\0\0\0");
        let mut b = Vec::new();
        put_fixed(&mut b, b"abcdefghijklmnopq", 16);
        assert_eq!(b, b"abcdefghijklmnop");
    }

    #[test]
    fn fixed_without_nul_is_whole_field() {
        assert_eq!(get_fixed(b"abcdefghijklmnop"), b"abcdefghijklmnop");
        assert_eq!(get_fixed(b"ab\0cd"), b"ab");
        assert_eq!(
            get_ip(b"192.168.100.200", "ip").unwrap().to_string(),
            "192.168.100.200"
        );
    }

    #[test]
    fn bad_ports_rejected() {
        assert!(get_port(&0i64.to_be_bytes()).is_err());
        assert!(get_port(&65536i64.to_be_bytes()).is_err());
        assert!(get_port(&(-1i64).to_be_bytes()).is_err());
        assert_eq!(get_port(&23000i64.to_be_bytes()), Ok(23000));
    }
}
