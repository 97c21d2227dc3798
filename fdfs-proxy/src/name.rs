//! FastDFS file-name generation and decoding (`storage_gen_filename`).
//!
//! The 27-character part of a name is base64 (FastDFS alphabet: standard
//! with `+`→`-`, `/`→`_`, no padding) of 20 bytes:
//!
//! ```text
//! source ip  u32 BE (inet_addr order: 127.0.0.1 = 7f000001)
//! timestamp  i32 BE
//! file size  i64 BE (for < 4 GiB: bit 63 set, 23 random bits at 32..55, size in the low 32)
//! crc32      i32 BE
//! ```
//!
//! The embedded local store issues names with exactly this layout so ids are
//! interchangeable with those of a real storage server.

use std::net::Ipv4Addr;

use base64::Engine;
use base64::alphabet::URL_SAFE;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use rand::Rng;

use crate::file_id::BASE64_NAME_LEN;
use crate::proto::EXT_NAME_LEN;

/// FastDFS's base64: URL-safe alphabet (`-`, `_`), no padding emitted.
/// Trailing bits are allowed on decode because the C decoder ignores them.
const FDFS_BASE64: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(true),
);

/// Bytes encoded in the 27-character name part.
const ENCODED_LEN: usize = 20;
/// Bit 63 of the size field: the upper half is random (`COMBINE_RAND_FILE_SIZE`).
const SIZE_RAND_FLAG: u64 = 1 << 63;
/// `rand() & 0x007FFFFF`: the random bits `COMBINE_RAND_FILE_SIZE` puts above the size.
const SIZE_RAND_MASK: u32 = 0x007F_FFFF;
/// `FDFS_APPENDER_FILE_SIZE` (`INFINITE_FILE_SIZE`): appender files.
const APPENDER_FLAG: u64 = 1 << 58;
/// `FDFS_TRUNK_FILE_MARK_SIZE`: files stored inside a trunk file.
const TRUNK_FLAG: u64 = 1 << 59;
/// Files of this size and above store the raw size (no random bits).
const RAND_SIZE_LIMIT: u64 = 1 << 32;

/// What a file name says about its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameInfo {
    pub source_ip: Ipv4Addr,
    pub timestamp: u32,
    /// The raw 64-bit size field, flags and random bits included.
    pub raw_size: u64,
    pub crc32: u32,
}

impl NameInfo {
    /// The true file size, or `None` for appender/trunk names whose size the
    /// name cannot tell (the reference client asks the server for those).
    pub fn file_size(&self) -> Option<u64> {
        if self.raw_size & SIZE_RAND_FLAG != 0 {
            Some(self.raw_size & 0xFFFF_FFFF)
        } else if self.raw_size & (APPENDER_FLAG | TRUNK_FLAG) != 0 {
            None
        } else {
            Some(self.raw_size)
        }
    }

    pub fn encode(&self) -> String {
        let mut b = [0u8; ENCODED_LEN];
        b[0..4].copy_from_slice(&self.source_ip.octets());
        b[4..8].copy_from_slice(&self.timestamp.to_be_bytes());
        b[8..16].copy_from_slice(&self.raw_size.to_be_bytes());
        b[16..20].copy_from_slice(&self.crc32.to_be_bytes());
        FDFS_BASE64.encode(b)
    }

    /// Decodes the 27-character part (longer input is cut at 27).
    pub fn decode(name: &str) -> Option<NameInfo> {
        let part = name.get(..BASE64_NAME_LEN)?;
        let b = FDFS_BASE64.decode(part).ok()?;
        if b.len() != ENCODED_LEN {
            return None;
        }
        let u32_at = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let mut size = [0u8; 8];
        size.copy_from_slice(&b[8..16]);
        Some(NameInfo {
            source_ip: Ipv4Addr::from(u32_at(0)),
            timestamp: u32_at(4),
            raw_size: u64::from_be_bytes(size),
            crc32: u32_at(16),
        })
    }
}

/// `COMBINE_RAND_FILE_SIZE`: hides small sizes behind random upper bits.
pub fn combine_rand_size(size: u64, rand_bits: u32) -> u64 {
    if size >= RAND_SIZE_LIMIT {
        return size;
    }
    let upper = u64::from((rand_bits & SIZE_RAND_MASK) | 0x8000_0000);
    (upper << 32) | size
}

/// `storage_format_ext_name`: `6 - len(ext)` random digits, `.`, ext; or 7
/// random digits without an ext. Either way 7 characters, which is what makes
/// a normal name 44 long.
pub fn formatted_ext<R: Rng>(ext: &str, rng: &mut R) -> String {
    let pad = if ext.is_empty() {
        EXT_NAME_LEN + 1
    } else {
        EXT_NAME_LEN.saturating_sub(ext.len())
    };
    let mut s: String = (0..pad)
        .map(|_| char::from(b'0' + rng.gen_range(0..10u8)))
        .collect();
    if !ext.is_empty() {
        s.push('.');
        s.push_str(ext);
    }
    s
}

/// A full remote file name: `Mxx/HH/HH/<27 base64><formatted ext>`.
pub fn remote_filename<R: Rng>(
    store_path_index: u8,
    sub_dirs: (u8, u8),
    info: &NameInfo,
    ext: &str,
    rng: &mut R,
) -> String {
    format!(
        "M{store_path_index:02X}/{:02X}/{:02X}/{}{}",
        sub_dirs.0,
        sub_dirs.1,
        info.encode(),
        formatted_ext(ext, rng)
    )
}

/// Is `ext` acceptable on the wire? At most 6 chars of `[A-Za-z0-9_.-]`
/// (`fdfs_validate_filename`), no leading dot; empty is allowed.
pub fn valid_ext(ext: &str) -> bool {
    ext.len() <= EXT_NAME_LEN
        && !ext.starts_with('.')
        && !ext.contains("..")
        && ext
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// `fdfs_get_file_ext_name`: the part after the last `.` of an uploaded
/// file's name if it is a valid ext, else none. (`a.tar.gz` gives `gz`; the
/// two-part form is only kept when it fits in 6 characters.)
pub fn ext_from_filename(name: &str) -> Option<String> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let (stem, ext) = base.rsplit_once('.')?;
    if ext.is_empty() || !valid_ext(ext) {
        return None;
    }
    if let Some((_, prev)) = stem.rsplit_once('.') {
        let two = format!("{prev}.{ext}");
        if !prev.is_empty() && valid_ext(&two) {
            return Some(two);
        }
    }
    Some(ext.to_owned())
}

/// CRC-32 (IEEE 802.3, the zlib/`crc32()` FastDFS uses), incremental.
#[derive(Debug, Clone, Copy)]
pub struct Crc32(u32);

const CRC32_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

impl Default for Crc32 {
    fn default() -> Self {
        Crc32(0xFFFF_FFFF)
    }
}

impl Crc32 {
    pub fn update(&mut self, data: &[u8]) {
        let mut c = self.0;
        for &b in data {
            c = CRC32_TABLE[((c ^ u32::from(b)) & 0xFF) as usize] ^ (c >> 8);
        }
        self.0 = c;
    }

    pub fn finish(&self) -> u32 {
        self.0 ^ 0xFFFF_FFFF
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn decodes_doc_example() {
        let info = NameInfo::decode("fwAAAWsE8ryAbhL0AAGGoBoeNGU").unwrap();
        assert_eq!(info.source_ip, Ipv4Addr::new(127, 0, 0, 1));
        assert_eq!(info.timestamp, 1_795_486_396);
        assert_eq!(info.raw_size, 0x806e_12f4_0001_86a0);
        assert_eq!(info.file_size(), Some(100_000));
        assert_eq!(info.crc32, 0x1a1e_3465);
        assert_eq!(info.encode(), "fwAAAWsE8ryAbhL0AAGGoBoeNGU");
    }

    #[test]
    fn decodes_names_with_ext_suffix() {
        let info = NameInfo::decode("fwAAAWsE8pWAQYFLAAGGoKLaA6k503.txt").unwrap();
        assert_eq!(info.file_size(), Some(100_000));
        assert!(NameInfo::decode("short").is_none());
        assert!(NameInfo::decode("fwAAAWsE8ryAbhL0AAGGoBoeN*U").is_none());
    }

    #[test]
    fn size_flags() {
        let big = NameInfo {
            source_ip: Ipv4Addr::LOCALHOST,
            timestamp: 0,
            raw_size: 5 << 32,
            crc32: 0,
        };
        assert_eq!(big.file_size(), Some(5 << 32));
        let appender = NameInfo {
            raw_size: APPENDER_FLAG,
            ..big
        };
        assert_eq!(appender.file_size(), None);
        assert_eq!(
            combine_rand_size(100_000, 0x006e_12f4),
            0x806e_12f4_0001_86a0
        );
        // Random bits beyond the 23-bit mask never leak into the flags.
        assert_eq!(combine_rand_size(1, u32::MAX) >> 32, 0x807F_FFFF);
        assert_eq!(combine_rand_size(RAND_SIZE_LIMIT, 7), RAND_SIZE_LIMIT);
    }

    #[test]
    fn formatted_ext_shapes() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let f = formatted_ext("jpg", &mut rng);
        assert_eq!(f.len(), 7);
        assert!(f[..3].bytes().all(|b| b.is_ascii_digit()) && f.ends_with(".jpg"));
        let f = formatted_ext("", &mut rng);
        assert_eq!(f.len(), 7);
        assert!(f.bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(formatted_ext("abcdef", &mut rng), ".abcdef");
    }

    #[test]
    fn generated_names_are_valid_ids_that_decode() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        let info = NameInfo {
            source_ip: Ipv4Addr::new(10, 0, 0, 5),
            timestamp: 1_700_000_000,
            raw_size: combine_rand_size(4321, rng.r#gen()),
            crc32: 0xdead_beef,
        };
        let remote = remote_filename(0, (0xAB, 0x0C), &info, "png", &mut rng);
        assert_eq!(remote.len(), 44);
        assert!(remote.starts_with("M00/AB/0C/"));
        let id = crate::file_id::FileId::from_parts("group1", &remote).unwrap();
        let back = NameInfo::decode(id.file_name()).unwrap();
        assert_eq!(back, info);
        assert_eq!(back.file_size(), Some(4321));
        assert_eq!(id.ext(), Some("png"));
    }

    #[test]
    fn ext_rules() {
        assert!(valid_ext("") && valid_ext("jpg") && valid_ext("tar.gz") && valid_ext("abcdef"));
        assert!(
            !valid_ext("abcdefg") && !valid_ext("a/b") && !valid_ext("a b") && !valid_ext(".jpg")
        );
        assert_eq!(ext_from_filename("photo.JPG").as_deref(), Some("JPG"));
        assert_eq!(ext_from_filename("x.tar.gz").as_deref(), Some("tar.gz"));
        assert_eq!(ext_from_filename("x.backup.gz").as_deref(), Some("gz"));
        assert_eq!(ext_from_filename("C:\\dir\\a.png").as_deref(), Some("png"));
        assert_eq!(ext_from_filename("noext"), None);
        assert_eq!(ext_from_filename("a.toolongext"), None);
    }

    #[test]
    fn crc32_matches_zlib() {
        let mut c = Crc32::default();
        c.update(b"123456789");
        assert_eq!(c.finish(), 0xCBF4_3926);
        let mut split = Crc32::default();
        split.update(b"1234");
        split.update(b"56789");
        assert_eq!(split.finish(), 0xCBF4_3926);
        assert_eq!(Crc32::default().finish(), 0);
    }
}
