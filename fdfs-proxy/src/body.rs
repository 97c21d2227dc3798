//! Byte streams between HTTP and the stores, with the size limit enforced
//! as bytes flow (so memory stays bounded by one chunk, whatever the size).

use std::fmt;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt, stream};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Read size for files and sockets: large enough for throughput, small
/// enough that a slow client holds little memory per request.
pub const CHUNK_SIZE: usize = 64 * 1024;
/// Bytes of a file's start used to recognise its type by magic number
/// (WebP needs 12: `RIFF....WEBP`).
pub const SNIFF_LEN: usize = 16;

/// An upload body: chunks, or the reason the body is unusable.
pub type UploadStream = Pin<Box<dyn Stream<Item = Result<Bytes, BodyError>> + Send>>;
/// A download body.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, io::Error>> + Send>>;

/// Why an upload body could not be taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// More than the configured maximum.
    TooLarge { limit: u64 },
    /// The client stopped sending (truncated body, reset connection, bad multipart).
    Aborted(String),
    /// The body did not have the length announced for it.
    LengthMismatch { expected: u64, got: u64 },
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyError::TooLarge { limit } => write!(f, "file exceeds the {limit}-byte limit"),
            BodyError::Aborted(why) => write!(f, "upload body aborted: {why}"),
            BodyError::LengthMismatch { expected, got } => {
                write!(f, "upload body has {got} bytes, expected {expected}")
            }
        }
    }
}

impl std::error::Error for BodyError {}

/// Fails the stream as soon as more than `limit` bytes have passed.
pub fn limit(body: UploadStream, limit: u64) -> UploadStream {
    let mut seen: u64 = 0;
    Box::pin(body.map(move |chunk| {
        let chunk = chunk?;
        seen += chunk.len() as u64;
        if seen > limit {
            Err(BodyError::TooLarge { limit })
        } else {
            Ok(chunk)
        }
    }))
}

/// Fails the stream when no chunk arrives for `idle`: a client that stalls
/// mid-upload must not hold a temp file or a storage connection forever.
pub fn idle_timeout(body: UploadStream, idle: Duration) -> UploadStream {
    Box::pin(
        stream::unfold(Some(body), move |state| async move {
            let mut body = state?;
            match tokio::time::timeout(idle, body.next()).await {
                Ok(Some(item)) => Some((item, Some(body))),
                Ok(None) => None,
                Err(_) => Some((
                    Err(BodyError::Aborted(format!("no data received for {idle:?}"))),
                    None,
                )),
            }
        })
        .fuse(),
    )
}

/// Reads chunks until at least [`SNIFF_LEN`] bytes (or the end) are in hand;
/// returns those first bytes and a stream that replays them before the rest.
pub async fn peek_prefix<E: Send + 'static>(
    mut body: Pin<Box<dyn Stream<Item = Result<Bytes, E>> + Send>>,
) -> Result<
    (
        Vec<u8>,
        Pin<Box<dyn Stream<Item = Result<Bytes, E>> + Send>>,
    ),
    E,
> {
    let mut head: Vec<Bytes> = Vec::new();
    let mut have = 0;
    let mut ended = false;
    while have < SNIFF_LEN {
        match body.next().await {
            Some(chunk) => {
                let chunk = chunk?;
                have += chunk.len();
                head.push(chunk);
            }
            None => {
                ended = true;
                break;
            }
        }
    }
    let prefix: Vec<u8> = head
        .iter()
        .flat_map(|c| c.iter().copied())
        .take(SNIFF_LEN)
        .collect();
    let replay = stream::iter(head.into_iter().map(Ok));
    // A finished stream must not be polled again (many panic if they are).
    let rest: Pin<Box<dyn Stream<Item = Result<Bytes, E>> + Send>> = if ended {
        Box::pin(replay)
    } else {
        Box::pin(replay.chain(body))
    };
    Ok((prefix, rest))
}

/// Streams exactly `len` bytes of `reader` (already positioned), failing
/// with `UnexpectedEof` if it ends early (e.g. the file shrank).
pub fn read_exact_stream<R>(
    reader: R,
    len: u64,
) -> impl Stream<Item = Result<Bytes, io::Error>> + Send
where
    R: AsyncRead + Unpin + Send + 'static,
{
    stream::try_unfold((reader, len), |(mut reader, left)| async move {
        if left == 0 {
            return Ok(None);
        }
        let want = usize::try_from(left).unwrap_or(CHUNK_SIZE).min(CHUNK_SIZE);
        let mut buf = BytesMut::zeroed(want);
        let n = reader.read(&mut buf).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("file ended {left} bytes early"),
            ));
        }
        buf.truncate(n);
        Ok(Some((buf.freeze(), (reader, left - n as u64))))
    })
}

/// A spooled upload: the file's bytes as an upload stream.
pub async fn file_upload_stream(path: &Path, len: u64) -> io::Result<UploadStream> {
    let file = tokio::fs::File::open(path).await?;
    Ok(Box::pin(read_exact_stream(file, len).map(|r| {
        r.map_err(|e| BodyError::Aborted(format!("spool file: {e}")))
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(parts: &[&'static [u8]]) -> UploadStream {
        Box::pin(stream::iter(
            parts
                .iter()
                .map(|p| Ok(Bytes::from_static(p)))
                .collect::<Vec<_>>(),
        ))
    }

    async fn collect(s: UploadStream) -> Result<Vec<u8>, BodyError> {
        let mut out = Vec::new();
        let mut s = s;
        while let Some(c) = s.next().await {
            out.extend_from_slice(&c?);
        }
        Ok(out)
    }

    #[tokio::test]
    async fn limit_cuts_off_after_the_limit() {
        assert_eq!(
            collect(limit(chunks(&[b"abc", b"de"]), 5)).await.unwrap(),
            b"abcde"
        );
        assert_eq!(
            collect(limit(chunks(&[b"abc", b"def"]), 5)).await,
            Err(BodyError::TooLarge { limit: 5 })
        );
    }

    #[tokio::test]
    async fn idle_timeout_fails_a_stalled_body() {
        let stalled: UploadStream = Box::pin(chunks(&[b"abc"]).chain(stream::pending()));
        let got = collect(idle_timeout(stalled, Duration::from_millis(50))).await;
        assert!(matches!(got, Err(BodyError::Aborted(_))), "{got:?}");
        let fine = collect(idle_timeout(
            chunks(&[b"a", b"b"]),
            Duration::from_millis(50),
        ))
        .await;
        assert_eq!(fine.unwrap(), b"ab");
    }

    #[tokio::test]
    async fn peek_replays_everything() {
        let (p, rest) = peek_prefix(chunks(&[b"RIFF", b"\0\0\0\0WEBPVP8 ", b"more bytes"]))
            .await
            .unwrap();
        assert_eq!(p, b"RIFF\0\0\0\0WEBPVP8 ");
        assert_eq!(
            collect(rest).await.unwrap(),
            b"RIFF\0\0\0\0WEBPVP8 more bytes"
        );
        // A short body ends during the peek; the replay must not poll the
        // finished (non-fused) source again.
        let short: UploadStream = Box::pin(stream::unfold(0, |n| async move {
            assert!(n < 2, "polled after end");
            (n == 0).then(|| (Ok(Bytes::from_static(b"ab")), n + 1))
        }));
        let (p, rest) = peek_prefix(short).await.unwrap();
        assert_eq!(p, b"ab");
        assert_eq!(collect(rest).await.unwrap(), b"ab");
    }

    #[tokio::test]
    async fn exact_stream_detects_short_file() {
        let data: &[u8] = b"hello";
        let got: Vec<_> = read_exact_stream(data, 3).collect().await;
        assert_eq!(got.len(), 1);
        assert_eq!(&got[0].as_ref().unwrap()[..], b"hel");
        let got: Vec<_> = read_exact_stream(data, 9).collect().await;
        assert!(got.last().unwrap().is_err());
    }
}
