//! 90 SERVER_LIST_ONE_GROUP / 91 SERVER_LIST_ALL_GROUPS (tracker, monitoring).
//!
//! 90 request: `group[16]`; unknown group → ENOENT. 91 request: empty.
//! Response: one `TrackerGroupStat` (113 bytes) per group (`tracker_proto.h`,
//! 6.13+ layout): `group_name[17] | total_mb | free_mb | reserved_mb |
//! trunk_free_mb | storage_count | storage_port | readable_server_count |
//! writable_server_count | current_write_server | store_path_count |
//! subdir_count_per_path | current_trunk_file_id`, each integer an int64.
//!
//! The proxy uses them to tell the meanings of a tracker's ENOENT apart
//! (unknown group: the file cannot exist; known group without a readable
//! storage: the file is out of reach), to tell a store path the group does
//! not have from a real storage error, and for `/health`.

use crate::file_id::GroupName;
use crate::proto::{GROUP_NAME_LEN, Header, INT_LEN, ProtoError, field};

use super::Expect;

pub const CMD_ONE: u8 = 90;
pub const CMD_ALL: u8 = 91;
/// `FDFS_GROUP_NAME_MAX_LEN + 1`: this struct keeps the C string's NUL.
const NAME_LEN: usize = GROUP_NAME_LEN + 1;
/// Integers after the name, in order.
const INTS: usize = 12;
pub const STAT_LEN: u64 = (NAME_LEN + INTS * INT_LEN) as u64;
/// Most groups a 91 answer may list before we call it corrupt (a cluster
/// has a handful; the tracker's default buffer holds a few hundred).
pub const MAX_GROUPS: u64 = 1024;
pub const EXPECT_ONE: Expect = Expect::OneOf(&[STAT_LEN]);
pub const EXPECT_ALL: Expect = Expect::MultipleOf {
    unit: STAT_LEN,
    max: STAT_LEN * MAX_GROUPS,
};

/// Indexes of the integers we read.
const STORAGE_COUNT: usize = 4;
const READABLE_COUNT: usize = 6;
const WRITABLE_COUNT: usize = 7;
const STORE_PATH_COUNT: usize = 9;

/// What the tracker knows about one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupStat {
    pub name: String,
    /// Storages that joined the group, whatever their state.
    pub storages: i64,
    /// Storages the tracker would send reads to (ACTIVE).
    pub readable: i64,
    pub writable: i64,
    /// Store paths per storage: valid `M<HH>` are `M00`..count-1.
    pub store_paths: i64,
}

pub fn request_one(group: &GroupName) -> Vec<u8> {
    let mut out = Header::request(CMD_ONE, GROUP_NAME_LEN as u64)
        .encode()
        .to_vec();
    field::put_fixed(&mut out, group.as_str().as_bytes(), GROUP_NAME_LEN);
    out
}

pub fn request_all() -> Vec<u8> {
    Header::request(CMD_ALL, 0).encode().to_vec()
}

/// Parses a 90 or 91 answer: one stat per 113 bytes.
pub fn parse_response(body: &[u8]) -> Result<Vec<GroupStat>, ProtoError> {
    EXPECT_ALL.check("group stat", body.len() as u64)?;
    body.chunks_exact(STAT_LEN as usize)
        .map(|s| {
            let int = |i: usize| field::get_i64(&s[NAME_LEN + i * INT_LEN..]);
            Ok(GroupStat {
                name: field::get_fixed_str(&s[..NAME_LEN], "group name")?.to_owned(),
                storages: int(STORAGE_COUNT),
                readable: int(READABLE_COUNT),
                writable: int(WRITABLE_COUNT),
                store_paths: int(STORE_PATH_COUNT),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(name: &str, ints: [i64; INTS]) -> Vec<u8> {
        let mut b = Vec::new();
        field::put_fixed(&mut b, name.as_bytes(), NAME_LEN);
        for i in ints {
            field::put_i64(&mut b, i);
        }
        b
    }

    #[test]
    fn request_bytes() {
        let g = GroupName::parse("group1").unwrap();
        let mut want = vec![0, 0, 0, 0, 0, 0, 0, 16, 90, 0];
        want.extend_from_slice(b"group1\0\0\0\0\0\0\0\0\0\0");
        assert_eq!(request_one(&g), want);
        assert_eq!(request_all(), [0, 0, 0, 0, 0, 0, 0, 0, 91, 0]);
    }

    #[test]
    fn parses_one_and_many() {
        let mut body = stat("group1", [100, 50, 1, 0, 2, 23000, 1, 1, 0, 1, 256, -1]);
        assert_eq!(body.len() as u64, STAT_LEN);
        let one = parse_response(&body).unwrap();
        assert_eq!(
            one,
            vec![GroupStat {
                name: "group1".into(),
                storages: 2,
                readable: 1,
                writable: 1,
                store_paths: 1
            }]
        );
        // A 16-character name fills its field up to the kept NUL.
        body.extend(stat("G16charsGroupAbc", [0; INTS]));
        let two = parse_response(&body).unwrap();
        assert_eq!(two[1].name, "G16charsGroupAbc");
        assert_eq!(parse_response(&[]).unwrap(), vec![]);
        assert!(parse_response(&body[..200]).is_err());
    }
}
