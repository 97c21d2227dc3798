//! The FastDFS back end: the proxy as a FastDFS client.
//!
//! Upload: tracker 101/104 picks a storage, then UPLOAD_FILE streams the
//! body. FastDFS needs the size in the packet header, so a body without a
//! Content-Length (chunked, multipart) is first spooled to `tmp/` under the
//! state directory, bounded by the size limit.
//! Read: tracker 102 picks a storage, QUERY_FILE_INFO proves the file exists
//! (the tracker does not) and gives its size, DOWNLOAD_FILE streams the range.
//! Delete: tracker 103 (the file's source storage, like the reference
//! client), then DELETE_FILE.
//!
//! Two answers are ambiguous on the wire and resolved with the tracker's
//! group stat (command 90) before they reach HTTP:
//! * the tracker answers 102/103 with ENOENT both for a group it does not
//!   know (the file cannot exist: 404) and for a known group without an
//!   active storage (the file is out of reach: 503, worth a retry);
//! * a storage answers EINVAL both for a store path it does not have
//!   (`M05` on a one-path storage: the file cannot exist, 404) and for a
//!   request it cannot parse (our fault or its: 502).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use futures::StreamExt;
use serde_json::json;
use tokio::io::AsyncWriteExt;

use super::{Health, Location, Object, StoreError, TempFile, Uploaded, clean_temp_dir, internal};
use crate::body::{ByteStream, UploadStream, file_upload_stream};
use crate::client::{FdfsClient, FdfsError};
use crate::file_id::{FileId, GroupName};
use crate::proto::errno;

/// No file this proxy serves is anywhere near this large; a QUERY_FILE_INFO
/// answer above it is corrupt, and passing it on would announce an absurd
/// Content-Length.
const MAX_SANE_FILE_SIZE: u64 = 1 << 40;

pub struct FastdfsStore {
    client: FdfsClient,
    group: Option<GroupName>,
    spool: PathBuf,
}

impl FastdfsStore {
    /// Prepares the spool directory (before the listener opens).
    pub fn open(
        client: FdfsClient,
        group: Option<GroupName>,
        state_dir: &Path,
    ) -> std::io::Result<FastdfsStore> {
        let spool = state_dir.join("tmp");
        std::fs::create_dir_all(&spool)?;
        clean_temp_dir(&spool)?;
        Ok(FastdfsStore {
            client,
            group,
            spool,
        })
    }

    pub fn client(&self) -> &FdfsClient {
        &self.client
    }

    pub async fn upload(
        &self,
        ext: &str,
        len: Option<u64>,
        body: UploadStream,
    ) -> Result<Uploaded, StoreError> {
        let (size, body, _spooled) = match len {
            Some(n) => (n, body, None),
            None => {
                let (temp, size) = self.spool(body).await?;
                let stream = file_upload_stream(temp.path(), size)
                    .await
                    .map_err(|e| internal("reopening spool file", e))?;
                (size, stream, Some(temp))
            }
        };
        let target = self
            .client
            .query_store(self.group.as_ref())
            .await
            .map_err(|e| match e.status() {
                Some(errno::ENOENT) => StoreError::Unavailable(format!(
                    "no writable storage{}: {e}",
                    self.group
                        .as_ref()
                        .map(|g| format!(" in group {g}"))
                        .unwrap_or_default()
                )),
                _ => map_error(e),
            })?;
        let file_id = self
            .client
            .upload(&target, ext, size, body)
            .await
            .map_err(map_error)?;
        Ok(Uploaded { file_id, size })
    }

    /// Copies a body of unknown length to a temp file (the stream is already
    /// size-limited), returning it and its length.
    async fn spool(&self, mut body: UploadStream) -> Result<(TempFile, u64), StoreError> {
        let (temp, mut file) = TempFile::create(&self.spool)
            .await
            .map_err(|e| internal("creating spool file", e))?;
        let mut size = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            size += chunk.len() as u64;
            file.write_all(&chunk)
                .await
                .map_err(|e| internal("writing spool file", e))?;
        }
        file.flush()
            .await
            .map_err(|e| internal("writing spool file", e))?;
        Ok((temp, size))
    }

    pub async fn locate(&self, id: &FileId) -> Result<Object, StoreError> {
        let storage = match self.client.query_fetch(id).await {
            Ok(s) => s,
            Err(e) => return Err(self.no_storage(id, e, "readable").await),
        };
        let info = match self.client.file_info(storage, id).await {
            Ok(info) => info,
            Err(e) => return Err(self.storage_refused(id, e).await),
        };
        if info.size > MAX_SANE_FILE_SIZE {
            return Err(StoreError::Upstream(format!(
                "storage {storage} reports an implausible size {} for {id}",
                info.size
            )));
        }
        Ok(Object {
            id: id.clone(),
            size: info.size,
            location: Location::Fastdfs(storage),
        })
    }

    pub async fn read(
        &self,
        storage: SocketAddr,
        id: &FileId,
        offset: u64,
        len: u64,
    ) -> Result<ByteStream, StoreError> {
        let d = self
            .client
            .download(storage, id, offset, len)
            .await
            .map_err(map_error)?;
        Ok(Box::pin(d.into_stream()))
    }

    pub async fn delete(&self, id: &FileId) -> Result<(), StoreError> {
        let storage = match self.client.query_update(id).await {
            Ok(s) => s,
            Err(e) => return Err(self.no_storage(id, e, "writable").await),
        };
        match self.client.delete(storage, id).await {
            Ok(()) => Ok(()),
            Err(e) => Err(self.storage_refused(id, e).await),
        }
    }

    /// The meaning of a failed tracker query for `id` (102/103): an ENOENT
    /// is an unknown group (404) or a group whose storages are all down
    /// (503); the group stat tells which.
    async fn no_storage(&self, id: &FileId, e: FdfsError, kind: &str) -> StoreError {
        if e.status() != Some(errno::ENOENT) {
            return map_error(e);
        }
        let group = id.group();
        match self.client.group_stat(group).await {
            Ok(stat) => StoreError::Unavailable(format!(
                "no {kind} storage in group {group} ({} of {} storages active): {e}",
                if kind == "readable" {
                    stat.readable
                } else {
                    stat.writable
                },
                stat.storages
            )),
            Err(stat_err) if stat_err.status() == Some(errno::ENOENT) => StoreError::NotFound,
            Err(stat_err) => StoreError::Unavailable(format!(
                "no {kind} storage in group {group}: {e}; group stat failed: {stat_err}"
            )),
        }
    }

    /// The meaning of a failed storage command on `id`: ENOENT is a missing
    /// file; EINVAL for a store path beyond the group's count is one too
    /// (the storage cannot even look), any other EINVAL a real error.
    async fn storage_refused(&self, id: &FileId, e: FdfsError) -> StoreError {
        if e.status() != Some(errno::EINVAL) {
            return map_error(e);
        }
        match self.client.group_stat(id.group()).await {
            Ok(stat) if i64::from(id.store_path_index()) >= stat.store_paths => {
                tracing::debug!(file_id = %id, store_paths = stat.store_paths, "store path beyond the group's; no such file");
                StoreError::NotFound
            }
            _ => map_error(e),
        }
    }

    /// Healthy: a tracker answers and every group in scope (the `--group`,
    /// else all) has an active storage. Degraded: some groups have none.
    pub async fn health(&self) -> Health {
        let checks = self.client.check_trackers().await;
        let tracker_ok = checks.iter().any(|c| c.result.is_ok());
        let trackers: Vec<_> = checks
            .iter()
            .map(|c| match &c.result {
                Ok(()) => json!({"addr": c.tracker, "ok": true}),
                Err(e) => json!({"addr": c.tracker, "ok": false, "error": e.to_string()}),
            })
            .collect();
        let groups = if !tracker_ok {
            Err("no tracker answers".to_owned())
        } else if let Some(g) = &self.group {
            self.client
                .group_stat(g)
                .await
                .map(|s| vec![s])
                .map_err(|e| e.to_string())
        } else {
            self.client.list_groups().await.map_err(|e| e.to_string())
        };
        let (ok, degraded, groups) = match groups {
            Ok(stats) => {
                let serving = stats.iter().filter(|s| s.readable > 0).count();
                let detail: Vec<_> = stats
                    .iter()
                    .map(|s| {
                        json!({
                            "name": s.name,
                            "ok": s.readable > 0,
                            "storages": s.storages,
                            "active": s.readable,
                        })
                    })
                    .collect();
                (serving > 0, serving < stats.len(), json!(detail))
            }
            Err(e) => (false, false, json!({ "error": e })),
        };
        Health {
            ok,
            degraded,
            detail: json!({
                "trackers": trackers,
                "group": self.group.as_ref().map(|g| g.as_str().to_owned()),
                "groups": groups,
            }),
        }
    }
}

/// The HTTP-facing meaning of a client error. A server that cannot be
/// reached or stopped answering is 503 (try again later); one that answered
/// wrongly is 502.
fn map_error(e: FdfsError) -> StoreError {
    match e {
        FdfsError::Status {
            status: errno::ENOENT,
            ..
        } => StoreError::NotFound,
        FdfsError::Status {
            status: errno::ENOSPC,
            ..
        } => StoreError::InsufficientStorage(e.to_string()),
        FdfsError::NoTracker(_) | FdfsError::Connect { .. } | FdfsError::Io { .. } => {
            StoreError::Unavailable(e.to_string())
        }
        FdfsError::Body(b) => StoreError::Body(b),
        FdfsError::Status { .. } | FdfsError::Resolve { .. } | FdfsError::Protocol { .. } => {
            StoreError::Upstream(e.to_string())
        }
    }
}
