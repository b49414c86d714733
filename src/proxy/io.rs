//! The client connection as hyper reads it: the bytes read ahead while looking for a PROXY
//! header come first, then the socket. On the way it watches HTTP/1 request heads for one that
//! carries both `Content-Length` and `Transfer-Encoding`: hyper silently lets
//! `Transfer-Encoding` win (as Go does) and gives no trace of it in the parsed request, but
//! wharf answers such a request 400 (request smuggling defence).

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

pin_project_lite::pin_project! {
    /// A client connection: optional read-ahead bytes, then `inner`.
    pub struct ClientIo<T> {
        #[pin]
        inner: T,
        prefix: Bytes,
        scanner: Option<HeadScanner>,
    }
}

impl<T> ClientIo<T> {
    /// `ambiguous` is raised when a head with both framing headers has been read; `None`
    /// turns the scan off.
    pub fn new(inner: T, prefix: Bytes, ambiguous: Option<Arc<AtomicBool>>) -> Self {
        Self {
            inner,
            prefix,
            scanner: ambiguous.map(HeadScanner::new),
        }
    }
}

impl<T: AsyncRead> AsyncRead for ClientIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.project();
        let start = buf.filled().len();
        if !this.prefix.is_empty() {
            let n = this.prefix.len().min(buf.remaining());
            buf.put_slice(&this.prefix[..n]);
            this.prefix.advance(n);
        } else {
            match this.inner.poll_read(cx, buf) {
                Poll::Ready(Ok(())) => {}
                other => return other,
            }
        }
        if let Some(scanner) = this.scanner {
            if scanner.scan(&buf.filled()[start..]) {
                // HTTP/2 (or anything else): stop paying for the scan.
                *this.scanner = None;
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite> AsyncWrite for ClientIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.project().inner.poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_shutdown(cx)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.project().inner.poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

const CL: &[u8] = b"content-length:";
const TE: &[u8] = b"transfer-encoding:";
const LONGEST: usize = 18;

/// Looks at the start of every line (one `memchr` per line, nothing else): a head ends at an
/// empty line; a head that had both framing headers raises the flag. Body lines are scanned
/// too (it cannot know where bodies end without parsing them), so a body could raise the flag;
/// the proxy only consults it for requests that carry `Transfer-Encoding`, and clears it then.
#[derive(Debug)]
pub(crate) struct HeadScanner {
    flag: Arc<AtomicBool>,
    at_line_start: bool,
    /// A CR opened the current line (an empty line if LF follows).
    cr: bool,
    /// Lower-cased start of the current line, while it may still be a framing header.
    pending: [u8; LONGEST],
    pending_len: usize,
    seen_cl: bool,
    seen_te: bool,
    /// Bytes seen so far, until the first line has been classified (HTTP/2 detection).
    first_line: bool,
}

impl HeadScanner {
    pub(crate) fn new(flag: Arc<AtomicBool>) -> Self {
        Self {
            flag,
            at_line_start: true,
            cr: false,
            pending: [0; LONGEST],
            pending_len: 0,
            seen_cl: false,
            seen_te: false,
            first_line: true,
        }
    }

    /// Feeds bytes; returns true when the connection is not HTTP/1 and scanning can stop.
    pub(crate) fn scan(&mut self, chunk: &[u8]) -> bool {
        let mut i = 0;
        while i < chunk.len() {
            if self.at_line_start {
                let b = chunk[i];
                if self.pending_len == 0 && !self.cr && b == b'\r' {
                    self.cr = true;
                    i += 1;
                    continue;
                }
                if self.pending_len == 0 && b == b'\n' {
                    self.end_of_head();
                    self.cr = false;
                    i += 1;
                    continue;
                }
                if self.cr {
                    // "\r" then something else: not an empty line; treat as an ordinary line.
                    self.cr = false;
                    self.at_line_start = false;
                    continue;
                }
                if self.first_line {
                    // The HTTP/2 preface starts "PRI * HTTP/2.0".
                    if self.pending_len == 0 && b == b'P' && chunk[i..].starts_with(b"PRI ") {
                        return true;
                    }
                    self.first_line = false;
                }
                self.pending[self.pending_len] = b.to_ascii_lowercase();
                self.pending_len += 1;
                i += 1;
                let p = &self.pending[..self.pending_len];
                let cl = CL.starts_with(p);
                let te = TE.starts_with(p);
                if p == CL {
                    self.seen_cl = true;
                } else if p == TE {
                    self.seen_te = true;
                } else if cl || te {
                    continue;
                }
                self.pending_len = 0;
                self.at_line_start = false;
            }
            match memchr::memchr(b'\n', &chunk[i..]) {
                Some(p) => {
                    i += p + 1;
                    self.at_line_start = true;
                    self.first_line = false;
                }
                None => break,
            }
        }
        false
    }

    fn end_of_head(&mut self) {
        if self.seen_cl && self.seen_te {
            self.flag.store(true, Ordering::Release);
        }
        self.seen_cl = false;
        self.seen_te = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_in_pieces(input: &[u8], piece: usize) -> bool {
        let flag = Arc::new(AtomicBool::new(false));
        let mut s = HeadScanner::new(flag.clone());
        for c in input.chunks(piece) {
            if s.scan(c) {
                break;
            }
        }
        flag.load(Ordering::Acquire)
    }

    #[test]
    fn flags_heads_with_both_framing_headers() {
        let both = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n";
        let te_first =
            b"POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\nCONTENT-LENGTH: 5\r\n\r\n";
        let only_te = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
        let only_cl = b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello";
        let bare_lf = b"POST / HTTP/1.1\nContent-Length: 5\nTransfer-Encoding: chunked\n\n";
        for piece in [1, 2, 3, 7, 1000] {
            assert!(scan_in_pieces(both, piece), "piece {piece}");
            assert!(scan_in_pieces(te_first, piece), "piece {piece}");
            assert!(scan_in_pieces(bare_lf, piece), "piece {piece}");
            assert!(!scan_in_pieces(only_te, piece), "piece {piece}");
            assert!(!scan_in_pieces(only_cl, piece), "piece {piece}");
        }
    }

    #[test]
    fn separate_heads_do_not_combine() {
        let two = b"GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\nPOST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
        assert!(!scan_in_pieces(two, 1000));
        assert!(!scan_in_pieces(two, 1));
        // Names that only start like a framing header do not count.
        let lookalike = b"GET / HTTP/1.1\r\nContent-Length-X: 1\r\nTransfer-Encodings: x\r\n\r\n";
        assert!(!scan_in_pieces(lookalike, 1000));
    }

    #[test]
    fn http2_preface_stops_the_scan() {
        let flag = Arc::new(AtomicBool::new(false));
        let mut s = HeadScanner::new(flag);
        assert!(s.scan(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
        let flag = Arc::new(AtomicBool::new(false));
        let mut s = HeadScanner::new(flag);
        assert!(!s.scan(b"POST / HTTP/1.1\r\n"));
    }
}
