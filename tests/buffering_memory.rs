//! Buffering against huge bodies, on the real binary: a "bomb" (a body far larger than
//! `maxRequestBodyBytes`, streamed chunked, or declared with a huge Content-Length) gets 413
//! without reaching the service, and a large accepted body spills to disk, so wharf's peak
//! resident memory (VmHWM) stays far below the body sizes.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{poll, write_atomic, Wharf};
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const MIB: u64 = 1 << 20;

/// A backend that reads each request body as a stream and answers `len=<bytes>`; `total`
/// counts every body byte it ever received.
async fn counting_backend(total: Arc<AtomicU64>) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = l.accept().await else { return };
            let total = total.clone();
            tokio::spawn(async move {
                let svc =
                    hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let total = total.clone();
                        async move {
                            let mut body = req.into_body();
                            let mut n = 0u64;
                            while let Some(Ok(f)) = body.frame().await {
                                if let Some(d) = f.data_ref() {
                                    n += d.len() as u64;
                                    total.fetch_add(d.len() as u64, Ordering::SeqCst);
                                }
                            }
                            Ok::<_, std::convert::Infallible>(http::Response::new(
                                http_body_util::Full::new(bytes::Bytes::from(format!("len={n}"))),
                            ))
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    addr
}

/// Peak resident set size of process `pid` in bytes.
fn peak_rss(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap()
}

/// Streams `total` bytes chunked to `host` and returns the status (0 when the connection
/// ended without an answer). The answer is read while sending: wharf may answer (413) and
/// close before the body is complete.
async fn post_chunked(addr: SocketAddr, host: &str, total: u64) -> u16 {
    let s = TcpStream::connect(addr).await.unwrap();
    let (mut rd, mut wr) = s.into_split();
    let head = format!(
        "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/octet-stream\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    let writer = tokio::spawn(async move {
        wr.write_all(head.as_bytes()).await?;
        let chunk = vec![0u8; MIB as usize];
        let mut sent = 0;
        while sent < total {
            wr.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .await?;
            wr.write_all(&chunk).await?;
            wr.write_all(b"\r\n").await?;
            sent += MIB;
        }
        wr.write_all(b"0\r\n\r\n").await?;
        // The write half is handed back, not dropped: dropping it would half-close the
        // connection, which an HTTP/1 server may take as the client leaving.
        Ok::<_, std::io::Error>(wr)
    });
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(120), rd.read_to_end(&mut buf)).await;
    writer.abort();
    let text = String::from_utf8_lossy(&buf);
    text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_bodies_stay_bounded() {
    let received = Arc::new(AtomicU64::new(0));
    let be = counting_backend(received.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let dynamic = format!(
        r#"http:
  routers:
    bomb: {{rule: "Host(`bomb.test`)", service: be, middlewares: [limited]}}
    big: {{rule: "Host(`big.test`)", service: be, middlewares: [spill]}}
  middlewares:
    limited: {{buffering: {{maxRequestBodyBytes: 33554432, memRequestBodyBytes: 1048576}}}}
    spill: {{buffering: {{memRequestBodyBytes: 1048576, memResponseBodyBytes: 1048576}}}}
  services:
    be: {{loadBalancer: {{servers: [{{url: "http://{be}"}}]}}}}
"#
    );
    let file = write_atomic(dir.path(), "dynamic.yml", &dynamic);
    let mut w = Wharf::start(&[
        "--entryPoints.web.address=127.0.0.1:0",
        &format!("--providers.file.filename={}", file.display()),
        "--log.level=ERROR",
    ]);
    let addr = w.address("web");
    let pid = w.child.id();
    // Ready: the route answers (an empty POST goes through).
    poll("router ready", || async {
        (post_chunked(addr, "big.test", 0).await == 200).then_some(())
    })
    .await;
    let baseline = peak_rss(pid);

    // A declared 10 GiB body: refused before a byte of it is read.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"POST / HTTP/1.1\r\nHost: bomb.test\r\nContent-Length: 10737418240\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf)).await;
    assert!(
        buf.starts_with(b"HTTP/1.1 413"),
        "{}",
        String::from_utf8_lossy(&buf)
    );

    // 256 MiB streamed chunked against a 32 MiB limit: 413 once the limit is passed, the
    // service never sees a byte.
    assert_eq!(post_chunked(addr, "bomb.test", 256 * MIB).await, 413);
    assert_eq!(received.load(Ordering::SeqCst), 0);

    // 96 MiB accepted without a limit: all of it reaches the service (from the temp file).
    assert_eq!(post_chunked(addr, "big.test", 96 * MIB).await, 200);
    assert_eq!(received.load(Ordering::SeqCst), 96 * MIB);

    let peak = peak_rss(pid);
    eprintln!(
        "wharf peak RSS: {} MiB before, {} MiB after a 10 GiB declared, a 256 MiB streamed and a 96 MiB spilled body",
        baseline / MIB,
        peak / MIB
    );
    assert!(
        peak < baseline + 48 * MIB,
        "peak RSS grew from {baseline} to {peak} bytes"
    );
}
