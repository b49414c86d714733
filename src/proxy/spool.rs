//! Buffering's body store, used by the middleware chain (src/proxy/chain.rs) around the
//! service call: a request or response body is read whole, its first `mem` bytes kept in memory
//! and the rest written to an anonymous temporary file (unlinked at creation, so nothing is left
//! behind even on a crash), with a hard limit (`max*BodyBytes`). The stored body can be replayed
//! any number of times (retryExpression) with an exact length.

use std::io;
use std::os::unix::fs::FileExt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;
use tokio::io::AsyncWriteExt;

use crate::body::{Body, BoxError};

/// Bytes read from the temporary file per frame when replaying.
const FILE_CHUNK: u64 = 64 * 1024;

/// Why a body could not be stored.
#[derive(Debug)]
pub(super) enum SpoolError {
    /// More than the limit arrived.
    TooLarge,
    /// The body failed while being read (client or server gone, timeout).
    Body,
    /// The temporary file could not be created or written.
    Io(io::Error),
}

/// A body read whole: memory first, then a temporary file.
#[derive(Debug, Default)]
pub(super) struct Spooled {
    mem: Vec<Bytes>,
    file: Option<Arc<std::fs::File>>,
    file_len: u64,
    len: u64,
}

impl Spooled {
    /// Total length in bytes.
    pub(super) fn len(&self) -> u64 {
        self.len
    }

    /// Whether part of the body lives on disk.
    #[cfg(test)]
    pub(super) fn on_disk(&self) -> bool {
        self.file.is_some()
    }

    /// Reads `body` whole, keeping up to `mem` bytes in memory and the rest on disk; more than
    /// `max` bytes (when set) is `TooLarge`, detected as soon as the excess arrives.
    pub(super) async fn read(
        body: Body,
        mem: u64,
        max: Option<u64>,
    ) -> Result<Spooled, SpoolError> {
        let mut body = body;
        let mut out = Spooled::default();
        let mut mem_len = 0u64;
        let mut file: Option<tokio::fs::File> = None;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|_| SpoolError::Body)?;
            let Ok(data) = frame.into_data() else {
                // Trailers are not kept (as oxy's buffer, which drops them).
                continue;
            };
            if data.is_empty() {
                continue;
            }
            let n = data.len() as u64;
            if max.is_some_and(|m| out.len + n > m) {
                return Err(SpoolError::TooLarge);
            }
            out.len += n;
            if file.is_none() && mem_len + n <= mem {
                mem_len += n;
                out.mem.push(data);
                continue;
            }
            if file.is_none() {
                let f = tokio::task::spawn_blocking(tempfile::tempfile)
                    .await
                    .map_err(|e| SpoolError::Io(io::Error::other(e)))?
                    .map_err(SpoolError::Io)?;
                file = Some(tokio::fs::File::from_std(f));
            }
            if let Some(f) = file.as_mut() {
                f.write_all(&data).await.map_err(SpoolError::Io)?;
                out.file_len += n;
            }
        }
        if let Some(mut f) = file {
            f.flush().await.map_err(SpoolError::Io)?;
            out.file = Some(Arc::new(f.into_std().await));
        }
        Ok(out)
    }

    /// A body that sends the stored bytes (memory part, then the file), with an exact length.
    pub(super) fn replay(&self) -> Body {
        let head = futures_util::stream::iter(
            self.mem
                .clone()
                .into_iter()
                .map(|b| Ok::<_, BoxError>(Frame::data(b))),
        );
        let stream: Pin<
            Box<dyn futures_util::Stream<Item = Result<Frame<Bytes>, BoxError>> + Send + Sync>,
        > = match &self.file {
            None => Box::pin(head),
            Some(f) => {
                use futures_util::StreamExt;
                let f = f.clone();
                let total = self.file_len;
                let tail = futures_util::stream::unfold(0u64, move |off| {
                    let f = f.clone();
                    async move {
                        if off >= total {
                            return None;
                        }
                        let n = FILE_CHUNK.min(total - off);
                        let read = tokio::task::spawn_blocking(move || {
                            let mut buf = vec![0u8; n as usize];
                            f.read_exact_at(&mut buf, off).map(|()| buf)
                        })
                        .await;
                        match read {
                            Ok(Ok(buf)) => Some((Ok(Frame::data(Bytes::from(buf))), off + n)),
                            Ok(Err(e)) => Some((Err(BoxError::from(e)), total)),
                            Err(e) => Some((Err(BoxError::from(e)), total)),
                        }
                    }
                });
                Box::pin(head.chain(tail))
            }
        };
        Body::boxed(BodyExt::boxed(Exact {
            inner: http_body_util::StreamBody::new(stream),
            left: self.len,
        }))
    }
}

/// A stream body whose length is known: hyper frames it with `Content-Length`.
struct Exact<S> {
    inner: http_body_util::StreamBody<S>,
    left: u64,
}

impl<S> http_body::Body for Exact<S>
where
    S: futures_util::Stream<Item = Result<Frame<Bytes>, BoxError>> + Unpin,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(f))) = &polled {
            if let Some(d) = f.data_ref() {
                this.left = this.left.saturating_sub(d.len() as u64);
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.left)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(n: usize, size: usize) -> Body {
        let s = futures_util::stream::iter(
            (0..n).map(move |i| Ok::<_, BoxError>(Frame::data(Bytes::from(vec![i as u8; size])))),
        );
        Body::boxed(BodyExt::boxed(http_body_util::StreamBody::new(s)))
    }

    async fn collect(b: Body) -> Vec<u8> {
        b.collect().await.unwrap().to_bytes().to_vec()
    }

    #[tokio::test]
    async fn memory_then_disk_and_replays() {
        let s = Spooled::read(chunks(10, 1000), 3500, None).await.unwrap();
        assert_eq!(s.len(), 10_000);
        assert!(s.on_disk());
        assert_eq!(s.mem.len(), 3);
        let expected: Vec<u8> = (0..10u8).flat_map(|i| vec![i; 1000]).collect();
        for _ in 0..3 {
            let b = s.replay();
            assert_eq!(http_body::Body::size_hint(&b).exact(), Some(10_000));
            assert_eq!(collect(b).await, expected);
        }
        let small = Spooled::read(chunks(2, 10), 3500, None).await.unwrap();
        assert!(!small.on_disk());
        assert_eq!(collect(small.replay()).await.len(), 20);
        let empty = Spooled::read(Body::empty(), 10, Some(0)).await.unwrap();
        assert!(http_body::Body::is_end_stream(&empty.replay()));
    }

    #[tokio::test]
    async fn limit_is_exact() {
        assert!(Spooled::read(chunks(10, 100), 10, Some(1000)).await.is_ok());
        assert!(matches!(
            Spooled::read(chunks(10, 100), 10, Some(999)).await,
            Err(SpoolError::TooLarge)
        ));
    }
}
