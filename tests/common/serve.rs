//! The listener loop of the tests' in-process backends: bind `127.0.0.1:0`, accept, serve
//! HTTP/1.1 with one handler. Shared by `common/mod.rs`, the differential suite's harness
//! (`compat`, with `#[path]`) and the TLS tests; each backend keeps its own handler.

use std::net::SocketAddr;

/// Serves HTTP/1.1 (with upgrades) on a fresh `127.0.0.1:0` listener, every request to
/// `handle`; returns the address.
pub async fn serve_http1<F, Fut, B>(handle: F) -> SocketAddr
where
    F: Fn(hyper::Request<hyper::body::Incoming>) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Result<hyper::Response<B>, std::convert::Infallible>>
        + Send
        + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
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
            let handle = handle.clone();
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(
                        hyper_util::rt::TokioIo::new(stream),
                        hyper::service::service_fn(handle),
                    )
                    .with_upgrades()
                    .await;
            });
        }
    });
    addr
}
