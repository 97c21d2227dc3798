//! 22 QUERY_FILE_INFO (storage).
//!
//! Request: `group[16] | remote_filename`, header status = flags.
//! Response: `file_size i64 | create_timestamp i64 | crc32 i64 | source_ip[16 or 46]`,
//! 40 or 70 bytes. Note the *full* IP width (16/46), unlike the tracker's 15/45.

use crate::file_id::FileId;
use crate::proto::{INT_LEN, ProtoError, STORAGE_IPV4_LEN, STORAGE_IPV6_LEN, field};

use super::Expect;

pub const CMD: u8 = 22;
/// `FDFS_QUERY_FINFO_FLAGS_NOT_CALC_CRC32`: don't make the storage read a
/// whole slave/appender file just to tell us a checksum we don't use.
pub const FLAG_NOT_CALC_CRC32: u8 = 1;
/// `FDFS_QUERY_FINFO_FLAGS_KEEP_SILENCE`: a miss is normal for us (404s),
/// so keep it out of the storage's error log.
pub const FLAG_KEEP_SILENCE: u8 = 2;
const IPV4_LEN: u64 = (3 * INT_LEN + STORAGE_IPV4_LEN) as u64;
const IPV6_LEN: u64 = (3 * INT_LEN + STORAGE_IPV6_LEN) as u64;
pub const EXPECT: Expect = Expect::OneOf(&[IPV4_LEN, IPV6_LEN]);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    pub size: u64,
    pub create_timestamp: i64,
    /// Masked to 32 bits: the wire value is a sign-extended int32.
    pub crc32: u32,
    pub source_ip: String,
}

pub fn request(id: &FileId, flags: u8) -> Vec<u8> {
    super::group_and_name(CMD, flags, id)
}

pub fn parse_response(body: &[u8]) -> Result<FileInfo, ProtoError> {
    EXPECT.check("query file info", body.len() as u64)?;
    let size = field::get_i64(body);
    let size = u64::try_from(size).map_err(|_| ProtoError::BadField {
        what: "file size",
        detail: size.to_string(),
    })?;
    Ok(FileInfo {
        size,
        create_timestamp: field::get_i64(&body[INT_LEN..]),
        crc32: (field::get_i64(&body[2 * INT_LEN..]) & 0xFFFF_FFFF) as u32,
        source_ip: field::get_fixed_str(&body[3 * INT_LEN..], "source ip")?.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_carries_flags_in_status() {
        let id = FileId::parse("group1/M00/00/00/fwAAAWsE8imAXhu_ABLWh8TuLho152.bin").unwrap();
        let r = request(&id, FLAG_NOT_CALC_CRC32 | FLAG_KEEP_SILENCE);
        assert_eq!(&r[..10], &[0, 0, 0, 0, 0, 0, 0, 60, 22, 3]);
        assert_eq!(&r[10..26], b"group1\0\0\0\0\0\0\0\0\0\0");
    }

    #[test]
    fn parses_sign_extended_crc_and_ipv4() {
        let mut b = Vec::new();
        b.extend_from_slice(&100_000i64.to_be_bytes());
        b.extend_from_slice(&1_795_486_396i64.to_be_bytes());
        b.extend_from_slice(&(0xCBF4_3926u32 as i32 as i64).to_be_bytes());
        b.extend_from_slice(b"127.0.0.1\0\0\0\0\0\0\0");
        assert_eq!(b.len(), 40);
        let i = parse_response(&b).unwrap();
        assert_eq!(i.size, 100_000);
        assert_eq!(i.create_timestamp, 1_795_486_396);
        assert_eq!(i.crc32, 0xCBF4_3926);
        assert_eq!(i.source_ip, "127.0.0.1");
    }

    #[test]
    fn parses_ipv6_and_rejects_malformed() {
        let mut b = vec![0u8; 24];
        field::put_fixed(&mut b, b"::1", 46);
        assert_eq!(parse_response(&b).unwrap().source_ip, "::1");
        // The tracker's 39-byte IPv4 width is wrong here.
        assert!(parse_response(&[0; 39]).is_err());
        let mut b = (-1i64).to_be_bytes().to_vec();
        b.resize(40, 0);
        assert!(matches!(
            parse_response(&b),
            Err(ProtoError::BadField {
                what: "file size",
                ..
            })
        ));
    }
}
