//! gRPC-Web bodies, for the GrpcWeb middleware (its filter rewrites the heads; the chain in
//! src/proxy/chain.rs wraps the bodies with these): the request body of
//! `application/grpc-web-text` is base64-decoded on its way to the gRPC server; the answer's
//! HTTP/2 trailers become a gRPC-Web trailer frame at the end of the body (always one, empty
//! when the server sent none, as improbable-eng's wrapper writes it), and for the text format
//! the whole answer is base64-encoded.

use std::pin::Pin;
use std::task::{Context, Poll};

use base64::Engine as _;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;

use crate::body::{Body, BoxError};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// The body sent to the gRPC server.
pub(super) fn request_body(body: Body, text: bool) -> Body {
    if !text {
        return body;
    }
    Body::boxed(BodyExt::boxed(Decode {
        inner: body,
        carry: Vec::new(),
        ended: false,
    }))
}

/// The body sent back to the gRPC-Web client.
pub(super) fn response_body(body: Body, text: bool) -> Body {
    Body::boxed(BodyExt::boxed(Encode {
        inner: body,
        text,
        carry: Vec::new(),
        done: false,
    }))
}

/// Base64 decoding of a streamed body; whitespace is skipped, padded segments may follow each
/// other (clients that encode message by message).
struct Decode {
    inner: Body,
    carry: Vec<u8>,
    ended: bool,
}

fn decode_groups(input: &[u8]) -> Result<Vec<u8>, BoxError> {
    // The common case (one padded run) at once; else group by group.
    if let Ok(v) = B64.decode(input) {
        return Ok(v);
    }
    let mut out = Vec::with_capacity(input.len() / 4 * 3);
    for g in input.chunks(4) {
        out.extend(
            B64.decode(g)
                .map_err(|e| format!("grpc-web-text body: {e}"))?,
        );
    }
    Ok(out)
}

impl http_body::Body for Decode {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        loop {
            if this.ended {
                return Poll::Ready(None);
            }
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => {
                        this.carry
                            .extend(data.iter().filter(|b| !b.is_ascii_whitespace()));
                        let whole = this.carry.len() / 4 * 4;
                        if whole == 0 {
                            continue;
                        }
                        let rest = this.carry.split_off(whole);
                        let decoded = decode_groups(&this.carry);
                        this.carry = rest;
                        match decoded {
                            Ok(v) if v.is_empty() => continue,
                            Ok(v) => return Poll::Ready(Some(Ok(Frame::data(Bytes::from(v))))),
                            Err(e) => return Poll::Ready(Some(Err(e))),
                        }
                    }
                    Err(frame) => return Poll::Ready(Some(Ok(frame))),
                },
                Poll::Ready(None) => {
                    this.ended = true;
                    if this.carry.is_empty() {
                        return Poll::Ready(None);
                    }
                    let tail = std::mem::take(&mut this.carry);
                    return Poll::Ready(Some(
                        decode_groups(&tail).map(|v| Frame::data(Bytes::from(v))),
                    ));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ended
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

/// The answer: data as it comes (base64 in text mode, carrying up to 2 bytes between frames so
/// the output is one continuous base64 text), then the trailer frame, then the end.
struct Encode {
    inner: Body,
    text: bool,
    carry: Vec<u8>,
    done: bool,
}

impl Encode {
    /// Text mode: encodes `carry + data`, keeping a remainder unless `last`.
    fn encode(&mut self, data: &[u8], last: bool) -> Bytes {
        self.carry.extend_from_slice(data);
        let whole = if last {
            self.carry.len()
        } else {
            self.carry.len() / 3 * 3
        };
        let rest = self.carry.split_off(whole);
        let out = B64.encode(&self.carry);
        self.carry = rest;
        Bytes::from(out)
    }

    fn finish(&mut self, trailers: &http::HeaderMap) -> Frame<Bytes> {
        self.done = true;
        let frame = wharf_middlewares::grpc_web::trailer_frame(trailers);
        if self.text {
            Frame::data(self.encode(&frame, true))
        } else {
            Frame::data(frame)
        }
    }
}

impl http_body::Body for Encode {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) if !this.text => return Poll::Ready(Some(Ok(Frame::data(data)))),
                    Ok(data) => {
                        let out = this.encode(&data, false);
                        if out.is_empty() {
                            continue;
                        }
                        return Poll::Ready(Some(Ok(Frame::data(out))));
                    }
                    Err(frame) => {
                        let trailers = frame.into_trailers().unwrap_or_default();
                        return Poll::Ready(Some(Ok(this.finish(&trailers))));
                    }
                },
                Poll::Ready(None) => {
                    let f = this.finish(&http::HeaderMap::new());
                    return Poll::Ready(Some(Ok(f)));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(frames: Vec<Frame<Bytes>>) -> Body {
        let s = futures_util::stream::iter(frames.into_iter().map(Ok::<_, BoxError>));
        Body::boxed(BodyExt::boxed(http_body_util::StreamBody::new(s)))
    }

    #[tokio::test]
    async fn text_requests_are_decoded_across_frames() {
        let plain = b"\x00\x00\x00\x00\x05hello";
        let enc = B64.encode(plain);
        let (a, b) = enc.split_at(5);
        let body = request_body(
            stream(vec![
                Frame::data(Bytes::from(a.to_string())),
                Frame::data(Bytes::from(format!("{b}\r\n"))),
            ]),
            true,
        );
        assert_eq!(&body.collect().await.unwrap().to_bytes()[..], plain);
        // Two padded segments back to back.
        let two = format!("{}{}", B64.encode(b"ab"), B64.encode(b"cde"));
        let body = request_body(stream(vec![Frame::data(Bytes::from(two))]), true);
        assert_eq!(&body.collect().await.unwrap().to_bytes()[..], b"abcde");
        let bad = request_body(stream(vec![Frame::data(Bytes::from_static(b"!!!!"))]), true);
        assert!(bad.collect().await.is_err());
    }

    #[tokio::test]
    async fn trailers_become_the_last_frame() {
        let mut t = http::HeaderMap::new();
        t.insert("grpc-status", http::HeaderValue::from_static("0"));
        let msg = Bytes::from_static(b"\x00\x00\x00\x00\x02hi");
        let out = response_body(
            stream(vec![Frame::data(msg.clone()), Frame::trailers(t.clone())]),
            false,
        )
        .collect()
        .await
        .unwrap();
        assert!(out.trailers().is_none());
        let bytes = out.to_bytes();
        let tf = wharf_middlewares::grpc_web::trailer_frame(&t);
        assert_eq!(bytes, [&msg[..], &tf[..]].concat());
        // No trailers from the server: an empty trailer frame.
        let out = response_body(stream(vec![Frame::data(msg.clone())]), false)
            .collect()
            .await
            .unwrap()
            .to_bytes();
        assert_eq!(&out[msg.len()..], &[0x80, 0, 0, 0, 0]);
        // Text: one base64 text for messages and trailer frame, whatever the frame cuts.
        let out = response_body(
            stream(vec![
                Frame::data(msg.slice(..4)),
                Frame::data(msg.slice(4..)),
                Frame::trailers(t.clone()),
            ]),
            true,
        )
        .collect()
        .await
        .unwrap()
        .to_bytes();
        assert_eq!(B64.decode(&out[..]).unwrap(), [&msg[..], &tf[..]].concat());
    }
}
