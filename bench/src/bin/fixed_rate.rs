//! Open-loop HTTP/1.1 load at a fixed rate, for bench/compare.py's added-latency rows: `conns`
//! keep-alive connections, each sending on its own schedule (request i of connection k is due at
//! start + (k + i·conns) / rate). Latency is counted from when a request was due, not from when
//! it was sent, so a stalled proxy cannot hide its queueing (no coordinated omission).
//! Prints `RESULT <ok> <seconds> <p50 ms> <p99 ms> <p99.9 ms> <errors>`.
//! With TIMELINE, also writes one line per request to that file, `<due> <done> <status>` (Unix
//! times in ms; status 0: no response), for the dying-backend section (share of 502/504 among
//! the requests due during the outage, time to recover).
//!   fixed_rate URL HOST RATE SECONDS [CONNS [TIMELINE]]

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 4 {
        eprintln!("usage: fixed_rate URL HOST RATE SECONDS [CONNS [TIMELINE]]");
        std::process::exit(2);
    }
    let url: http::Uri = args[0].parse().expect("URL");
    let host = args[1].clone();
    let rate: f64 = args[2].parse().expect("RATE");
    let secs: f64 = args[3].parse().expect("SECONDS");
    let conns: usize = args.get(4).map_or(10, |c| c.parse().expect("CONNS"));
    let timeline = args.get(5).cloned();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (lat, errors, events) = rt.block_on(run(url, host, rate, secs, conns));
    if let Some(path) = timeline {
        let mut events = events;
        events.sort_unstable();
        let text: String = events
            .iter()
            .map(|(due, done, status)| {
                let ms = |t: &Duration| t.as_secs_f64() * 1e3;
                format!("{:.3} {:.3} {status}\n", ms(due), ms(done))
            })
            .collect();
        std::fs::write(&path, text).expect("TIMELINE");
    }
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
) -> (Vec<Duration>, u64, Vec<(Duration, Duration, u16)>) {
    let addr = format!(
        "{}:{}",
        url.host().unwrap_or("127.0.0.1"),
        url.port_u16().unwrap_or(80)
    );
    let path = url
        .path_and_query()
        .map_or("/".to_string(), |p| p.to_string());
    let start = Instant::now() + Duration::from_millis(50);
    let epoch_start = since_epoch() + Duration::from_millis(50);
    let end = start + Duration::from_secs_f64(secs);
    let period = Duration::from_secs_f64(conns as f64 / rate);
    let mut tasks = Vec::new();
    for k in 0..conns {
        let (addr, path, host) = (addr.clone(), path.clone(), host.clone());
        let first = start + Duration::from_secs_f64(k as f64 / rate);
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0u64;
            // (due, completion, status or 0) as times since the Unix epoch: wall-clock, so the
            // caller can line them up with when it killed and restarted a backend.
            let mut events = Vec::new();
            let mut sender = None;
            let mut due = first;
            while due < end {
                tokio::time::sleep_until(due.into()).await;
                if sender.is_none() {
                    match connect(&addr).await {
                        Some(s) => sender = Some(s),
                        None => {
                            errors += 1;
                            events.push((epoch_start + (due - start), since_epoch(), 0));
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
                // An error status whose body arrived whole leaves the connection usable (a proxy's
                // 502 while a backend is down); only a transport error drops it.
                let (status, whole) = match s.send_request(req).await {
                    Ok(resp) => {
                        let status = resp.status().as_u16();
                        (status, resp.into_body().collect().await.is_ok())
                    }
                    Err(_) => (0, false),
                };
                events.push((
                    epoch_start + (due - start),
                    since_epoch(),
                    if whole { status } else { 0 },
                ));
                if whole && (200..300).contains(&status) {
                    lat.push(due.elapsed());
                } else {
                    errors += 1;
                    if !whole {
                        sender = None;
                    }
                }
                due += period;
            }
            (lat, errors, events)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    let mut events = Vec::new();
    for t in tasks {
        if let Ok((l, e, ev)) = t.await {
            all.extend(l);
            errors += e;
            events.extend(ev);
        }
    }
    (all, errors, events)
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

fn since_epoch() -> Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
}
