//! The body side of the compress middleware, run by the proxy after the service answered
//! (src/proxy/chain.rs): `apply` asks the compiled policy (`wharf_middlewares::compress`) what
//! to do with the response head, measures a body of unknown length up to the threshold, and
//! wraps the body in an encoder that compresses frame by frame.
//!
//! Memory per response is bounded: at most `MEASURE_CAP` bytes (plus one frame) are held while
//! deciding, and the encoder hands out its output as soon as it has `OUT_CHUNK` bytes or the
//! backend pauses. While deciding, a backend silent for `MEASURE_PAUSE` is streaming; once
//! compressing, every pause (the backend has nothing more right now) flushes the encoder, so
//! streamed answers (server-sent events, long polls, progress output) reach the client as they
//! are produced, compressed.

use std::io::Write;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderValue};
use http::response;
use http_body::{Body as _, Frame, SizeHint};
use http_body_util::BodyExt;
use wharf_middlewares::compress::{Encoding, Plan};
use wharf_middlewares::CompressPolicy;

use crate::body::{Body, BoxError};

/// Largest prefix read to decide on a body of unknown length. A body still going past it is
/// compressed even when `minResponseBodyBytes` is larger (it is large anyway, and holding more
/// of it would let one setting make wharf buffer without bound).
pub(super) const MEASURE_CAP: usize = 1 << 20;

/// While measuring, a backend that sends nothing for this long is taken to be streaming: the
/// answer is compressed from there on (and flushed at each pause), so events and progress
/// output are not held back waiting for `minResponseBodyBytes`.
pub(super) const MEASURE_PAUSE: std::time::Duration = std::time::Duration::from_millis(50);

/// Longest time spent measuring: a backend trickling bytes more often than `MEASURE_PAUSE` is
/// streaming too, and its answer head must not wait for the threshold.
pub(super) const MEASURE_BUDGET: std::time::Duration = std::time::Duration::from_millis(250);

/// The encoder's output is handed out once it has this many bytes (or at a pause or the end).
const OUT_CHUNK: usize = 32 * 1024;

/// gzip level (zlib's default), brotli quality and window (2^20 bytes, to bound memory per
/// response), zstd level (its default).
const GZIP_LEVEL: u32 = 6;
const BROTLI_QUALITY: u32 = 5;
const BROTLI_LGWIN: u32 = 20;
const ZSTD_LEVEL: i32 = 3;

/// A streaming encoder writing into a buffer that is drained after each step.
pub enum Encoder {
    Gzip(flate2::write::GzEncoder<Vec<u8>>),
    Br(Box<brotli::CompressorWriter<Vec<u8>>>),
    Zstd(zstd::stream::write::Encoder<'static, Vec<u8>>),
}

impl Encoder {
    pub fn new(enc: Encoding) -> std::io::Result<Self> {
        Ok(match enc {
            Encoding::Gzip => Encoder::Gzip(flate2::write::GzEncoder::new(
                Vec::new(),
                flate2::Compression::new(GZIP_LEVEL),
            )),
            Encoding::Br => Encoder::Br(Box::new(brotli::CompressorWriter::new(
                Vec::new(),
                4096,
                BROTLI_QUALITY,
                BROTLI_LGWIN,
            ))),
            Encoding::Zstd => {
                Encoder::Zstd(zstd::stream::write::Encoder::new(Vec::new(), ZSTD_LEVEL)?)
            }
        })
    }

    pub fn write(&mut self, data: &[u8]) -> std::io::Result<()> {
        match self {
            Encoder::Gzip(e) => e.write_all(data),
            Encoder::Br(e) => e.write_all(data),
            Encoder::Zstd(e) => e.write_all(data),
        }
    }

    /// Makes everything written so far decodable by the client (a sync flush).
    pub fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Encoder::Gzip(e) => e.flush(),
            Encoder::Br(e) => e.flush(),
            Encoder::Zstd(e) => e.flush(),
        }
    }

    fn out(&mut self) -> &mut Vec<u8> {
        match self {
            Encoder::Gzip(e) => e.get_mut(),
            Encoder::Br(e) => e.get_mut(),
            Encoder::Zstd(e) => e.get_mut(),
        }
    }

    fn pending(&mut self) -> usize {
        self.out().len()
    }

    /// The output produced so far.
    pub fn take(&mut self) -> Bytes {
        Bytes::from(std::mem::take(self.out()))
    }

    /// Ends the stream; returns the last output.
    pub fn finish(self) -> std::io::Result<Bytes> {
        let out = match self {
            Encoder::Gzip(e) => e.finish()?,
            Encoder::Br(e) => e.into_inner(),
            Encoder::Zstd(e) => e.finish()?,
        };
        Ok(Bytes::from(out))
    }
}

/// Compresses a whole in-memory body (wharf's own answers).
pub fn encode_all(enc: Encoding, data: &[u8]) -> std::io::Result<Bytes> {
    let mut e = Encoder::new(enc)?;
    e.write(data)?;
    let head = e.take();
    let tail = e.finish()?;
    if head.is_empty() {
        return Ok(tail);
    }
    let mut all = BytesMut::with_capacity(head.len() + tail.len());
    all.extend_from_slice(&head);
    all.extend_from_slice(&tail);
    Ok(all.freeze())
}

/// Response headers of a compressed answer: the coding set, the length and ranges of the
/// original gone (they describe the uncompressed bytes).
fn mark_encoded(rp: &mut response::Parts, enc: Encoding) {
    rp.headers.remove(header::CONTENT_LENGTH);
    rp.headers.remove(header::ACCEPT_RANGES);
    rp.headers.insert(
        header::CONTENT_ENCODING,
        HeaderValue::from_static(enc.as_str()),
    );
}

/// `Vary: Accept-Encoding`, added once: every answer of a request that negotiated a coding may
/// differ by that header, compressed or not (Traefik adds it the same way).
pub(super) fn add_vary(rp: &mut response::Parts) {
    let present = rp.headers.get_all(header::VARY).iter().any(|v| {
        v.to_str().is_ok_and(|s| {
            s.split(',')
                .any(|t| t.trim() == "*" || t.trim().eq_ignore_ascii_case("accept-encoding"))
        })
    });
    if !present {
        rp.headers
            .append(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    }
}

/// The compress step for an answer wharf holds whole (a filter's own response).
pub(super) fn apply_full(
    policy: &CompressPolicy,
    enc: Encoding,
    rp: &mut response::Parts,
    bytes: Bytes,
) -> Bytes {
    add_vary(rp);
    if bytes.is_empty()
        || policy.plan(rp.status, &rp.headers, Some(bytes.len() as u64)) != Plan::Compress
    {
        return bytes;
    }
    match encode_all(enc, &bytes) {
        Ok(out) => {
            mark_encoded(rp, enc);
            out
        }
        Err(e) => {
            tracing::warn!(error = %e, "compression failed; answer sent as it is");
            bytes
        }
    }
}

/// The compress step for an answer from the service: decides (reading at most
/// [`MEASURE_CAP`] bytes of a body of unknown length) and returns the body to send.
pub(super) async fn apply(
    policy: &CompressPolicy,
    enc: Encoding,
    rp: &mut response::Parts,
    mut body: Body,
) -> Body {
    add_vary(rp);
    if body.is_end_stream() {
        return body;
    }
    let known = body.size_hint().exact();
    match policy.plan(rp.status, &rp.headers, known) {
        Plan::Skip => body,
        Plan::Compress => match Encoder::new(enc) {
            Ok(encoder) => {
                mark_encoded(rp, enc);
                Body::boxed(BodyExt::boxed(Compressed::new(body, encoder)))
            }
            Err(e) => {
                tracing::warn!(error = %e, "compression failed to start; answer sent as it is");
                body
            }
        },
        Plan::Measure => {
            let min = usize::try_from(policy.min_response_body_bytes())
                .unwrap_or(usize::MAX)
                .min(MEASURE_CAP);
            let mut head = BytesMut::new();
            // What stopped the reading besides the threshold: the end, trailers or an error.
            let mut last: Option<Result<Frame<Bytes>, BoxError>> = None;
            let mut ended = false;
            let mut streaming = false;
            let measure_end = tokio::time::Instant::now() + MEASURE_BUDGET;
            while head.len() < min {
                // A backend that pauses is streaming (Go's proxy would flush here): decide
                // now rather than hold its answer back.
                let wait = (tokio::time::Instant::now() + MEASURE_PAUSE).min(measure_end);
                let next = tokio::time::timeout_at(wait, body.frame()).await.ok();
                match next {
                    None => {
                        streaming = true;
                        break;
                    }
                    Some(None) => {
                        ended = true;
                        break;
                    }
                    Some(Some(Ok(frame))) => match frame.into_data() {
                        Ok(d) => head.extend_from_slice(&d),
                        Err(trailers) => {
                            last = Some(Ok(trailers));
                            ended = true;
                            break;
                        }
                    },
                    Some(Some(Err(e))) => {
                        last = Some(Err(e));
                        ended = true;
                        break;
                    }
                }
            }
            let errored = matches!(last, Some(Err(_)));
            let rest = Replay {
                head: (!head.is_empty()).then(|| head.split().freeze()),
                last,
                inner: (!ended).then_some(body),
            };
            let small = ended && !streaming && (rest.head_len() < min);
            if small || errored {
                return Body::boxed(BodyExt::boxed(rest));
            }
            match Encoder::new(enc) {
                Ok(encoder) => {
                    mark_encoded(rp, enc);
                    Body::boxed(BodyExt::boxed(Compressed::new(rest, encoder)))
                }
                Err(e) => {
                    tracing::warn!(error = %e, "compression failed to start; answer sent as it is");
                    Body::boxed(BodyExt::boxed(rest))
                }
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// The bytes read while measuring, then what stopped the reading, then the rest.
    struct Replay {
        head: Option<Bytes>,
        last: Option<Result<Frame<Bytes>, BoxError>>,
        #[pin]
        inner: Option<Body>,
    }
}

impl Replay {
    fn head_len(&self) -> usize {
        self.head.as_ref().map_or(0, Bytes::len)
    }
}

impl http_body::Body for Replay {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.project();
        if let Some(h) = this.head.take() {
            return Poll::Ready(Some(Ok(Frame::data(h))));
        }
        if let Some(l) = this.last.take() {
            return Poll::Ready(Some(l));
        }
        match this.inner.as_pin_mut() {
            Some(inner) => inner.poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.head.is_none()
            && self.last.is_none()
            && self.inner.as_ref().is_none_or(|b| b.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        let head = self.head_len() as u64;
        match &self.inner {
            None if self.last.is_none() => SizeHint::with_exact(head),
            Some(b) => {
                let h = b.size_hint();
                let mut s = SizeHint::new();
                s.set_lower(h.lower() + head);
                if let Some(u) = h.upper() {
                    s.set_upper(u + head);
                }
                s
            }
            None => {
                let mut s = SizeHint::new();
                s.set_lower(head);
                s
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// A body compressed frame by frame: output goes out at `OUT_CHUNK` bytes, when the inner
    /// body pauses (after a flush), and at the end (trailers follow the last data).
    pub struct Compressed<B> {
        #[pin]
        inner: B,
        encoder: Option<Encoder>,
        // Input written since the last flush.
        dirty: bool,
        trailers: Option<http::HeaderMap>,
        done: bool,
    }
}

impl<B> Compressed<B> {
    pub fn new(inner: B, encoder: Encoder) -> Self {
        Compressed {
            inner,
            encoder: Some(encoder),
            dirty: false,
            trailers: None,
            done: false,
        }
    }
}

fn io_error(e: std::io::Error) -> BoxError {
    Box::new(e)
}

impl<B> http_body::Body for Compressed<B>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        loop {
            let Some(encoder) = this.encoder.as_mut() else {
                // Finished: the trailers (if any) are the last frame.
                if *this.done {
                    return Poll::Ready(None);
                }
                *this.done = true;
                return Poll::Ready(this.trailers.take().map(|t| Ok(Frame::trailers(t))));
            };
            match this.inner.as_mut().poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => {
                        if data.is_empty() {
                            continue;
                        }
                        if let Err(e) = encoder.write(&data) {
                            *this.encoder = None;
                            *this.done = true;
                            return Poll::Ready(Some(Err(io_error(e))));
                        }
                        *this.dirty = true;
                        if encoder.pending() >= OUT_CHUNK {
                            return Poll::Ready(Some(Ok(Frame::data(encoder.take()))));
                        }
                    }
                    Err(frame) => {
                        // Trailers end the data: finish, send the rest, then them.
                        *this.trailers = frame.into_trailers().ok();
                        if let Some(out) = finish(this.encoder, this.done) {
                            return Poll::Ready(Some(out));
                        }
                    }
                },
                Poll::Ready(Some(Err(e))) => {
                    *this.encoder = None;
                    *this.done = true;
                    return Poll::Ready(Some(Err(e.into())));
                }
                Poll::Ready(None) => {
                    if let Some(out) = finish(this.encoder, this.done) {
                        return Poll::Ready(Some(out));
                    }
                }
                Poll::Pending => {
                    // The backend paused: flush so the client gets what was produced.
                    if *this.dirty {
                        *this.dirty = false;
                        if let Err(e) = encoder.flush() {
                            *this.encoder = None;
                            *this.done = true;
                            return Poll::Ready(Some(Err(io_error(e))));
                        }
                    }
                    if encoder.pending() > 0 {
                        return Poll::Ready(Some(Ok(Frame::data(encoder.take()))));
                    }
                    return Poll::Pending;
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.encoder.is_none() && (self.done || self.trailers.is_none())
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::new()
    }
}

/// Ends the encoder: its last output as a frame, an error, or `None` when it had nothing left
/// (the next turn of the loop then ends the body or sends the trailers).
fn finish(
    encoder: &mut Option<Encoder>,
    done: &mut bool,
) -> Option<Result<Frame<Bytes>, BoxError>> {
    let e = encoder.take()?;
    match e.finish() {
        Ok(tail) if tail.is_empty() => None,
        Ok(tail) => Some(Ok(Frame::data(tail))),
        Err(e) => {
            *done = true;
            Some(Err(io_error(e)))
        }
    }
}
