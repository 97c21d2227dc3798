//! An in-process fake FastDFS cluster (one tracker, one storage) that
//! implements the server side of the protocol byte for byte as described in
//! FASTDFS-PROTOCOL.md: header layout, fixed-width fields, the EINVAL/ENOENT
//! answers and the connection rules (storage closes after EINVAL; tracker
//! never does). A [`Mode`] switch makes it misbehave for robustness tests.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use fdfs_proxy::name::{self, Crc32, NameInfo};
use rand::Rng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const RESP: u8 = 100;
const ENOENT: u8 = 2;
const EINVAL: u8 = 22;
/// Largest non-upload request body the fake accepts (names are < 128).
const MAX_SMALL_BODY: i64 = 512;

/// How the fake misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Normal,
    /// Tracker answers queries with pkg_len = 2^62 and no body.
    TrackerAbsurdLength,
    /// Tracker answers queries with a negative pkg_len.
    TrackerNegativeLength,
    /// Tracker answers store queries with a 41-byte body.
    TrackerWrongLength,
    /// Storage announces 2^62 bytes for every download.
    DownloadAbsurdLength,
    /// Storage announces the right length, sends half, closes.
    DownloadShortBody,
    /// QUERY_FILE_INFO claims the file is 2^62 bytes.
    InfoHugeSize,
    /// Upload answers with pkg_len = 2^40.
    UploadAbsurdLength,
    /// Upload answers ENOSPC.
    UploadNoSpace,
    /// Storage closes every connection after one answer (as after a
    /// restart): pooled connections go stale.
    CloseAfterReply,
}

pub struct State {
    pub group: String,
    /// Bodies by remote file name.
    pub files: Mutex<HashMap<String, Vec<u8>>>,
    pub mode: Mutex<Mode>,
    pub tracker_connections: AtomicUsize,
    pub storage_connections: AtomicUsize,
    /// Commands received by the storage, in order.
    pub storage_cmds: Mutex<Vec<u8>>,
    /// Store path count: valid store_path_index values are 0..count and 0xFF.
    store_path_count: u8,
    storage_addr: Mutex<Option<SocketAddr>>,
}

impl State {
    pub fn set_mode(&self, m: Mode) {
        *self.mode.lock().unwrap() = m;
    }

    fn mode(&self) -> Mode {
        *self.mode.lock().unwrap()
    }

    pub fn file_count(&self) -> usize {
        self.files.lock().unwrap().len()
    }
}

pub struct FakeCluster {
    pub tracker: SocketAddr,
    pub storage: SocketAddr,
    pub state: Arc<State>,
}

impl FakeCluster {
    /// Tracker and storage on 127.0.0.1 (IPv4 layouts).
    pub async fn start() -> FakeCluster {
        Self::start_on("127.0.0.1".parse().unwrap(), "127.0.0.1".parse().unwrap()).await
    }

    /// Tracker on `tracker_ip`, storage on `storage_ip`; the tracker uses the
    /// IPv6 layouts (45-byte ip fields) when the storage address is IPv6.
    pub async fn start_on(tracker_ip: IpAddr, storage_ip: IpAddr) -> FakeCluster {
        let state = Arc::new(State {
            group: "group1".into(),
            files: Mutex::new(HashMap::new()),
            mode: Mutex::new(Mode::Normal),
            tracker_connections: AtomicUsize::new(0),
            storage_connections: AtomicUsize::new(0),
            storage_cmds: Mutex::new(Vec::new()),
            store_path_count: 1,
            storage_addr: Mutex::new(None),
        });
        let storage_l = TcpListener::bind((storage_ip, 0)).await.unwrap();
        let tracker_l = TcpListener::bind((tracker_ip, 0)).await.unwrap();
        let storage = storage_l.local_addr().unwrap();
        let tracker = tracker_l.local_addr().unwrap();
        *state.storage_addr.lock().unwrap() = Some(storage);
        let st = Arc::clone(&state);
        tokio::spawn(async move {
            while let Ok((sock, _)) = storage_l.accept().await {
                st.storage_connections.fetch_add(1, Ordering::SeqCst);
                let st = Arc::clone(&st);
                tokio::spawn(async move {
                    let _ = storage_conn(sock, st).await;
                });
            }
        });
        let st = Arc::clone(&state);
        tokio::spawn(async move {
            while let Ok((sock, _)) = tracker_l.accept().await {
                st.tracker_connections.fetch_add(1, Ordering::SeqCst);
                let st = Arc::clone(&st);
                tokio::spawn(async move {
                    let _ = tracker_conn(sock, st).await;
                });
            }
        });
        FakeCluster {
            tracker,
            storage,
            state,
        }
    }
}

fn header(pkg_len: i64, status: u8) -> [u8; 10] {
    let mut h = [0u8; 10];
    h[..8].copy_from_slice(&pkg_len.to_be_bytes());
    h[8] = RESP;
    h[9] = status;
    h
}

async fn read_header(s: &mut TcpStream) -> io::Result<(i64, u8, u8)> {
    let mut h = [0u8; 10];
    s.read_exact(&mut h).await?;
    let mut len = [0u8; 8];
    len.copy_from_slice(&h[..8]);
    Ok((i64::from_be_bytes(len), h[8], h[9]))
}

fn fixed(s: &[u8], width: usize) -> Vec<u8> {
    let mut v = s[..s.len().min(width)].to_vec();
    v.resize(width, 0);
    v
}

fn unfixed(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

async fn read_small_body(s: &mut TcpStream, len: i64) -> io::Result<Option<Vec<u8>>> {
    if !(0..=MAX_SMALL_BODY).contains(&len) {
        return Ok(None);
    }
    let mut b = vec![0u8; len as usize];
    s.read_exact(&mut b).await?;
    Ok(Some(b))
}

fn ip_field(ip: IpAddr, width_v4: usize, width_v6: usize) -> Vec<u8> {
    let text = ip.to_string();
    match ip {
        IpAddr::V4(_) => fixed(text.as_bytes(), width_v4),
        IpAddr::V6(_) => fixed(text.as_bytes(), width_v6),
    }
}

async fn tracker_conn(mut s: TcpStream, st: Arc<State>) -> io::Result<()> {
    loop {
        let (len, cmd, _) = read_header(&mut s).await?;
        let storage = st.storage_addr.lock().unwrap().expect("storage bound");
        let mode = st.mode();
        match mode {
            Mode::TrackerAbsurdLength if cmd != 111 => {
                let _ = read_small_body(&mut s, len).await?;
                s.write_all(&header(1 << 62, 0)).await?;
                continue;
            }
            Mode::TrackerNegativeLength if cmd != 111 => {
                let _ = read_small_body(&mut s, len).await?;
                s.write_all(&header(-40, 0)).await?;
                continue;
            }
            _ => {}
        }
        let Some(body) = read_small_body(&mut s, len).await? else {
            s.write_all(&header(0, EINVAL)).await?;
            return Ok(());
        };
        match cmd {
            // QUERY_STORE_WITHOUT_GROUP_ONE / WITH_GROUP_ONE
            101 | 104 => {
                if (cmd == 101 && !body.is_empty()) || (cmd == 104 && body.len() != 16) {
                    s.write_all(&header(0, EINVAL)).await?;
                    continue;
                }
                if cmd == 104 && unfixed(&body) != st.group {
                    s.write_all(&header(0, ENOENT)).await?;
                    continue;
                }
                let mut out = fixed(st.group.as_bytes(), 16);
                out.extend(ip_field(storage.ip(), 15, 45));
                out.extend_from_slice(&i64::from(storage.port()).to_be_bytes());
                out.push(0);
                if mode == Mode::TrackerWrongLength {
                    out.push(0);
                }
                s.write_all(&header(out.len() as i64, 0)).await?;
                s.write_all(&out).await?;
            }
            // QUERY_FETCH_ONE / QUERY_UPDATE
            102 | 103 => {
                if body.len() < 16 + 22 || body.len() >= 16 + 128 {
                    s.write_all(&header(0, EINVAL)).await?;
                    continue;
                }
                if unfixed(&body[..16]) != st.group {
                    s.write_all(&header(0, ENOENT)).await?;
                    continue;
                }
                let mut out = fixed(st.group.as_bytes(), 16);
                out.extend(ip_field(storage.ip(), 15, 45));
                out.extend_from_slice(&i64::from(storage.port()).to_be_bytes());
                s.write_all(&header(out.len() as i64, 0)).await?;
                s.write_all(&out).await?;
            }
            // SERVER_LIST_ONE_GROUP / LIST_ALL_GROUPS: a TrackerGroupStat
            // (17-byte name, 12 int64s) for the one group with its one
            // active storage.
            90 | 91 => {
                if (cmd == 90 && body.len() != 16) || (cmd == 91 && !body.is_empty()) {
                    s.write_all(&header(0, EINVAL)).await?;
                    continue;
                }
                if cmd == 90 && unfixed(&body) != st.group {
                    s.write_all(&header(0, ENOENT)).await?;
                    continue;
                }
                let mut out = fixed(st.group.as_bytes(), 17);
                let (storages, readable, writable) = (1i64, 1i64, 1i64);
                for v in [
                    0,
                    0,
                    0,
                    0,
                    storages,
                    i64::from(storage.port()),
                    readable,
                    writable,
                    0,
                    i64::from(st.store_path_count),
                    256,
                    -1,
                ] {
                    out.extend_from_slice(&v.to_be_bytes());
                }
                s.write_all(&header(out.len() as i64, 0)).await?;
                s.write_all(&out).await?;
            }
            111 => {
                let status = if body.is_empty() { 0 } else { EINVAL };
                s.write_all(&header(0, status)).await?;
            }
            // Unknown: EINVAL, and the tracker keeps the connection.
            _ => s.write_all(&header(0, EINVAL)).await?,
        }
    }
}

/// Storage: answers EINVAL and closes, like `sock_send_done_callback`.
async fn einval_close(s: &mut TcpStream) -> io::Result<()> {
    s.write_all(&header(0, EINVAL)).await?;
    s.shutdown().await?;
    Err(io::Error::other("closed after EINVAL"))
}

/// Validates `group[16] | remote` against this storage; `Err` = EINVAL.
fn split_name(st: &State, b: &[u8]) -> Result<String, ()> {
    if b.len() <= 16 {
        return Err(());
    }
    let group = unfixed(&b[..16]);
    let remote = std::str::from_utf8(&b[16..]).map_err(|_| ())?.to_owned();
    let r = remote.as_bytes();
    let path_ok = r.len() > 10
        && r[0] == b'M'
        && r[3] == b'/'
        && u8::from_str_radix(&remote[1..3], 16).is_ok_and(|i| i < st.store_path_count)
        && r[6] == b'/'
        && r[9] == b'/'
        && !remote[10..].contains('/');
    if group != st.group || !path_ok {
        return Err(());
    }
    Ok(remote)
}

async fn storage_conn(mut s: TcpStream, st: Arc<State>) -> io::Result<()> {
    let mut served = 0;
    loop {
        if served > 0 && st.mode() == Mode::CloseAfterReply {
            return Ok(());
        }
        served += 1;
        let (len, cmd, _flags) = read_header(&mut s).await?;
        st.storage_cmds.lock().unwrap().push(cmd);
        let mode = st.mode();
        match cmd {
            11 => {
                let mut meta = [0u8; 15];
                if len < 15 {
                    return einval_close(&mut s).await;
                }
                s.read_exact(&mut meta).await?;
                let spi = meta[0] as i8;
                let mut size = [0u8; 8];
                size.copy_from_slice(&meta[1..9]);
                let size = i64::from_be_bytes(size);
                let ext = unfixed(&meta[9..15]);
                if size < 0
                    || len != 15 + size
                    || !(spi == -1 || (0..st.store_path_count as i8).contains(&spi))
                    || !name::valid_ext(&ext)
                {
                    return einval_close(&mut s).await;
                }
                let mut data = vec![0u8; size as usize];
                s.read_exact(&mut data).await?;
                if mode == Mode::UploadNoSpace {
                    s.write_all(&header(0, 28)).await?;
                    continue;
                }
                let mut crc = Crc32::default();
                crc.update(&data);
                let remote = {
                    let mut rng = rand::thread_rng();
                    let info = NameInfo {
                        source_ip: Ipv4Addr::LOCALHOST,
                        timestamp: 1_795_486_396,
                        raw_size: name::combine_rand_size(size as u64, rng.r#gen()),
                        crc32: crc.finish(),
                    };
                    name::remote_filename(0, (rng.r#gen(), rng.r#gen()), &info, &ext, &mut rng)
                };
                st.files.lock().unwrap().insert(remote.clone(), data);
                let mut out = fixed(st.group.as_bytes(), 16);
                out.extend_from_slice(remote.as_bytes());
                let announced = if mode == Mode::UploadAbsurdLength {
                    1 << 40
                } else {
                    out.len() as i64
                };
                s.write_all(&header(announced, 0)).await?;
                s.write_all(&out).await?;
            }
            12 | 22 => {
                let Some(body) = read_small_body(&mut s, len).await? else {
                    return einval_close(&mut s).await;
                };
                let Ok(remote) = split_name(&st, &body) else {
                    return einval_close(&mut s).await;
                };
                if cmd == 12 {
                    let removed = st.files.lock().unwrap().remove(&remote).is_some();
                    s.write_all(&header(0, if removed { 0 } else { ENOENT }))
                        .await?;
                    continue;
                }
                let size = st
                    .files
                    .lock()
                    .unwrap()
                    .get(&remote)
                    .map(|d| d.len() as i64);
                match size {
                    None => s.write_all(&header(0, ENOENT)).await?,
                    Some(size) => {
                        let size = if mode == Mode::InfoHugeSize {
                            1 << 62
                        } else {
                            size
                        };
                        let mut out = Vec::new();
                        out.extend_from_slice(&size.to_be_bytes());
                        out.extend_from_slice(&1_795_486_396i64.to_be_bytes());
                        out.extend_from_slice(&(-1i64).to_be_bytes());
                        out.extend(ip_field(IpAddr::V4(Ipv4Addr::LOCALHOST), 16, 46));
                        s.write_all(&header(out.len() as i64, 0)).await?;
                        s.write_all(&out).await?;
                    }
                }
            }
            14 => {
                let Some(body) = read_small_body(&mut s, len).await? else {
                    return einval_close(&mut s).await;
                };
                if body.len() < 16 {
                    return einval_close(&mut s).await;
                }
                let offset = i64::from_be_bytes(body[..8].try_into().unwrap());
                let length = i64::from_be_bytes(body[8..16].try_into().unwrap());
                let Ok(remote) = split_name(&st, &body[16..]) else {
                    return einval_close(&mut s).await;
                };
                let data = st.files.lock().unwrap().get(&remote).cloned();
                let Some(data) = data else {
                    s.write_all(&header(0, ENOENT)).await?;
                    continue;
                };
                let size = data.len() as i64;
                if offset < 0 || length < 0 || offset >= size {
                    return einval_close(&mut s).await;
                }
                let end = if length == 0 {
                    size
                } else {
                    (offset + length).min(size)
                };
                let part = &data[offset as usize..end as usize];
                match mode {
                    Mode::DownloadAbsurdLength => {
                        s.write_all(&header(1 << 62, 0)).await?;
                        s.write_all(part).await?;
                    }
                    Mode::DownloadShortBody => {
                        s.write_all(&header(part.len() as i64, 0)).await?;
                        s.write_all(&part[..part.len() / 2]).await?;
                        s.shutdown().await?;
                        return Ok(());
                    }
                    _ => {
                        s.write_all(&header(part.len() as i64, 0)).await?;
                        s.write_all(part).await?;
                    }
                }
            }
            111 => {
                if len != 0 {
                    return einval_close(&mut s).await;
                }
                s.write_all(&header(0, 0)).await?;
            }
            _ => return einval_close(&mut s).await,
        }
    }
}
