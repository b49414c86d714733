//! `examples/compose` brought up with docker-compose on the real engine: wharf runs as a
//! container (the `wharf:dev` image, FROM scratch, the socket mounted read-only) and serves both
//! labelled backends by path. Published ports are random loopback ports, so the test does not
//! depend on :80 being free.
//!
//! Needs `images/build.sh` (the images from the one static build) and docker-compose.

mod common;
mod docker_support;

use std::path::PathBuf;
use std::process::Command;

use common::get;
use docker_support::{engine_available, unique};

struct Project {
    name: String,
    file: PathBuf,
}

impl Project {
    fn compose(&self, args: &[&str]) -> std::process::Output {
        Command::new("docker-compose")
            .arg("-p")
            .arg(&self.name)
            .arg("-f")
            .arg(&self.file)
            .args(args)
            .env("WHARF_WEB_PUBLISH", "127.0.0.1::80")
            .env("WHARF_API_PUBLISH", "127.0.0.1::8080")
            .output()
            .expect("run docker-compose")
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = self.compose(&["down", "-v", "--remove-orphans", "-t", "2"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compose_example_serves_both_paths() {
    if !engine_available() {
        return;
    }
    if Command::new("docker-compose")
        .arg("version")
        .output()
        .is_err()
    {
        eprintln!("skipping: docker-compose is not installed");
        return;
    }
    let ok = Command::new("docker")
        .args(["image", "inspect", "wharf:dev"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(ok, "image wharf:dev is missing: run images/build.sh first");

    let file =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/compose/docker-compose.yml");
    // compose project names: lower-case letters, digits, dashes and underscores.
    let p = Project {
        name: unique("compose").replace('-', ""),
        file,
    };
    let up = p.compose(&["up", "-d"]);
    assert!(
        up.status.success(),
        "docker-compose up: {}",
        String::from_utf8_lossy(&up.stderr)
    );

    let port = p.compose(&["port", "wharf", "80"]);
    let port = String::from_utf8_lossy(&port.stdout).trim().to_string();
    let addr: std::net::SocketAddr = port
        .parse()
        .unwrap_or_else(|_| panic!("docker-compose port wharf 80 said {port:?}"));

    let logs =
        || String::from_utf8_lossy(&p.compose(&["logs", "--no-color", "wharf"]).stdout).to_string();
    for (path, name) in [("/users", "users"), ("/products", "products")] {
        let found = tokio::time::timeout(std::time::Duration::from_secs(30), async {
            loop {
                if let Some(r) = get(addr, "api.example.com", path)
                    .await
                    .ok()
                    .filter(|r| r.status == 200)
                {
                    return r;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        })
        .await;
        let r =
            found.unwrap_or_else(|_| panic!("{path} never answered 200; wharf logs:\n{}", logs()));
        assert!(
            r.body.contains(&format!("Name: {name}")),
            "{path} answered by the wrong backend: {}",
            r.body
        );
        let port = if name == "users" { "3000" } else { "3001" };
        assert!(r.body.contains(&format!("Port: {port}")), "{}", r.body);
    }
    let other = get(addr, "api.example.com", "/other")
        .await
        .expect("request");
    assert_eq!(other.status, 404);
}
