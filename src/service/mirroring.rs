//! Mirroring services: the main service answers; each mirror gets a copy of `percent`% of the
//! requests, fire-and-forget (its answer is discarded). The main request body streams through
//! untouched while a bounded replay copy (`maxBodySize`, capped by wharf) is kept; the mirrors
//! are sent once the body is complete, and skipped if it outgrew the cap.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::{Bytes, BytesMut};
use http::request::Parts;
use http::{Request, Response};
use http_body::{Body as _, Frame, SizeHint};
use http_body_util::combinators::BoxBody;
use http_body_util::BodyExt;
use tokio::sync::oneshot;

use super::{ProxyError, RequestCtx, ServiceRuntime};
use crate::body::{Body, BoxError};

/// wharf's cap on the replay copy when `maxBodySize` is unset or -1 (Traefik buffers without
/// limit there; wharf never buffers unboundedly).
pub const DEFAULT_MIRROR_BODY_CAP: usize = 4 * 1024 * 1024;

#[derive(Debug)]
pub(crate) struct Mirror {
    pub service: Arc<ServiceRuntime>,
    pub percent: u64,
    pub sent: AtomicU64,
}

#[derive(Debug)]
pub(crate) struct MirroringRt {
    pub main: Arc<ServiceRuntime>,
    pub mirrors: Box<[Mirror]>,
    pub mirror_body: bool,
    pub max_body: usize,
    pub total: AtomicU64,
}

impl MirroringRt {
    pub fn is_up(&self) -> bool {
        self.main.is_up()
    }

    /// Which mirrors get this request: exactly `percent`% over time (Traefik's counting).
    fn chosen(&self) -> Vec<Arc<ServiceRuntime>> {
        let total = self.total.fetch_add(1, Ordering::Relaxed) + 1;
        let mut out = Vec::new();
        for m in self.mirrors.iter() {
            let sent = m.sent.load(Ordering::Relaxed);
            if sent * 100 < total * m.percent {
                m.sent.fetch_add(1, Ordering::Relaxed);
                out.push(m.service.clone());
            }
        }
        out
    }

    pub async fn serve(
        &self,
        req: Request<Body>,
        ctx: &RequestCtx,
    ) -> Result<Response<Body>, ProxyError> {
        let mirrors = self.chosen();
        if mirrors.is_empty() {
            return self.main.serve_dyn(req, ctx).await;
        }
        let (parts, body) = req.into_parts();
        let template = clone_parts(&parts);
        if !self.mirror_body || body.is_end_stream() {
            spawn_mirrors(mirrors, template, Bytes::new(), ctx.clone());
            return self
                .main
                .serve_dyn(Request::from_parts(parts, body), ctx)
                .await;
        }
        if body.size_hint().lower() > self.max_body as u64 {
            tracing::debug!("request body larger than the mirroring limit: not mirrored");
            return self
                .main
                .serve_dyn(Request::from_parts(parts, body), ctx)
                .await;
        }
        let (tx, rx) = oneshot::channel();
        let tee = TeeBody {
            inner: body,
            buf: BytesMut::new(),
            cap: self.max_body,
            tx: Some(tx),
        };
        let ctx2 = ctx.clone();
        tokio::spawn(async move {
            match rx.await {
                Ok(bytes) => spawn_mirrors(mirrors, template, bytes, ctx2),
                Err(_) => tracing::debug!(
                    "request body not complete or larger than the mirroring limit: not mirrored"
                ),
            }
        });
        let body = Body::boxed(BoxBody::new(tee));
        self.main
            .serve_dyn(Request::from_parts(parts, body), ctx)
            .await
    }
}

/// What a mirror request copies from the original: method, URI, version, headers.
fn clone_parts(parts: &Parts) -> Request<()> {
    let mut r = Request::new(());
    *r.method_mut() = parts.method.clone();
    *r.uri_mut() = parts.uri.clone();
    *r.version_mut() = parts.version;
    *r.headers_mut() = parts.headers.clone();
    r
}

fn spawn_mirrors(
    mirrors: Vec<Arc<ServiceRuntime>>,
    template: Request<()>,
    body: Bytes,
    ctx: RequestCtx,
) {
    for service in mirrors {
        let mut req = Request::new(Body::full(body.clone()));
        *req.method_mut() = template.method().clone();
        *req.uri_mut() = template.uri().clone();
        *req.version_mut() = template.version();
        *req.headers_mut() = template.headers().clone();
        // The copy is complete in memory: its length is known.
        req.headers_mut().remove(http::header::TRANSFER_ENCODING);
        if !body.is_empty() || req.headers().contains_key(http::header::CONTENT_LENGTH) {
            req.headers_mut().insert(
                http::header::CONTENT_LENGTH,
                http::HeaderValue::from(body.len()),
            );
        }
        let ctx = ctx.clone();
        tokio::spawn(async move {
            match service.serve_dyn(req, &ctx).await {
                // Drain the answer so the pooled connection can be reused.
                Ok(resp) => {
                    let _ = resp.into_body().collect().await;
                }
                Err(e) => {
                    tracing::debug!(service = %service.name, error = %e, "mirror request failed")
                }
            }
        });
    }
}

/// Passes the body through and keeps a copy up to `cap` bytes; hands the copy over when the
/// body ends, or drops it (closing the channel) when it outgrows the cap or fails.
struct TeeBody {
    inner: Body,
    buf: BytesMut,
    cap: usize,
    tx: Option<oneshot::Sender<Bytes>>,
}

impl TeeBody {
    fn finish(&mut self) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(std::mem::take(&mut self.buf).freeze());
        }
    }
}

impl http_body::Body for TeeBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let res = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        match &res {
            Some(Ok(frame)) => {
                if let (Some(d), true) = (frame.data_ref(), this.tx.is_some()) {
                    if this.buf.len() + d.len() > this.cap {
                        this.tx = None;
                        this.buf = BytesMut::new();
                    } else {
                        this.buf.extend_from_slice(d);
                    }
                }
                // hyper stops polling once the body says it ended.
                if this.inner.is_end_stream() {
                    this.finish();
                }
            }
            Some(Err(_)) => {
                this.tx = None;
                this.buf = BytesMut::new();
            }
            None => this.finish(),
        }
        Poll::Ready(res)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
