//! WebSocket echo for bench/compare.py's `ws` rows, both ends in one binary so the backend and the
//! load are the same program for every proxy.
//!
//! `ws_echo server ADDR` echoes every text or binary message back on its connection.
//! `ws_echo client URL HOST CONNS SECONDS [SIZE]` opens CONNS WebSocket connections (Host: HOST),
//! then on each sends one SIZE-byte binary message at a time and waits for its echo, for SECONDS
//! (closed loop: one message in flight per connection). Prints one JSON line: messages echoed,
//! seconds, p50/p99/p99.9 round-trip latency in ms, errors (failed handshakes and lost
//! messages) and the number of connections that upgraded.
//!
//! Both run a current-thread runtime: compare.py pins them to the load core with the nginx
//! backend, and one thread there is what every proxy gets to compete with.

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    match args.first().map(String::as_str) {
        Some("server") if args.len() == 2 => rt.block_on(server(&args[1])),
        Some("client") if args.len() >= 5 => {
            let conns: usize = args[3].parse().expect("CONNS");
            let secs: f64 = args[4].parse().expect("SECONDS");
            let size: usize = args.get(5).map_or(64, |s| s.parse().expect("SIZE"));
            rt.block_on(client(&args[1], &args[2], conns, secs, size));
        }
        _ => {
            eprintln!("usage: ws_echo server ADDR | ws_echo client URL HOST CONNS SECONDS [SIZE]");
            std::process::exit(2);
        }
    }
}

async fn server(addr: &str) {
    let listener = TcpListener::bind(addr).await.expect("bind");
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                return;
            };
            // Pings are answered by tungstenite itself; a close ends the echo.
            while let Some(Ok(msg)) = ws.next().await {
                if msg.is_close() {
                    return;
                }
                if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
                    return;
                }
            }
        });
    }
}

async fn client(url: &str, host: &str, conns: usize, secs: f64, size: usize) {
    let uri: http::Uri = url.parse().expect("URL");
    let addr = format!(
        "{}:{}",
        uri.host().unwrap_or("127.0.0.1"),
        uri.port_u16().unwrap_or(80)
    );
    let payload = Bytes::from(vec![b'x'; size]);
    // Every connection upgrades before the clock starts, so the figures are of echoing only.
    let mut sockets = Vec::with_capacity(conns);
    let mut errors = 0u64;
    for _ in 0..conns {
        match open(&addr, url, host).await {
            Some(ws) => sockets.push(ws),
            None => errors += 1,
        }
    }
    let upgraded = sockets.len();
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(secs);
    let mut tasks = Vec::new();
    for mut ws in sockets {
        let payload = payload.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0u64;
            'send: while Instant::now() < end {
                let sent = Instant::now();
                if ws.send(Message::Binary(payload.clone())).await.is_err() {
                    errors += 1;
                    break;
                }
                // The proxy may interleave pings; only the echo counts.
                loop {
                    match tokio::time::timeout_at(end.into(), ws.next()).await {
                        Ok(Some(Ok(Message::Binary(b)))) if b.len() == payload.len() => {
                            lat.push(sent.elapsed());
                            break;
                        }
                        Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
                        // The run ended with this message in flight: not an error.
                        Err(_) => break 'send,
                        _ => {
                            errors += 1;
                            break 'send;
                        }
                    }
                }
            }
            let _ = ws.close(None).await;
            (lat, errors)
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        if let Ok((l, e)) = t.await {
            lat.extend(l);
            errors += e;
        }
    }
    lat.sort_unstable();
    let pct = |p: f64| -> serde_json::Value {
        if lat.is_empty() {
            return serde_json::Value::Null;
        }
        let k = ((p / 100.0 * lat.len() as f64).ceil() as usize).clamp(1, lat.len()) - 1;
        serde_json::json!(lat[k].as_secs_f64() * 1e3)
    };
    let out = serde_json::json!({
        "msgs": lat.len(),
        "secs": secs,
        "p50": pct(50.0),
        "p99": pct(99.0),
        "p999": pct(99.9),
        "errors": errors,
        "conns": upgraded,
    });
    println!("{out}");
}

type Ws = tokio_tungstenite::WebSocketStream<TcpStream>;

async fn open(addr: &str, url: &str, host: &str) -> Option<Ws> {
    let stream = TcpStream::connect(addr).await.ok()?;
    stream.set_nodelay(true).ok()?;
    let mut req = url.into_client_request().ok()?;
    req.headers_mut()
        .insert(http::header::HOST, host.parse().ok()?);
    let (ws, _) = tokio_tungstenite::client_async(req, stream).await.ok()?;
    Some(ws)
}
