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
}

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
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Incoming { inner } => inner.is_end_stream(),
            Body::Full { inner } => inner.is_none(),
            Body::Boxed { inner } => inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Incoming { inner } => inner.size_hint(),
            Body::Full { inner } => {
                SizeHint::with_exact(inner.as_ref().map_or(0, |b| b.len() as u64))
            }
            Body::Boxed { inner } => inner.size_hint(),
        }
    }
}
