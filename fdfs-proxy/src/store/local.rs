//! The embedded local-disk store: FastDFS-shaped ids, files on disk.
//!
//! Layout under the state directory, mirroring a storage server's store path:
//!
//! ```text
//! <state-dir>/data/<HH>/<HH>/<name>   the files (M00 = this one store path)
//! <state-dir>/tmp/upload-*.part       uploads in progress; emptied at start-up
//! ```
//!
//! Uploads are written to `tmp/`, fsynced, then hard-linked to their final
//! name (which fails instead of overwriting if the name exists) and the
//! directory fsynced: after a crash a file is either complete under its id
//! or absent. Ids encode (127.0.0.1, time, size, crc32) exactly like
//! `storage_gen_filename`, so they are indistinguishable from a real
//! storage server's and survive a later move to FastDFS.

use std::io;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use rand::Rng;
use serde_json::json;
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

use super::{Health, Location, Object, StoreError, TempFile, Uploaded, clean_temp_dir, internal};
use crate::body::{BodyError, ByteStream, UploadStream, read_exact_stream};
use crate::file_id::{FileId, GroupName};
use crate::name::{self, Crc32, NameInfo};

/// Source address encoded in local ids: a loopback "storage server".
const LOCAL_SOURCE_IP: Ipv4Addr = Ipv4Addr::LOCALHOST;
/// The only store path (`M00`).
const STORE_PATH_INDEX: u8 = 0;
/// Attempts at a fresh random name when a generated one already exists
/// (same second, size, crc32 and random digits: practically never).
const MAX_NAME_ATTEMPTS: usize = 8;
const DATA_DIR: &str = "data";
const TMP_DIR: &str = "tmp";

pub struct LocalStore {
    root: PathBuf,
    data: PathBuf,
    tmp: PathBuf,
    group: GroupName,
}

impl LocalStore {
    /// Creates the directories, removes leftovers of interrupted uploads and
    /// checks that the directory is writable: all before the listener opens.
    pub fn open(root: &Path, group: GroupName) -> io::Result<LocalStore> {
        let data = root.join(DATA_DIR);
        let tmp = root.join(TMP_DIR);
        std::fs::create_dir_all(&data)?;
        std::fs::create_dir_all(&tmp)?;
        let removed = clean_temp_dir(&tmp)?;
        if removed > 0 {
            tracing::info!(removed, "removed interrupted uploads");
        }
        let probe = tmp.join(".write-probe");
        std::fs::write(&probe, b"")?;
        std::fs::remove_file(&probe)?;
        Ok(LocalStore {
            root: root.to_owned(),
            data,
            tmp,
            group,
        })
    }

    pub fn group(&self) -> &GroupName {
        &self.group
    }

    /// The on-disk path of an id, or `None` if the id cannot be ours. Built
    /// only from validated components, so it stays under `data/`.
    fn path_of(&self, id: &FileId) -> Option<PathBuf> {
        if id.group() != &self.group || id.store_path_index() != STORE_PATH_INDEX {
            return None;
        }
        let (high, low) = id.sub_dirs();
        Some(self.data.join(high).join(low).join(id.file_name()))
    }

    pub async fn upload(
        &self,
        ext: &str,
        len: Option<u64>,
        mut body: UploadStream,
    ) -> Result<Uploaded, StoreError> {
        let (temp, mut file) = TempFile::create(&self.tmp)
            .await
            .map_err(|e| internal("creating temp file", e))?;
        let mut crc = Crc32::default();
        let mut size: u64 = 0;
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            crc.update(&chunk);
            size += chunk.len() as u64;
            file.write_all(&chunk)
                .await
                .map_err(|e| internal("writing temp file", e))?;
        }
        if let Some(expected) = len
            && expected != size
        {
            return Err(BodyError::LengthMismatch {
                expected,
                got: size,
            }
            .into());
        }
        // Data must be durable before the name points at it.
        file.sync_all()
            .await
            .map_err(|e| internal("syncing temp file", e))?;
        drop(file);

        let info = {
            let mut rng = rand::thread_rng();
            NameInfo {
                source_ip: LOCAL_SOURCE_IP,
                timestamp: unix_now(),
                raw_size: name::combine_rand_size(size, rng.r#gen()),
                crc32: crc.finish(),
            }
        };
        let data = self.data.clone();
        let group = self.group.clone();
        let ext = ext.to_owned();
        let temp_path = temp.path().to_owned();
        let id =
            tokio::task::spawn_blocking(move || publish(&data, &group, &temp_path, &info, &ext))
                .await
                .map_err(|e| StoreError::Internal(format!("publish task: {e}")))??;
        // The temp name is now a second link to the published file.
        drop(temp);
        Ok(Uploaded { file_id: id, size })
    }

    pub async fn locate(&self, id: &FileId) -> Result<Object, StoreError> {
        let path = self.path_of(id).ok_or(StoreError::NotFound)?;
        match tokio::fs::metadata(&path).await {
            Ok(m) if m.is_file() => Ok(Object {
                id: id.clone(),
                size: m.len(),
                location: Location::Local(path),
            }),
            Ok(_) => Err(StoreError::NotFound),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(StoreError::NotFound),
            Err(e) => Err(internal("stat", e)),
        }
    }

    pub async fn delete(&self, id: &FileId) -> Result<(), StoreError> {
        let path = self.path_of(id).ok_or(StoreError::NotFound)?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(StoreError::NotFound),
            Err(e) => return Err(internal("delete", e)),
        }
        if let Some(dir) = path.parent() {
            let dir = dir.to_owned();
            // Make the removal durable too; failing that is not worth an error.
            let _ = tokio::task::spawn_blocking(move || sync_dir(&dir)).await;
        }
        Ok(())
    }

    pub async fn health(&self) -> Health {
        let ok = tokio::fs::metadata(&self.data)
            .await
            .map(|m| m.is_dir())
            .unwrap_or(false);
        Health {
            ok,
            degraded: false,
            detail: json!({
                "state_dir": self.root.display().to_string(),
                "group": self.group.as_str(),
            }),
        }
    }
}

/// Links the synced temp file under a fresh name, never overwriting.
fn publish(
    data: &Path,
    group: &GroupName,
    temp: &Path,
    info: &NameInfo,
    ext: &str,
) -> Result<FileId, StoreError> {
    let mut rng = rand::thread_rng();
    for _ in 0..MAX_NAME_ATTEMPTS {
        let dirs: (u8, u8) = (rng.r#gen(), rng.r#gen());
        let remote = name::remote_filename(STORE_PATH_INDEX, dirs, info, ext, &mut rng);
        let id = FileId::from_parts(group.as_str(), &remote).map_err(|e| {
            StoreError::Internal(format!("generated an invalid id {remote:?}: {e}"))
        })?;
        let (high, low) = id.sub_dirs();
        let dir = data.join(high).join(low);
        std::fs::create_dir_all(&dir).map_err(|e| internal("creating data directory", e))?;
        let target = dir.join(id.file_name());
        match std::fs::hard_link(temp, &target) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            // Some filesystems have no hard links; a rename after an
            // existence check is atomic too, only the (name-collision) race
            // is lost.
            Err(_) if !target.exists() => {
                std::fs::rename(temp, &target).map_err(|e| internal("publishing file", e))?;
            }
            Err(e) => return Err(internal("publishing file", e)),
        }
        sync_dir(&dir).map_err(|e| internal("syncing data directory", e))?;
        return Ok(id);
    }
    Err(StoreError::Internal(
        "could not find a free file name".into(),
    ))
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

fn unix_now() -> u32 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    u32::try_from(secs).unwrap_or(u32::MAX)
}

pub(super) async fn read(path: &Path, offset: u64, len: u64) -> Result<ByteStream, StoreError> {
    let mut file = match tokio::fs::File::open(path).await {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(StoreError::NotFound),
        Err(e) => return Err(internal("open", e)),
    };
    if offset > 0 {
        file.seek(io::SeekFrom::Start(offset))
            .await
            .map_err(|e| internal("seek", e))?;
    }
    Ok(Box::pin(read_exact_stream(file, len)))
}
