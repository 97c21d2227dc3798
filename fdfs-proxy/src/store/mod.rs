//! The two back ends behind one interface: a real FastDFS cluster
//! ([`fastdfs`]) or the embedded local-disk store ([`local`]).
//!
//! A read is two steps, [`Store::locate`] then [`Store::read`], so the HTTP
//! layer can answer conditional and range requests from the size before any
//! file byte moves, and the FastDFS back end asks the tracker only once.

pub mod fastdfs;
pub mod local;

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use rand::Rng;
use serde_json::Value;

use crate::body::{BodyError, ByteStream, UploadStream};
use crate::file_id::FileId;

pub use fastdfs::FastdfsStore;
pub use local::LocalStore;

/// Why a store operation failed; [`crate::http::error`] maps each to a status.
#[derive(Debug)]
pub enum StoreError {
    /// No such file (404).
    NotFound,
    /// The request cannot be served as given (400).
    BadRequest(String),
    /// The upload body was too large (413) or incomplete (400).
    Body(BodyError),
    /// Nothing that could serve the request is reachable (503).
    Unavailable(String),
    /// A server failed or broke the protocol (502).
    Upstream(String),
    /// The back end is out of space (507).
    InsufficientStorage(String),
    /// Local I/O failed (500).
    Internal(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::NotFound => f.write_str("file not found"),
            StoreError::BadRequest(m)
            | StoreError::Unavailable(m)
            | StoreError::Upstream(m)
            | StoreError::InsufficientStorage(m)
            | StoreError::Internal(m) => f.write_str(m),
            StoreError::Body(e) => e.fmt(f),
        }
    }
}

impl From<BodyError> for StoreError {
    fn from(e: BodyError) -> Self {
        StoreError::Body(e)
    }
}

/// A stored file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    pub file_id: FileId,
    pub size: u64,
}

/// A file found by [`Store::locate`]: its size and where to read it.
#[derive(Debug, Clone)]
pub struct Object {
    pub id: FileId,
    pub size: u64,
    location: Location,
}

#[derive(Debug, Clone)]
enum Location {
    Local(PathBuf),
    Fastdfs(SocketAddr),
}

/// The outcome of a health check.
#[derive(Debug)]
pub struct Health {
    /// Can serve (HTTP 200).
    pub ok: bool,
    /// Serves, but part of the back end is out of reach (some groups
    /// have no active storage).
    pub degraded: bool,
    /// Back-end specific details for the JSON answer.
    pub detail: Value,
}

pub enum Store {
    Local(LocalStore),
    Fastdfs(FastdfsStore),
}

impl Store {
    /// `"local"` or `"fastdfs"`, as reported by `/health`.
    pub fn kind(&self) -> &'static str {
        match self {
            Store::Local(_) => "local",
            Store::Fastdfs(_) => "fastdfs",
        }
    }

    /// Stores `body` under a new id. `len` is the announced size if known;
    /// `ext` has been validated ([`crate::name::valid_ext`]).
    pub async fn upload(
        &self,
        ext: &str,
        len: Option<u64>,
        body: UploadStream,
    ) -> Result<Uploaded, StoreError> {
        match self {
            Store::Local(s) => s.upload(ext, len, body).await,
            Store::Fastdfs(s) => s.upload(ext, len, body).await,
        }
    }

    pub async fn locate(&self, id: &FileId) -> Result<Object, StoreError> {
        match self {
            Store::Local(s) => s.locate(id).await,
            Store::Fastdfs(s) => s.locate(id).await,
        }
    }

    /// Exactly `len` (> 0) bytes of `obj` from `offset`; the range has been
    /// checked against `obj.size`.
    pub async fn read(
        &self,
        obj: &Object,
        offset: u64,
        len: u64,
    ) -> Result<ByteStream, StoreError> {
        match (&obj.location, self) {
            (Location::Local(path), Store::Local(_)) => local::read(path, offset, len).await,
            (Location::Fastdfs(addr), Store::Fastdfs(s)) => {
                s.read(*addr, &obj.id, offset, len).await
            }
            _ => Err(StoreError::Internal("object from another store".into())),
        }
    }

    pub async fn delete(&self, id: &FileId) -> Result<(), StoreError> {
        match self {
            Store::Local(s) => s.delete(id).await,
            Store::Fastdfs(s) => s.delete(id).await,
        }
    }

    pub async fn health(&self) -> Health {
        match self {
            Store::Local(s) => s.health().await,
            Store::Fastdfs(s) => s.health().await,
        }
    }
}

/// A file under the state directory's `tmp/` that is removed when dropped
/// unless it was [`TempFile::keep`]-ed; a crash can still leave one behind,
/// which is why `tmp/` is emptied at start-up.
pub struct TempFile {
    path: PathBuf,
    armed: bool,
}

/// Prefix and suffix of temp files, so start-up cleaning only removes ours.
const TEMP_PREFIX: &str = "upload-";
const TEMP_SUFFIX: &str = ".part";

impl TempFile {
    pub async fn create(dir: &Path) -> io::Result<(TempFile, tokio::fs::File)> {
        let name = format!(
            "{TEMP_PREFIX}{:016x}{TEMP_SUFFIX}",
            rand::thread_rng().r#gen::<u64>()
        );
        let path = dir.join(name);
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .await?;
        Ok((TempFile { path, armed: true }, file))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file was moved or linked elsewhere; the temp name is removed by
    /// the caller.
    pub fn keep(mut self) {
        self.armed = false;
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.armed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Removes leftover temp files from a previous run (crash mid-upload).
pub fn clean_temp_dir(dir: &Path) -> io::Result<usize> {
    let mut removed = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(TEMP_PREFIX) && name.ends_with(TEMP_SUFFIX) {
            std::fs::remove_file(entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}

fn internal(what: &str, e: io::Error) -> StoreError {
    StoreError::Internal(format!("{what}: {e}"))
}
