//! Figures of the Docker provider on the real engine (printed, not asserted: speed belongs to
//! benchmarks). Ignored by default; run with
//! `cargo test --release --test docker_figures -- --ignored --nocapture`
//! (`FIGURES_VERBOSE=1`: every run's numbers; `FIGURES_QUICK=1`: latencies only, then wharf's log).
//!
//! - start event → first 200 through wharf (median and max of 20), die event → route gone (404);
//! - wharf's CPU time while 100 labelled containers start;
//! - wharf's CPU time over one minute while one container's health check flaps every second;
//! - `docker_inspect_cache_figures`: engine calls (counted by a relay) and CPU (wharf's and the
//!   engine's) over one minute of health flapping among 20 quiet containers, against what a
//!   provider re-listing and re-inspecting every container on every event would cost (run by
//!   the test itself, the same number of times, against the same engine).

mod common;
mod docker_support;

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{get, Wharf};
use docker_support::{
    docker, engine_available, health_image, post, unique, Container, Relay, WHOAMI,
};

fn now_ns() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0)
}

/// The engine's time of `event` for container `name` (nanoseconds since the epoch).
fn event_time(name: &str, event: &str, since_s: u64) -> i128 {
    let out = docker(&[
        "events",
        "--since",
        &since_s.to_string(),
        "--until",
        &(since_s + 3600).min(now_s() + 1).to_string(),
        "--filter",
        &format!("container={name}"),
        "--filter",
        &format!("event={event}"),
        "--format",
        "{{.TimeNano}}",
    ]);
    out.lines()
        .filter_map(|l| l.trim().parse::<i128>().ok())
        .next_back()
        .unwrap_or(0)
}

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// utime + stime of a process, in clock ticks (100 Hz on Linux).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let f: Vec<&str> = after.split_whitespace().collect();
    f.get(11).and_then(|u| u.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0)
}

fn start_wharf(test_id: &str) -> (Wharf, SocketAddr) {
    let args = [
        "--providers.docker=true".to_string(),
        format!("--providers.docker.constraints=Label(`wharf.test`,`{test_id}`)"),
        "--entrypoints.web.address=127.0.0.1:0".to_string(),
        "--log.level=WARN".to_string(),
    ];
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut w = Wharf::start(&refs);
    let addr = w.address("web");
    (w, addr)
}

async fn wait_status(addr: SocketAddr, host: &str, want: u16) -> i128 {
    let start = Instant::now();
    loop {
        if get(addr, host, "/").await.ok().map(|r| r.status) == Some(want) {
            return now_ns();
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{host} never answered {want}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn median_max(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[v.len() - 1])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "figures: run explicitly with --ignored --nocapture"]
async fn docker_provider_figures() {
    if !engine_available() {
        return;
    }
    let id = unique("figures");
    let (w, addr) = start_wharf(&id);
    let pid = w.child.id();

    // 1. start → first 200, die → 404, 20 times.
    let (mut up, mut down) = (Vec::new(), Vec::new());
    for i in 0..20 {
        let name = format!("{id}-lat{i}");
        let host = format!("{name}.example.test");
        let since = now_s().saturating_sub(1);
        let c = Container::run(
            WHOAMI,
            &name,
            &id,
            &[(
                &format!("traefik.http.routers.{name}.rule"),
                &format!("Host(`{host}`)"),
            )],
            &[],
        );
        let first_200 = wait_status(addr, &host, 200).await;
        let started = event_time(&name, "start", since);
        up.push((first_200 - started) as f64 / 1e6);
        docker(&["stop", &c.0]);
        let gone = wait_status(addr, &host, 404).await;
        let died = event_time(&name, "die", since);
        down.push((gone - died) as f64 / 1e6);
        if std::env::var_os("FIGURES_VERBOSE").is_some() {
            println!("run {i}: up {:.0} ms, down {:.0} ms", up[i], down[i]);
        }
    }
    let (um, ux) = median_max(up);
    let (dm, dx) = median_max(down);
    println!("start event → first 200: median {um:.0} ms, max {ux:.0} ms (20 runs)");
    println!("die event → route gone (404): median {dm:.0} ms, max {dx:.0} ms (20 runs)");
    if std::env::var_os("FIGURES_QUICK").is_some() {
        println!("{}", w.log());
        return;
    }

    // 2. CPU while 100 labelled containers start.
    let before = cpu_ticks(pid);
    let t0 = Instant::now();
    let many: Vec<Container> = (0..100)
        .map(|i| {
            let name = format!("{id}-many{i}");
            Container::run(
                WHOAMI,
                &name,
                &id,
                &[(
                    &format!("traefik.http.routers.{name}.rule"),
                    &format!("Host(`{name}.x`)"),
                )],
                &[],
            )
        })
        .collect();
    let last = format!("{id}-many99.x");
    wait_status(addr, &last, 200).await;
    let ticks = cpu_ticks(pid) - before;
    println!(
        "100 containers started in {:.1} s; wharf CPU meanwhile: {} ms",
        t0.elapsed().as_secs_f64(),
        ticks * 10
    );
    drop(many);

    // 3. CPU over a minute of one container's health flapping every second.
    let name = format!("{id}-flap");
    let c = Container::run(&health_image(), &name, &id, &[], &[]);
    let ip = c.ip();
    let before = cpu_ticks(pid);
    let t0 = Instant::now();
    let mut healthy = true;
    while t0.elapsed() < Duration::from_secs(60) {
        healthy = !healthy;
        post(
            &ip,
            80,
            if healthy {
                "/health/ok"
            } else {
                "/health/fail"
            },
        )
        .await;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let ticks = cpu_ticks(pid) - before;
    println!(
        "one minute of health flapping every second: wharf CPU {} ms",
        ticks * 10
    );
    drop(w);
}

/// Process id of the engine (`dockerd`), when visible from here.
fn dockerd_pid() -> Option<u32> {
    let out = std::process::Command::new("pgrep")
        .args(["-x", "dockerd"])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()
}

/// One GET on a kept-alive connection to the engine's socket; the body as JSON.
async fn engine_get(
    sender: &mut hyper::client::conn::http1::SendRequest<http_body_util::Empty<bytes::Bytes>>,
    path: &str,
) -> serde_json::Value {
    use http_body_util::BodyExt;
    let req = hyper::Request::get(path)
        .header("host", "docker")
        .body(http_body_util::Empty::new())
        .expect("request");
    // The connection is reused for the next call: wait until it is free again.
    sender.ready().await.expect("engine connection ready");
    let resp = sender.send_request(req).await.expect("engine answers");
    let body = resp
        .into_body()
        .collect()
        .await
        .expect("engine body")
        .to_bytes();
    serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null)
}

/// What a provider without a cache does on each event: list every container, inspect each.
/// Returns the number of engine calls made.
async fn full_refresh() -> usize {
    let stream = tokio::net::UnixStream::connect(docker_support::SOCK)
        .await
        .expect("engine socket");
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("engine handshake");
    tokio::spawn(conn);
    let list = engine_get(&mut sender, "/v1.41/containers/json?all=1").await;
    let ids: Vec<String> = list
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c["Id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    for id in &ids {
        engine_get(&mut sender, &format!("/v1.41/containers/{id}/json")).await;
    }
    1 + ids.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "figures: run explicitly with --ignored --nocapture"]
async fn docker_inspect_cache_figures() {
    if !engine_available() {
        return;
    }
    let id = unique("cache");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut relay = Relay::new(dir.path().join("docker.sock"));
    relay.start();
    let quiet: Vec<Container> = (0..20)
        .map(|i| Container::run(WHOAMI, &format!("{id}-q{i}"), &id, &[], &[]))
        .collect();
    let name = format!("{id}-flap");
    let flap = Container::run(
        &health_image(),
        &name,
        &id,
        &[(
            &format!("traefik.http.routers.{name}.rule"),
            &format!("Host(`{name}.x`)"),
        )],
        &[],
    );
    let args = [
        "--providers.docker=true".to_string(),
        format!(
            "--providers.docker.endpoint=unix://{}",
            relay.path.display()
        ),
        format!("--providers.docker.constraints=Label(`wharf.test`,`{id}`)"),
        "--entrypoints.web.address=127.0.0.1:0".to_string(),
        "--log.level=WARN".to_string(),
    ];
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut w = Wharf::start(&refs);
    let addr = w.address("web");
    wait_status(addr, &format!("{name}.x"), 200).await;
    let ip = flap.ip();
    let all_containers = docker(&["ps", "-aq"]).lines().count();

    // One minute of flapping, wharf with its per-container cache.
    let engine = dockerd_pid();
    let (i0, l0) = (
        relay
            .calls
            .inspects
            .load(std::sync::atomic::Ordering::SeqCst),
        relay.calls.lists.load(std::sync::atomic::Ordering::SeqCst),
    );
    let (w0, e0) = (cpu_ticks(w.child.id()), engine.map(cpu_ticks).unwrap_or(0));
    let since = now_s().saturating_sub(1);
    let t0 = Instant::now();
    let mut healthy = true;
    while t0.elapsed() < Duration::from_secs(60) {
        healthy = !healthy;
        let path = if healthy {
            "/health/ok"
        } else {
            "/health/fail"
        };
        post(&ip, 80, path).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let inspects = relay
        .calls
        .inspects
        .load(std::sync::atomic::Ordering::SeqCst)
        - i0;
    let lists = relay.calls.lists.load(std::sync::atomic::Ordering::SeqCst) - l0;
    let wharf_ms = (cpu_ticks(w.child.id()) - w0) * 10;
    let engine_ms = (engine.map(cpu_ticks).unwrap_or(0) - e0) * 10;
    let events = docker(&[
        "events",
        "--since",
        &since.to_string(),
        "--until",
        &(now_s() + 1).to_string(),
        "--filter",
        &format!("container={name}"),
        "--filter",
        "event=health_status",
        "--format",
        "{{.ID}}",
    ])
    .lines()
    .count();
    println!(
        "one minute of health flapping ({events} health_status events, {} quiet containers, \
         {all_containers} containers on the engine):",
        quiet.len()
    );
    println!(
        "  per-container cache (wharf): {inspects} inspect calls, {lists} list calls; \
         wharf CPU {wharf_ms} ms, engine CPU {engine_ms} ms (engine CPU includes the health checks)"
    );

    // The same number of events, each answered by a full re-list + re-inspect.
    let (c0, e0) = (
        cpu_ticks(std::process::id()),
        engine.map(cpu_ticks).unwrap_or(0),
    );
    let t1 = Instant::now();
    let mut calls = 0;
    for _ in 0..events {
        calls += full_refresh().await;
    }
    let client_ms = (cpu_ticks(std::process::id()) - c0) * 10;
    let engine_full_ms = (engine.map(cpu_ticks).unwrap_or(0) - e0) * 10;
    println!(
        "  re-list + re-inspect everything per event: {calls} engine calls ({events} lists, {} \
         inspects); took {:.1} s, client CPU {client_ms} ms, engine CPU {engine_full_ms} ms \
         (health checks still running meanwhile)",
        calls - events,
        t1.elapsed().as_secs_f64()
    );
    if engine.is_none() {
        println!("  (engine process not visible from here: engine CPU shows 0)");
    }
    drop(w);
    drop((quiet, flap));
}
