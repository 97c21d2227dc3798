//! 102 QUERY_FETCH_ONE / 103 QUERY_UPDATE (tracker).
//!
//! Request: `group[16] | remote_filename` (no NUL, `22 <= len < 128`).
//! Response: `group[16] | ip[15 or 45] | port i64`, 39 or 69 bytes.
//! The tracker never checks that the file exists.

use std::net::SocketAddr;

use crate::file_id::FileId;
use crate::proto::{
    GROUP_NAME_LEN, INT_LEN, ProtoError, TRACKER_IPV4_LEN, TRACKER_IPV6_LEN, field,
};

use super::Expect;

/// Any storage that can serve reads of the file.
pub const CMD_FETCH_ONE: u8 = 102;
/// The file's source storage if writable, else any writable one (used for delete).
pub const CMD_UPDATE: u8 = 103;
const IPV4_LEN: u64 = (GROUP_NAME_LEN + TRACKER_IPV4_LEN + INT_LEN) as u64;
const IPV6_LEN: u64 = (GROUP_NAME_LEN + TRACKER_IPV6_LEN + INT_LEN) as u64;
pub const EXPECT: Expect = Expect::OneOf(&[IPV4_LEN, IPV6_LEN]);

pub fn request(cmd: u8, id: &FileId) -> Vec<u8> {
    super::group_and_name(cmd, 0, id)
}

pub fn parse_response(body: &[u8]) -> Result<SocketAddr, ProtoError> {
    EXPECT.check("query fetch", body.len() as u64)?;
    let ip_len = if body.len() as u64 == IPV4_LEN {
        TRACKER_IPV4_LEN
    } else {
        TRACKER_IPV6_LEN
    };
    let ip = field::get_ip(&body[GROUP_NAME_LEN..GROUP_NAME_LEN + ip_len], "storage ip")?;
    let port = field::get_port(&body[GROUP_NAME_LEN + ip_len..])?;
    Ok(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "group1/M00/00/00/fwAAAWsE8imAXhu_ABLWh8TuLho152.bin";

    #[test]
    fn request_bytes() {
        let id = FileId::parse(ID).unwrap();
        let req = request(CMD_FETCH_ONE, &id);
        let mut want = vec![0, 0, 0, 0, 0, 0, 0, 16 + 44, 102, 0];
        want.extend_from_slice(b"group1\0\0\0\0\0\0\0\0\0\0");
        want.extend_from_slice(b"M00/00/00/fwAAAWsE8imAXhu_ABLWh8TuLho152.bin");
        assert_eq!(req, want);
        assert_eq!(request(CMD_UPDATE, &id)[8], 103);
    }

    #[test]
    fn parses_both_layouts() {
        let mut b = b"group1\0\0\0\0\0\0\0\0\0\0".to_vec();
        b.extend_from_slice(b"127.0.0.2\0\0\0\0\0\0");
        b.extend_from_slice(&23000i64.to_be_bytes());
        assert_eq!(b.len(), 39);
        assert_eq!(
            parse_response(&b).unwrap(),
            "127.0.0.2:23000".parse().unwrap()
        );
        let mut b = b"group1\0\0\0\0\0\0\0\0\0\0".to_vec();
        field::put_fixed(&mut b, b"::1", 45);
        b.extend_from_slice(&23000i64.to_be_bytes());
        assert_eq!(b.len(), 69);
        assert_eq!(parse_response(&b).unwrap(), "[::1]:23000".parse().unwrap());
    }

    #[test]
    fn rejects_store_layout() {
        // A 40-byte body is the *store* layout, not a fetch answer.
        assert!(parse_response(&[0; 40]).is_err());
        assert!(parse_response(&[]).is_err());
    }
}
