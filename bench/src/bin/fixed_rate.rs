//! Open-loop HTTP/1.1 load at a fixed rate, for bench/compare.py's added-latency rows: `conns`
//! keep-alive connections, each sending on its own schedule (request i of connection k is due at
//! start + (k + i·conns) / rate). Latency is counted from when a request was due, not from when
//! it was sent, so a stalled proxy cannot hide its queueing (no coordinated omission).
//! Prints `RESULT <ok> <seconds> <p50 ms> <p99 ms> <p99.9 ms> <errors>`.
//!   fixed_rate URL HOST RATE SECONDS [CONNS]

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 4 {
        eprintln!("usage: fixed_rate URL HOST RATE SECONDS [CONNS]");
        std::process::exit(2);
    }
    let url: http::Uri = args[0].parse().expect("URL");
    let host = args[1].clone();
    let rate: f64 = args[2].parse().expect("RATE");
    let secs: f64 = args[3].parse().expect("SECONDS");
    let conns: usize = args.get(4).map_or(10, |c| c.parse().expect("CONNS"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (lat, errors) = rt.block_on(run(url, host, rate, secs, conns));
    let mut lat = lat;
    lat.sort_unstable();
    let pct = |p: f64| -> f64 {
        if lat.is_empty() {
            return f64::NAN;
        }
        let k = ((p / 100.0 * lat.len() as f64).ceil() as usize).clamp(1, lat.len()) - 1;
        lat[k].as_secs_f64() * 1e3
    };
    println!(
        "RESULT {} {:.6} {:.3} {:.3} {:.3} {}",
        lat.len(),
        secs,
        pct(50.0),
        pct(99.0),
        pct(99.9),
        errors
    );
}

async fn run(
    url: http::Uri,
    host: String,
    rate: f64,
    secs: f64,
    conns: usize,
) -> (Vec<Duration>, u64) {
    let addr = format!(
        "{}:{}",
        url.host().unwrap_or("127.0.0.1"),
        url.port_u16().unwrap_or(80)
    );
    let path = url
        .path_and_query()
        .map_or("/".to_string(), |p| p.to_string());
    let start = Instant::now() + Duration::from_millis(50);
    let end = start + Duration::from_secs_f64(secs);
    let period = Duration::from_secs_f64(conns as f64 / rate);
    let mut tasks = Vec::new();
    for k in 0..conns {
        let (addr, path, host) = (addr.clone(), path.clone(), host.clone());
        let first = start + Duration::from_secs_f64(k as f64 / rate);
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0u64;
            let mut sender = None;
            let mut due = first;
            while due < end {
                tokio::time::sleep_until(due.into()).await;
                if sender.is_none() {
                    match connect(&addr).await {
                        Some(s) => sender = Some(s),
                        None => {
                            errors += 1;
                            due += period;
                            continue;
                        }
                    }
                }
                let Some(s) = sender.as_mut() else { break };
                let req = http::Request::get(path.as_str())
                    .header(http::header::HOST, host.as_str())
                    .body(Empty::<Bytes>::new())
                    .expect("request");
                let ok = match s.send_request(req).await {
                    Ok(resp) => {
                        let good = resp.status().is_success();
                        good && resp.into_body().collect().await.is_ok()
                    }
                    Err(_) => false,
                };
                if ok {
                    lat.push(due.elapsed());
                } else {
                    errors += 1;
                    sender = None;
                }
                due += period;
            }
            (lat, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        if let Ok((l, e)) = t.await {
            all.extend(l);
            errors += e;
        }
    }
    (all, errors)
}

async fn connect(addr: &str) -> Option<hyper::client::conn::http1::SendRequest<Empty<Bytes>>> {
    let stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    stream.set_nodelay(true).ok()?;
    let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .ok()?;
    tokio::spawn(conn);
    Some(send)
}
