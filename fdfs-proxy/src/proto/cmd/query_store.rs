//! 101 QUERY_STORE_WITHOUT_GROUP_ONE / 104 QUERY_STORE_WITH_GROUP_ONE (tracker).
//!
//! Request: empty (101) or `group[16]` (104).
//! Response: `group[16] | ip[15 or 45] | port i64 | store_path_index u8`,
//! 40 bytes (IPv4 layout) or 70 bytes (IPv6 layout).

use std::net::SocketAddr;

use crate::file_id::GroupName;
use crate::proto::{
    GROUP_NAME_LEN, Header, INT_LEN, ProtoError, TRACKER_IPV4_LEN, TRACKER_IPV6_LEN, field,
};

use super::Expect;

pub const CMD_WITHOUT_GROUP: u8 = 101;
pub const CMD_WITH_GROUP: u8 = 104;
const IPV4_LEN: u64 = (GROUP_NAME_LEN + TRACKER_IPV4_LEN + INT_LEN + 1) as u64;
const IPV6_LEN: u64 = (GROUP_NAME_LEN + TRACKER_IPV6_LEN + INT_LEN + 1) as u64;
pub const EXPECT: Expect = Expect::OneOf(&[IPV4_LEN, IPV6_LEN]);

/// Where to upload: the storage server and the store path the tracker chose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreTarget {
    pub group: String,
    pub addr: SocketAddr,
    /// Passed back unchanged in UPLOAD_FILE (0xFF = "storage chooses").
    pub store_path_index: u8,
}

pub fn request(group: Option<&GroupName>) -> Vec<u8> {
    match group {
        None => Header::request(CMD_WITHOUT_GROUP, 0).encode().to_vec(),
        Some(g) => {
            let mut out = Header::request(CMD_WITH_GROUP, GROUP_NAME_LEN as u64)
                .encode()
                .to_vec();
            field::put_fixed(&mut out, g.as_str().as_bytes(), GROUP_NAME_LEN);
            out
        }
    }
}

pub fn parse_response(body: &[u8]) -> Result<StoreTarget, ProtoError> {
    EXPECT.check("query store", body.len() as u64)?;
    let ip_len = if body.len() as u64 == IPV4_LEN {
        TRACKER_IPV4_LEN
    } else {
        TRACKER_IPV6_LEN
    };
    let group = field::get_fixed_str(&body[..GROUP_NAME_LEN], "group")?.to_owned();
    let ip = field::get_ip(&body[GROUP_NAME_LEN..GROUP_NAME_LEN + ip_len], "storage ip")?;
    let port = field::get_port(&body[GROUP_NAME_LEN + ip_len..])?;
    Ok(StoreTarget {
        group,
        addr: SocketAddr::new(ip, port),
        store_path_index: body[body.len() - 1],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_bytes() {
        assert_eq!(request(None), [0, 0, 0, 0, 0, 0, 0, 0, 101, 0]);
        let g = GroupName::parse("group1").unwrap();
        let mut want = vec![0, 0, 0, 0, 0, 0, 0, 16, 104, 0];
        want.extend_from_slice(b"group1\0\0\0\0\0\0\0\0\0\0");
        assert_eq!(request(Some(&g)), want);
    }

    #[test]
    fn parses_ipv4_layout() {
        let mut b = b"group1\0\0\0\0\0\0\0\0\0\0".to_vec();
        b.extend_from_slice(b"10.0.0.5\0\0\0\0\0\0\0");
        b.extend_from_slice(&23000i64.to_be_bytes());
        b.push(0);
        assert_eq!(b.len(), 40);
        let t = parse_response(&b).unwrap();
        assert_eq!(t.group, "group1");
        assert_eq!(t.addr, "10.0.0.5:23000".parse().unwrap());
        assert_eq!(t.store_path_index, 0);
    }

    #[test]
    fn parses_full_width_fields_without_nul() {
        // 16-char group and 15-char IPv4 fill their fields completely.
        let mut b = b"abcdefghijklmnop".to_vec();
        b.extend_from_slice(b"192.168.100.200");
        b.extend_from_slice(&23000i64.to_be_bytes());
        b.push(3);
        let t = parse_response(&b).unwrap();
        assert_eq!(t.group, "abcdefghijklmnop");
        assert_eq!(t.addr, "192.168.100.200:23000".parse().unwrap());
        assert_eq!(t.store_path_index, 3);
    }

    #[test]
    fn parses_ipv6_layout() {
        let mut b = b"group2\0\0\0\0\0\0\0\0\0\0".to_vec();
        field::put_fixed(&mut b, b"fd00::2", 45);
        b.extend_from_slice(&23001i64.to_be_bytes());
        b.push(0xFF);
        assert_eq!(b.len(), 70);
        let t = parse_response(&b).unwrap();
        assert_eq!(t.addr, "[fd00::2]:23001".parse().unwrap());
        assert_eq!(t.store_path_index, 0xFF);
    }

    #[test]
    fn rejects_malformed() {
        assert!(matches!(
            parse_response(&[0; 39]),
            Err(ProtoError::BadLength { .. })
        ));
        assert!(matches!(
            parse_response(&[0; 41]),
            Err(ProtoError::BadLength { .. })
        ));
        let mut b = b"group1\0\0\0\0\0\0\0\0\0\0".to_vec();
        b.extend_from_slice(b"not-an-ip\0\0\0\0\0\0");
        b.extend_from_slice(&23000i64.to_be_bytes());
        b.push(0);
        assert!(matches!(
            parse_response(&b),
            Err(ProtoError::BadField { .. })
        ));
        let mut b = b"group1\0\0\0\0\0\0\0\0\0\0".to_vec();
        b.extend_from_slice(b"10.0.0.5\0\0\0\0\0\0\0");
        b.extend_from_slice(&(-5i64).to_be_bytes());
        b.push(0);
        assert!(matches!(
            parse_response(&b),
            Err(ProtoError::BadField { what: "port", .. })
        ));
    }
}
