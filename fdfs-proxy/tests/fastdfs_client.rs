//! The FastDFS client against the in-test fake tracker + storage.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::fake_fdfs::{FakeCluster, Mode};
use common::test_bytes;
use fdfs_proxy::body::{BodyError, UploadStream};
use fdfs_proxy::client::{FdfsClient, FdfsError, Peer, PoolConfig, TrackerAddr};
use fdfs_proxy::file_id::{FileId, GroupName};
use fdfs_proxy::proto::ProtoError;
use fdfs_proxy::proto::cmd::query_store::StoreTarget;
use futures::StreamExt;

fn pool() -> PoolConfig {
    PoolConfig {
        connect_timeout: Duration::from_secs(2),
        io_timeout: Duration::from_secs(5),
        max_idle_per_addr: 4,
        max_idle_time: Duration::from_secs(60),
    }
}

fn client_for(trackers: &[SocketAddr]) -> FdfsClient {
    let t = trackers
        .iter()
        .map(|a| TrackerAddr::parse(&a.to_string()).unwrap())
        .collect();
    FdfsClient::new(t, pool())
}

fn stream_of(data: Vec<u8>, chunk: usize) -> UploadStream {
    let chunks: Vec<Result<Bytes, BodyError>> = data
        .chunks(chunk)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    Box::pin(futures::stream::iter(chunks))
}

async fn closed_port() -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
    // dropped: nothing listens there any more
}

async fn read_all(
    c: &FdfsClient,
    storage: SocketAddr,
    id: &FileId,
    offset: u64,
    len: u64,
) -> Result<Vec<u8>, FdfsError> {
    let mut d = c.download(storage, id, offset, len).await?;
    let mut out = Vec::new();
    while let Some(chunk) = d.next_chunk().await {
        out.extend_from_slice(&chunk?);
    }
    Ok(out)
}

async fn upload(c: &FdfsClient, data: &[u8], ext: &str) -> FileId {
    let target = c.query_store(None).await.unwrap();
    c.upload(
        &target,
        ext,
        data.len() as u64,
        stream_of(data.to_vec(), 65536),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn full_cycle_against_fake_cluster() {
    let fake = FakeCluster::start().await;
    let c = client_for(&[fake.tracker]);
    let target = c.query_store(None).await.unwrap();
    assert_eq!(target.group, "group1");
    assert_eq!(target.addr, fake.storage);
    let group = GroupName::parse("group1").unwrap();
    assert_eq!(c.query_store(Some(&group)).await.unwrap(), target);

    let data = test_bytes(3 * 1024 * 1024 + 17, 21);
    let id = upload(&c, &data, "jpg").await;
    assert_eq!(id.ext(), Some("jpg"));
    assert_eq!(c.query_fetch(&id).await.unwrap(), fake.storage);
    assert_eq!(c.query_update(&id).await.unwrap(), fake.storage);
    let info = c.file_info(fake.storage, &id).await.unwrap();
    assert_eq!(info.size, data.len() as u64);
    assert_eq!(
        info.crc32, 0xFFFF_FFFF,
        "sign-extended -1 is masked to 32 bits"
    );
    assert_eq!(info.source_ip, "127.0.0.1");

    assert!(
        read_all(&c, fake.storage, &id, 0, data.len() as u64)
            .await
            .unwrap()
            == data
    );
    assert_eq!(
        read_all(&c, fake.storage, &id, 1000, 10).await.unwrap(),
        &data[1000..1010]
    );

    c.delete(fake.storage, &id).await.unwrap();
    let e = c.file_info(fake.storage, &id).await.unwrap_err();
    assert_eq!(e.status(), Some(2), "{e}");
    let e = c.delete(fake.storage, &id).await.unwrap_err();
    assert_eq!(e.status(), Some(2), "{e}");
    let e = c.download(fake.storage, &id, 0, 1).await.err().unwrap();
    assert_eq!(e.status(), Some(2), "{e}");
    c.active_test(fake.storage, Peer::Storage).await.unwrap();
    c.active_test(fake.tracker, Peer::Tracker).await.unwrap();
}

#[tokio::test]
async fn connections_are_reused_and_dropped_after_storage_einval() {
    let fake = FakeCluster::start().await;
    let c = client_for(&[fake.tracker]);
    let id = upload(&c, b"hello world", "txt").await;
    for _ in 0..10 {
        let storage = c.query_fetch(&id).await.unwrap();
        assert_eq!(c.file_info(storage, &id).await.unwrap().size, 11);
        assert_eq!(
            read_all(&c, storage, &id, 0, 11).await.unwrap(),
            b"hello world"
        );
    }
    // ENOENT keeps the storage connection usable.
    let missing = FileId::parse("group1/M00/00/00/fwAAAWsE8imAXhu_ABLWh8TuLho152.bin").unwrap();
    assert_eq!(
        c.file_info(fake.storage, &missing)
            .await
            .unwrap_err()
            .status(),
        Some(2)
    );
    assert_eq!(fake.state.tracker_connections.load(Ordering::SeqCst), 1);
    assert_eq!(fake.state.storage_connections.load(Ordering::SeqCst), 1);
    assert_eq!(c.pool().idle_count(fake.storage), 1);

    // A wrong group is EINVAL: the storage closes, the client must not reuse it.
    let wrong = FileId::parse("group9/M00/00/00/fwAAAWsE8imAXhu_ABLWh8TuLho152.bin").unwrap();
    assert_eq!(
        c.delete(fake.storage, &wrong).await.unwrap_err().status(),
        Some(22)
    );
    assert_eq!(c.pool().idle_count(fake.storage), 0);
    assert_eq!(c.file_info(fake.storage, &id).await.unwrap().size, 11);
    assert_eq!(fake.state.storage_connections.load(Ordering::SeqCst), 2);
    // Offset past the end is EINVAL too.
    assert_eq!(
        c.download(fake.storage, &id, 11, 1)
            .await
            .err()
            .unwrap()
            .status(),
        Some(22)
    );
    assert_eq!(c.pool().idle_count(fake.storage), 0);
}

#[tokio::test]
async fn tracker_failover_and_all_down() {
    let fake = FakeCluster::start().await;
    let dead1 = closed_port().await;
    let dead2 = closed_port().await;
    let c = client_for(&[dead1, fake.tracker, dead2]);
    // Round-robin start points: every call must still land on the live one.
    for _ in 0..6 {
        assert_eq!(c.query_store(None).await.unwrap().addr, fake.storage);
    }
    let health = c.check_trackers().await;
    assert_eq!(health.iter().filter(|h| h.result.is_ok()).count(), 1);

    let c = client_for(&[dead1, dead2]);
    match c.query_store(None).await {
        Err(FdfsError::NoTracker(why)) => assert_eq!(why.len(), 2, "{why:?}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn misbehaving_servers_are_protocol_errors_without_huge_allocations() {
    let fake = FakeCluster::start().await;
    let c = client_for(&[fake.tracker]);
    let id = upload(&c, &test_bytes(1000, 3), "bin").await;

    fake.state.set_mode(Mode::TrackerAbsurdLength);
    match c.query_store(None).await {
        Err(FdfsError::Protocol {
            error: ProtoError::BadLength { got, .. },
            ..
        }) => assert_eq!(got, 1 << 62),
        other => panic!("{other:?}"),
    }
    match c.query_fetch(&id).await {
        Err(FdfsError::Protocol {
            error: ProtoError::BadLength { .. },
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    fake.state.set_mode(Mode::TrackerNegativeLength);
    match c.query_store(None).await {
        Err(FdfsError::Protocol {
            error: ProtoError::NegativeLength(-40),
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    fake.state.set_mode(Mode::TrackerWrongLength);
    match c.query_store(None).await {
        Err(FdfsError::Protocol {
            error: ProtoError::BadLength { got: 41, .. },
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    fake.state.set_mode(Mode::DownloadAbsurdLength);
    match c.download(fake.storage, &id, 0, 1000).await {
        Err(FdfsError::Protocol { .. }) => {}
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("accepted an absurd download length"),
    }
    fake.state.set_mode(Mode::DownloadShortBody);
    let e = read_all(&c, fake.storage, &id, 0, 1000).await.unwrap_err();
    assert!(matches!(e, FdfsError::Io { .. }), "{e}");
    fake.state.set_mode(Mode::UploadAbsurdLength);
    let target = c.query_store(None).await.unwrap();
    match c
        .upload(&target, "bin", 10, stream_of(vec![1; 10], 4))
        .await
    {
        Err(FdfsError::Protocol {
            error: ProtoError::BadLength { .. },
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    fake.state.set_mode(Mode::UploadNoSpace);
    let e = c
        .upload(&target, "bin", 10, stream_of(vec![1; 10], 4))
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(28));

    // Back to normal: the client recovered (broken connections were dropped).
    fake.state.set_mode(Mode::Normal);
    assert_eq!(
        read_all(&c, fake.storage, &id, 0, 1000).await.unwrap(),
        test_bytes(1000, 3)
    );
}

#[tokio::test]
async fn failed_upload_bodies_store_nothing() {
    let fake = FakeCluster::start().await;
    let c = client_for(&[fake.tracker]);
    let target = c.query_store(None).await.unwrap();
    // The body stream fails half way.
    let chunks: Vec<Result<Bytes, BodyError>> = vec![
        Ok(Bytes::from(vec![7; 5000])),
        Err(BodyError::Aborted("client went away".into())),
    ];
    let e = c
        .upload(
            &target,
            "bin",
            10_000,
            Box::pin(futures::stream::iter(chunks)),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, FdfsError::Body(BodyError::Aborted(_))), "{e}");
    // Shorter and longer than announced.
    let e = c
        .upload(&target, "bin", 10_000, stream_of(vec![1; 9_999], 1000))
        .await
        .unwrap_err();
    assert!(
        matches!(e, FdfsError::Body(BodyError::LengthMismatch { .. })),
        "{e}"
    );
    let e = c
        .upload(&target, "bin", 10_000, stream_of(vec![1; 10_001], 1000))
        .await
        .unwrap_err();
    assert!(
        matches!(e, FdfsError::Body(BodyError::LengthMismatch { .. })),
        "{e}"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(fake.state.file_count(), 0);
    // The storage's refusal (bad store path index → EINVAL, then close) wins
    // over the broken pipe the rest of a 4 MiB body runs into.
    let bad = StoreTarget {
        store_path_index: 5,
        ..target.clone()
    };
    let e = c
        .upload(&bad, "bin", 4 << 20, stream_of(vec![0; 4 << 20], 65536))
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(22), "{e}");
    assert_eq!(fake.state.file_count(), 0);
    // An invalid ext is refused by the storage too.
    let e = c
        .upload(&target, "a b", 3, stream_of(vec![1; 3], 3))
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(22), "{e}");
    // 0xFF = storage chooses the path.
    let any = StoreTarget {
        store_path_index: 0xFF,
        ..target
    };
    c.upload(&any, "", 3, stream_of(vec![1; 3], 3))
        .await
        .unwrap();
    assert_eq!(fake.state.file_count(), 1);
}

#[tokio::test]
async fn ipv6_layouts_and_full_width_ipv4() {
    let fake = FakeCluster::start_on("::1".parse().unwrap(), "::1".parse().unwrap()).await;
    let c = client_for(&[fake.tracker]);
    let target = c.query_store(None).await.unwrap();
    assert_eq!(target.addr, fake.storage);
    let id = upload(&c, b"v6 bytes", "txt").await;
    assert_eq!(c.query_fetch(&id).await.unwrap(), fake.storage);
    assert_eq!(
        read_all(&c, fake.storage, &id, 0, 8).await.unwrap(),
        b"v6 bytes"
    );

    // A 15-character IPv4 fills the tracker's field with no NUL.
    let fake = FakeCluster::start_on(
        "127.0.0.1".parse().unwrap(),
        "127.100.100.100".parse().unwrap(),
    )
    .await;
    let c = client_for(&[fake.tracker]);
    let target = c.query_store(None).await.unwrap();
    assert_eq!(target.addr, fake.storage);
    let id = upload(&c, b"x", "").await;
    assert_eq!(
        c.query_fetch(&id).await.unwrap().ip().to_string(),
        "127.100.100.100"
    );
}

#[tokio::test]
async fn unreachable_storage_fails_fast_enough() {
    let fake = FakeCluster::start().await;
    let c = client_for(&[fake.tracker]);
    let id = upload(&c, b"abc", "txt").await;
    let dead = closed_port().await;
    let start = Instant::now();
    let e = c.file_info(dead, &id).await.unwrap_err();
    assert!(matches!(e, FdfsError::Connect { .. }), "{e}");
    // Three attempts with 100 + 200 ms back-off, not more.
    assert!(start.elapsed() < Duration::from_secs(2));
    let mut s = Box::pin(
        c.download(fake.storage, &id, 0, 3)
            .await
            .unwrap()
            .into_stream(),
    );
    assert_eq!(s.next().await.unwrap().unwrap().as_ref(), b"abc");
    assert!(s.next().await.is_none());
}

#[tokio::test]
async fn stale_pooled_connections_are_replaced() {
    let fake = FakeCluster::start().await;
    let c = client_for(&[fake.tracker]);
    let id = upload(&c, b"abc", "txt").await;
    fake.state.set_mode(Mode::CloseAfterReply);
    for _ in 0..5 {
        assert_eq!(c.file_info(fake.storage, &id).await.unwrap().size, 3);
        // Give the server's close time to arrive, so the pooled connection
        // is visibly dead on the next checkout.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Without waiting: the dead connection may look alive, the resend on a
    // fresh one must still make each call succeed.
    for _ in 0..5 {
        assert_eq!(read_all(&c, fake.storage, &id, 0, 3).await.unwrap(), b"abc");
    }
}
