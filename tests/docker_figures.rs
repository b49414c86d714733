//! Figures of the Docker provider on the real engine (printed, not asserted: speed belongs to
//! benchmarks). Ignored by default; run with
//! `cargo test --release --test docker_figures -- --ignored --nocapture`
//! (`FIGURES_VERBOSE=1`: every run's numbers; `FIGURES_QUICK=1`: latencies only, then wharf's log).
//!
//! - start event → first 200 through wharf (median and max of 20), die event → route gone (404);
//! - wharf's CPU time while 100 labelled containers start;
//! - wharf's CPU time over one minute while one container's health check flaps every second.

mod common;
mod docker_support;

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{get, Wharf};
use docker_support::{docker, engine_available, health_image, post, unique, Container, WHOAMI};

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
