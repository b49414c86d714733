//! The one body type of the data plane: what the proxy reads from clients and servers and writes
//! back. An enum rather than a boxed trait object, so the common case (a streamed `Incoming`)
//! costs no allocation.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use http_body_util::combinators::BoxBody;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

pin_project_lite::pin_project! {
    #[project = BodyProj]
    pub enum Body {
        /// Streamed from a hyper connection (client request or server response).
        Incoming { #[pin] inner: hyper::body::Incoming },
        /// A complete in-memory body (own answers, replay copies).
        Full { inner: Option<Bytes> },
        /// Anything else (middleware transforms such as compression).
        Boxed { #[pin] inner: BoxBody<Bytes, BoxError> },
        /// A streamed client body that must be complete by a deadline (the entry point's
        /// `readTimeout`); past it the body fails. The timer is boxed so `Body` stays `Unpin`
        /// (hyper's client needs it); only requests that carry a body pay for it.
        Timed {
            #[pin] inner: hyper::body::Incoming,
            deadline: Pin<Box<tokio::time::Sleep>>,
        },
    }
}

impl Body {
    pub fn empty() -> Self {
        Body::Full { inner: None }
    }
    pub fn full(b: impl Into<Bytes>) -> Self {
        let b = b.into();
        Body::Full {
            inner: if b.is_empty() { None } else { Some(b) },
        }
    }
    pub fn boxed(inner: BoxBody<Bytes, BoxError>) -> Self {
        Body::Boxed { inner }
    }
    /// Bounds a streamed body by `deadline`; other bodies are returned as they are.
    pub fn with_deadline(self, deadline: tokio::time::Instant) -> Self {
        match self {
            Body::Incoming { inner } => Body::Timed {
                inner,
                deadline: Box::pin(tokio::time::sleep_until(deadline)),
            },
            other => other,
        }
    }
}

/// The error of a [`Body::Timed`] whose deadline passed.
#[derive(Debug, thiserror::Error)]
#[error("request body not received within readTimeout")]
pub struct BodyTimeout;

impl From<hyper::body::Incoming> for Body {
    fn from(inner: hyper::body::Incoming) -> Self {
        Body::Incoming { inner }
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.project() {
            BodyProj::Incoming { inner } => inner.poll_frame(cx).map_err(Into::into),
            BodyProj::Full { inner } => Poll::Ready(inner.take().map(|b| Ok(Frame::data(b)))),
            BodyProj::Boxed { inner } => inner.poll_frame(cx),
            BodyProj::Timed { inner, deadline } => match inner.poll_frame(cx) {
                Poll::Pending => match std::future::Future::poll(deadline.as_mut(), cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(BodyTimeout.into()))),
                    Poll::Pending => Poll::Pending,
                },
                ready => ready.map_err(Into::into),
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Incoming { inner } => inner.is_end_stream(),
            Body::Full { inner } => inner.is_none(),
            Body::Boxed { inner } => inner.is_end_stream(),
            Body::Timed { inner, .. } => inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Incoming { inner } => inner.size_hint(),
            Body::Full { inner } => {
                SizeHint::with_exact(inner.as_ref().map_or(0, |b| b.len() as u64))
            }
            Body::Boxed { inner } => inner.size_hint(),
            Body::Timed { inner, .. } => inner.size_hint(),
        }
    }
}
