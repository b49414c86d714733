//! End to end against the machine's real Docker Engine: the wharf binary (a host process, its
//! docker provider selecting only this test's containers by a unique label) routes to labelled
//! whoami containers that the test starts, stops, scales, makes unhealthy; and keeps its routes
//! while the engine's socket (a relay in the test) disappears and comes back.
//!
//! Needs `images/build.sh` (the `wharf-whoami:dev` image); skips without an engine socket.

mod common;
mod docker_support;

use std::collections::BTreeSet;
use std::net::SocketAddr;

use common::{get, poll, Wharf};
use docker_support::{
    docker, engine_available, health_image, post, unique, Container, Relay, WHOAMI,
};

fn start_wharf(test_id: &str, extra: &[String]) -> (Wharf, SocketAddr) {
    let mut args: Vec<String> = vec![
        "--providers.docker=true".into(),
        format!("--providers.docker.constraints=Label(`wharf.test`,`{test_id}`)"),
        "--entrypoints.web.address=127.0.0.1:0".into(),
        "--providers.providersThrottleDuration=100ms".into(),
    ];
    args.extend(extra.iter().cloned());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut w = Wharf::start(&refs);
    let addr = w.address("web");
    (w, addr)
}

async fn status_of(addr: SocketAddr, host: &str, path: &str) -> Option<u16> {
    get(addr, host, path).await.ok().map(|r| r.status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_serves_after_start_and_stops_after_stop() {
    if !engine_available() {
        return;
    }
    let id = unique("start");
    let (w, addr) = start_wharf(&id, &[]);
    let host = format!("{id}.example.test");
    let c = Container::run(
        WHOAMI,
        &id,
        &id,
        &[
            (
                &format!("traefik.http.routers.{id}.rule"),
                &format!("Host(`{host}`)"),
            ),
            (
                &format!("traefik.http.services.{id}.loadbalancer.server.port"),
                "3000",
            ),
        ],
        &["--", "--port", "3000"],
    );
    let hostname = c.hostname();
    let r = poll("200 from the container after docker start", || async {
        get(addr, &host, "/hello")
            .await
            .ok()
            .filter(|r| r.status == 200)
    })
    .await;
    assert!(
        r.body.contains(&format!("Hostname: {hostname}")),
        "body: {}\nlog:\n{}",
        r.body,
        w.log()
    );
    assert!(r.body.contains("Port: 3000"), "{}", r.body);
    assert!(r.body.contains("GET /hello"), "{}", r.body);

    docker(&["stop", &id]);
    poll("404 after docker stop", || async {
        status_of(addr, &host, "/").await.filter(|s| *s == 404)
    })
    .await;

    docker(&["start", &id]);
    poll("200 again after docker start", || async {
        status_of(addr, &host, "/").await.filter(|s| *s == 200)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_the_load() {
    if !engine_available() {
        return;
    }
    let id = unique("replicas");
    let (_w, addr) = start_wharf(&id, &[]);
    let host = format!("{id}.example.test");
    let rule = format!("Host(`{host}`)");
    let labels = [
        ("com.docker.compose.service", "web"),
        ("com.docker.compose.project", id.as_str()),
        ("traefik.http.routers.web.rule", rule.as_str()),
    ];
    let a = Container::run(WHOAMI, &format!("{id}-1"), &id, &labels, &[]);
    let b = Container::run(WHOAMI, &format!("{id}-2"), &id, &labels, &[]);
    let want: BTreeSet<String> = [a.hostname(), b.hostname()].into_iter().collect();
    let seen = std::sync::Mutex::new(BTreeSet::new());
    poll("both replicas answer", || async {
        let r = get(addr, &host, "/").await.ok()?;
        let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
        if r.status == 200 {
            if let Some(h) = r.body.lines().find_map(|l| l.strip_prefix("Hostname: ")) {
                seen.insert(h.to_string());
            }
        }
        (*seen == want).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unhealthy_answers_503_and_healthy_again_serves() {
    if !engine_available() {
        return;
    }
    let id = unique("health");
    let (_w, addr) = start_wharf(&id, &[]);
    let host = format!("{id}.example.test");
    let image = health_image();
    let c = Container::run(
        &image,
        &id,
        &id,
        &[(
            &format!("traefik.http.routers.{id}.rule"),
            &format!("Host(`{host}`)"),
        )],
        &[],
    );
    poll("200 once healthy", || async {
        status_of(addr, &host, "/").await.filter(|s| *s == 200)
    })
    .await;

    post(&c.ip(), 80, "/health/fail").await;
    // wharf keeps the router of an unhealthy container: 503 (no healthy server), not 404.
    poll("503 while unhealthy", || async {
        status_of(addr, &host, "/").await.filter(|s| *s == 503)
    })
    .await;

    post(&c.ip(), 80, "/health/ok").await;
    poll("200 when healthy again", || async {
        status_of(addr, &host, "/").await.filter(|s| *s == 200)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_socket_gone_and_back_keeps_routes() {
    if !engine_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut relay = Relay::new(dir.path().join("docker.sock"));
    relay.start();
    let id = unique("relay");
    let endpoint = format!(
        "--providers.docker.endpoint=unix://{}",
        relay.path.display()
    );
    let (w, addr) = start_wharf(&id, &[endpoint]);
    let host_a = format!("{id}-a.example.test");
    let _a = Container::run(
        WHOAMI,
        &format!("{id}-a"),
        &id,
        &[(
            &format!("traefik.http.routers.{id}-a.rule"),
            &format!("Host(`{host_a}`)"),
        )],
        &[],
    );
    poll("first route serves", || async {
        status_of(addr, &host_a, "/").await.filter(|s| *s == 200)
    })
    .await;

    relay.kill();
    // Give the provider every chance to notice, then check the route is still served.
    let host_b = format!("{id}-b.example.test");
    let _b = Container::run(
        WHOAMI,
        &format!("{id}-b"),
        &id,
        &[(
            &format!("traefik.http.routers.{id}-b.rule"),
            &format!("Host(`{host_b}`)"),
        )],
        &[],
    );
    poll("the provider noticed the engine is gone", || async {
        w.log()
            .to_ascii_lowercase()
            .contains("engine unreachable")
            .then_some(())
    })
    .await;
    for _ in 0..5 {
        assert_eq!(
            status_of(addr, &host_a, "/").await,
            Some(200),
            "route dropped while the engine is away:\n{}",
            w.log()
        );
    }

    relay.start();
    poll(
        "a container started while the engine was away serves after reconnect",
        || async { status_of(addr, &host_b, "/").await.filter(|s| *s == 200) },
    )
    .await;
    assert_eq!(status_of(addr, &host_a, "/").await, Some(200));
}
