//! The listener loop of the tests' in-process backends: bind `127.0.0.1:0`, accept, serve
//! HTTP/1.1 (or h2c) with one handler. Shared by `common/mod.rs`, the differential suite's
//! harness (`compat`, with `#[path]`) and the TLS tests; each backend keeps its own handler.
#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;

/// Binds `127.0.0.1:0` and hands every accepted connection to `serve` in its own task.
async fn listen<C, Fut>(serve: C) -> SocketAddr
where
    C: Fn(tokio::net::TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind backend");
    let addr = listener.local_addr().expect("backend addr");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(serve(stream));
        }
    });
    addr
}

/// Serves HTTP/1.1 (with upgrades) on a fresh `127.0.0.1:0` listener, every request to
/// `handle`; returns the address.
pub async fn serve_http1<F, Fut, B>(handle: F) -> SocketAddr
where
    F: Fn(hyper::Request<hyper::body::Incoming>) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<hyper::Response<B>, std::convert::Infallible>> + Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    listen(move |stream| {
        let handle = handle.clone();
        async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(
                    hyper_util::rt::TokioIo::new(stream),
                    hyper::service::service_fn(handle),
                )
                .with_upgrades()
                .await;
        }
    })
    .await
}

/// Serves h2c (HTTP/2 without TLS, as gRPC backends speak it) on a fresh `127.0.0.1:0`
/// listener, every request to `handle`; returns the address.
pub async fn serve_h2c<F, Fut, B>(handle: F) -> SocketAddr
where
    F: Fn(hyper::Request<hyper::body::Incoming>) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<hyper::Response<B>, std::convert::Infallible>> + Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    listen(move |stream| {
        let handle = handle.clone();
        async move {
            let _ = hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                .serve_connection(
                    hyper_util::rt::TokioIo::new(stream),
                    hyper::service::service_fn(handle),
                )
                .await;
        }
    })
    .await
}
