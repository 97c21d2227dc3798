//! File ids (`group1/M00/00/00/fwAAAWsE8imAXhu_ABLWh8TuLho152.bin`) and the
//! grammar every id must match before it reaches a server or the disk.
//!
//! The id is split at the **first** `/` into the group and the remote file
//! name, exactly like `FDFS_SPLIT_GROUP_NAME_AND_FILENAME`. The grammar is
//! deliberately the intersection of what storage servers accept and what is
//! safe as a relative path:
//!
//! ```text
//! group   = [A-Za-z0-9]{1,16}
//! remote  = "M" HEX HEX "/" HEX HEX "/" HEX HEX "/" name      (HEX = [0-9A-F])
//! name    = B64{27} [A-Za-z0-9_.-]*   without ".."             (B64 = [A-Za-z0-9_-])
//! 22 <= len(remote) < 128
//! ```
//!
//! Names are not assumed to be 44 characters: slave files
//! (`…628257_150x150.jpg`) and trunk files (60 characters) are longer. There
//! is no `/` past the two sub-directories and no `.`-only component, so a
//! valid id can never escape a directory; anything else (`..`, absolute
//! paths, backslashes, NUL, `%`-escapes) is rejected here. Pre-V1.12 names
//! (not starting with `M`) are not supported.

use std::fmt;

use crate::proto::{GROUP_NAME_LEN, REMOTE_FILENAME_MAX_LEN, REMOTE_FILENAME_MIN_LEN};

/// `FDFS_LOGIC_FILE_PATH_LEN`: `"M00/00/00/"`.
pub const LOGIC_PATH_LEN: usize = 10;
/// `FDFS_FILENAME_BASE64_LENGTH`: the encoded (ip, timestamp, size, crc32).
pub const BASE64_NAME_LEN: usize = 27;

/// A group name: `[A-Za-z0-9]{1,16}` (`fdfs_validate_group_name`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GroupName(String);

impl GroupName {
    pub fn parse(s: &str) -> Result<GroupName, FileIdError> {
        if s.is_empty() || s.len() > GROUP_NAME_LEN || !s.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(FileIdError(format!(
                "group name must be 1-{GROUP_NAME_LEN} ASCII letters or digits"
            )));
        }
        Ok(GroupName(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for GroupName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A validated file id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileId {
    group: GroupName,
    remote: String,
}

/// Why a string is not a file id; the message is safe to show to clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileIdError(pub String);

impl fmt::Display for FileIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FileIdError {}

fn is_upper_hex(b: u8) -> bool {
    b.is_ascii_digit() || (b'A'..=b'F').contains(&b)
}

fn is_b64(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

fn is_name_char(b: u8) -> bool {
    is_b64(b) || b == b'.'
}

impl FileId {
    /// Parses `group/remote_filename`.
    pub fn parse(s: &str) -> Result<FileId, FileIdError> {
        let (group, remote) = s
            .split_once('/')
            .ok_or_else(|| FileIdError("file id has no '/' between group and file name".into()))?;
        FileId::from_parts(group, remote)
    }

    /// Builds an id from a group and a remote file name, validating both.
    pub fn from_parts(group: &str, remote: &str) -> Result<FileId, FileIdError> {
        let group = GroupName::parse(group)?;
        validate_remote(remote)?;
        Ok(FileId {
            group,
            remote: remote.to_owned(),
        })
    }

    pub fn group(&self) -> &GroupName {
        &self.group
    }

    /// The remote file name (`M00/00/00/…`), sent verbatim on the wire.
    pub fn remote(&self) -> &str {
        &self.remote
    }

    /// The store path index from `Mxx`.
    pub fn store_path_index(&self) -> u8 {
        u8::from_str_radix(&self.remote[1..3], 16).unwrap_or(0)
    }

    /// The two data sub-directories (`HH/HH`) as they appear in the id.
    pub fn sub_dirs(&self) -> (&str, &str) {
        (&self.remote[4..6], &self.remote[7..9])
    }

    /// The last path component (`fwAAAWsE8imAXhu_ABLWh8TuLho152.bin`).
    pub fn file_name(&self) -> &str {
        &self.remote[LOGIC_PATH_LEN..]
    }

    /// The 27-character encoded part of the file name.
    pub fn base64_part(&self) -> &str {
        &self.file_name()[..BASE64_NAME_LEN]
    }

    /// The extension: what follows the last `.` after the encoded part, if any.
    pub fn ext(&self) -> Option<&str> {
        let tail = &self.file_name()[BASE64_NAME_LEN..];
        tail.rfind('.')
            .map(|i| &tail[i + 1..])
            .filter(|e| !e.is_empty())
    }
}

fn validate_remote(r: &str) -> Result<(), FileIdError> {
    let b = r.as_bytes();
    if b.len() < REMOTE_FILENAME_MIN_LEN || b.len() >= REMOTE_FILENAME_MAX_LEN {
        return Err(FileIdError(format!(
            "file name must be {REMOTE_FILENAME_MIN_LEN}-{} characters",
            REMOTE_FILENAME_MAX_LEN - 1
        )));
    }
    let path_ok = b[0] == b'M'
        && is_upper_hex(b[1])
        && is_upper_hex(b[2])
        && b[3] == b'/'
        && is_upper_hex(b[4])
        && is_upper_hex(b[5])
        && b[6] == b'/'
        && is_upper_hex(b[7])
        && is_upper_hex(b[8])
        && b[9] == b'/';
    if !path_ok {
        return Err(FileIdError(
            "file name must start with Mxx/HH/HH/ (upper-case hex)".into(),
        ));
    }
    let name = &b[LOGIC_PATH_LEN..];
    if name.len() < BASE64_NAME_LEN || !name[..BASE64_NAME_LEN].iter().all(|&c| is_b64(c)) {
        return Err(FileIdError(format!(
            "file name must start with {BASE64_NAME_LEN} characters of [A-Za-z0-9_-]"
        )));
    }
    if !name.iter().all(|&c| is_name_char(c)) {
        return Err(FileIdError(
            "file name may only contain [A-Za-z0-9_.-]".into(),
        ));
    }
    if r.contains("..") {
        return Err(FileIdError("file name must not contain '..'".into()));
    }
    Ok(())
}

impl fmt::Display for FileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.group, self.remote)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "group1/M00/00/00/fwAAAWsE8imAXhu_ABLWh8TuLho152.bin";

    #[test]
    fn parses_normal_id() {
        let id = FileId::parse(GOOD).unwrap();
        assert_eq!(id.group().as_str(), "group1");
        assert_eq!(id.remote(), "M00/00/00/fwAAAWsE8imAXhu_ABLWh8TuLho152.bin");
        assert_eq!(id.file_name(), "fwAAAWsE8imAXhu_ABLWh8TuLho152.bin");
        assert_eq!(id.base64_part(), "fwAAAWsE8imAXhu_ABLWh8TuLho");
        assert_eq!(id.ext(), Some("bin"));
        assert_eq!(id.store_path_index(), 0);
        assert_eq!(id.to_string(), GOOD);
    }

    #[test]
    fn accepts_long_and_extensionless_names() {
        // Slave file, two-part ext, no ext, 16-char group, store path 0x1F.
        for s in [
            "group1/M00/00/00/fwAAAWsE8qSAbQsvAAGGoBgx628257_150x150.jpg",
            "g/M00/AB/CD/fwAAAWsE8qSAbQsvAAGGoBgx6QcI.tar.gz",
            "group1/M00/00/00/fwAAAWsE8qSAbQsvAAGGoBgx6QcI6693344",
            "abcdefghijklmnop/M1F/FF/00/fwAAAWsE8qSAbQsvAAGGoBgx6QcI.abcdef",
        ] {
            let id = FileId::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(id.to_string(), s);
        }
        let id = FileId::parse("group1/M00/00/00/fwAAAWsE8qSAbQsvAAGGoBgx6QcI6693344").unwrap();
        assert_eq!(id.ext(), None);
        let id = FileId::parse("g/M1F/FF/00/fwAAAWsE8qSAbQsvAAGGoBgx6QcI.tar.gz").unwrap();
        assert_eq!(id.ext(), Some("gz"));
        assert_eq!(id.store_path_index(), 0x1F);
        assert_eq!(id.sub_dirs(), ("FF", "00"));
    }

    #[test]
    fn refuses_traversal_and_junk() {
        for s in [
            "",
            "group1",
            "/etc/passwd",
            "group1/../../../etc/passwd",
            "group1/M00/00/00/../../../../etc/passwd_aaaaaaaaaaaaaaaaa",
            "group1/M00/00/00/fwAAAWsE8imAXhu_ABLWh8TuLho..bin",
            "group1/M00/00/00/fwAAAWsE8imAXhu_ABLWh8TuLho152/bin",
            "group1/M00/00/00/fwAAAWsE8imAXhu_ABLWh8TuLho152\\bin",
            "group1/M00\\00\\00\\fwAAAWsE8imAXhu_ABLWh8TuLho152.bin",
            "group1/M00/00/00/fwAAAWsE8imAXhu_ABLWh8TuLho\u{0}152.bin",
            "group1/M00/00/00/fwAAAWsE8imAXhu%2FABLWh8TuLho152.bin",
            "group1/M00/0a/00/fwAAAWsE8imAXhu_ABLWh8TuLho152.bin",
            "group1/X00/00/00/fwAAAWsE8imAXhu_ABLWh8TuLho152.bin",
            "group1/M00/00/00/short.jpg",
            "group1/M00/00/00/fwAAAWsE8imAXhu.ABLWh8TuLho152.bin",
            "grou-p1/M00/00/00/fwAAAWsE8imAXhu_ABLWh8TuLho152.bin",
            "abcdefghijklmnopq/M00/00/00/fwAAAWsE8imAXhu_ABLWh8TuLho152.bin",
            "/M00/00/00/fwAAAWsE8imAXhu_ABLWh8TuLho152.bin",
            "group1//M00/00/00/fwAAAWsE8imAXhu_ABLWh8TuLho152.bin",
            "group1/M00/00/00/fwAAAWsE8imAXhu_ABLWh8TuLho152.bin ",
            "group1/M00/00/00/fwAAAWsE8imAXhu_ABLWh8TuLho152.b\u{e9}n",
        ] {
            assert!(FileId::parse(s).is_err(), "accepted {s:?}");
        }
        let long = format!(
            "group1/M00/00/00/fwAAAWsE8imAXhu_ABLWh8TuLho{}",
            "a".repeat(90)
        );
        assert_eq!(FileId::parse(&long).unwrap().remote().len(), 127);
        let too_long = format!(
            "group1/M00/00/00/fwAAAWsE8imAXhu_ABLWh8TuLho{}",
            "a".repeat(91)
        );
        assert!(FileId::parse(&too_long).is_err());
    }
}
