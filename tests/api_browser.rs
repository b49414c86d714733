//! The dashboard in a real browser: Debian's `chromium` driven by `chromedriver` over the
//! WebDriver HTTP API (a plain HTTP/1.1 client, no WebDriver crate). Loads the dashboard, sees a
//! router added to the watched file appear without a reload (SSE), a broken router shown red
//! with its error, a hostile router name shown as text (never run), and uses the explain page.
//! Screenshots go to `target/api-screenshots/` (not committed). Skipped when chromedriver or
//! chromium is missing (scripts/install-test-deps installs them).

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::{poll, write_atomic, Wharf};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const DYN: &str = r#"
http:
  routers:
    whoami:
      rule: "Host(`a.example.com`) && PathPrefix(`/x`)"
      service: whoami
      entryPoints: [web]
      middlewares: [strip]
    "<img src=x onerror=window.__pwned=1>":
      rule: "Host(`<script>window.__pwned=2</script>`)"
      service: whoami
      entryPoints: [web]
  services:
    whoami:
      loadBalancer:
        servers:
          - url: http://127.0.0.1:1
  middlewares:
    strip:
      stripPrefix:
        prefixes: ["/x"]
"#;

/// One WebDriver call: JSON in, the `value` of the JSON answer out.
async fn wd(addr: SocketAddr, method: &str, path: &str, body: Option<Value>) -> Value {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .expect("chromedriver");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.expect("write");
    // chromedriver may keep the connection open despite `Connection: close`: read the head,
    // then exactly Content-Length bytes (or to EOF / the last chunk without one).
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let read = async {
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                let len = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok());
                match len {
                    Some(n) if buf.len() >= end + 4 + n => break,
                    None if buf.ends_with(b"0\r\n\r\n") && end + 4 < buf.len() => break,
                    _ => {}
                }
            }
            let n = s.read(&mut chunk).await.expect("read");
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    };
    tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .unwrap_or_else(|_| panic!("{method} {path}: no answer from chromedriver"));
    let text = String::from_utf8_lossy(&buf);
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let json_text = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(rest)
    } else {
        rest.to_string()
    };
    let v: Value = serde_json::from_str(&json_text)
        .unwrap_or_else(|e| panic!("{method} {path}: {e}: {json_text}"));
    if let Some(err) = v["value"].get("error") {
        panic!(
            "{method} {path}: webdriver error {err}: {}",
            v["value"]["message"]
        );
    }
    v["value"].clone()
}

fn dechunk(mut raw: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = raw.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        raw = rest[n..].trim_start_matches("\r\n");
    }
    out
}

struct Driver {
    child: Child,
    addr: SocketAddr,
    session: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    async fn script(&self, src: &str) -> Value {
        wd(
            self.addr,
            "POST",
            &format!("/session/{}/execute/sync", self.session),
            Some(json!({"script": src, "args": []})),
        )
        .await
    }
    async fn go(&self, url: &str) {
        wd(
            self.addr,
            "POST",
            &format!("/session/{}/url", self.session),
            Some(json!({ "url": url })),
        )
        .await;
    }
    async fn screenshot(&self, name: &str) {
        let v = wd(
            self.addr,
            "GET",
            &format!("/session/{}/screenshot", self.session),
            None,
        )
        .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or(""))
            .expect("png");
        let dir = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"))
            .join("api-screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("screenshot");
    }
}

fn which(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

async fn start_driver() -> Option<Driver> {
    if !which("chromedriver") || !which("chromium") {
        eprintln!("chromium/chromedriver not installed; skipping the browser test");
        return None;
    }
    let port = common::free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    poll("chromedriver up", || async {
        tokio::net::TcpStream::connect(addr).await.ok().map(|_| ())
    })
    .await;
    let mut driver = Driver {
        child,
        addr,
        session: String::new(),
    };
    let caps = json!({"capabilities": {"alwaysMatch": {"goog:chromeOptions": {
        "binary": "/usr/bin/chromium",
        "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=412,915"]
    }}}});
    let v = wd(addr, "POST", "/session", Some(caps)).await;
    driver.session = v["sessionId"].as_str().expect("session id").to_string();
    Some(driver)
}

const ROWS: &str = "return [...document.querySelectorAll('#routers tr[data-name]')].map(r => ({name: r.dataset.name, status: r.dataset.status, text: r.textContent, color: getComputedStyle(r.querySelector('.badge')).color}))";

#[tokio::test]
async fn dashboard_in_chromium() {
    let Some(driver) = start_driver().await else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    write_atomic(dir.path(), "dyn.yml", DYN);
    let file_arg = format!(
        "--providers.file.filename={}",
        dir.path().join("dyn.yml").display()
    );
    let mut w = Wharf::start(&[
        "--api.insecure=true",
        "--entryPoints.web.address=127.0.0.1:0",
        "--entryPoints.traefik.address=127.0.0.1:0",
        "--providers.file.watch=true",
        "--providers.providersThrottleDuration=10ms",
        &file_arg,
    ]);
    let api = w.address("traefik");
    driver
        .go(&format!("http://{api}/dashboard/#/routers"))
        .await;
    let rows = poll("the routers table", || async {
        let v = driver.script(ROWS).await;
        v.as_array()
            .filter(|a| a.iter().any(|r| r["name"] == "whoami@file"))
            .cloned()
    })
    .await;
    // The hostile name is text; neither its onerror nor the rule's script ran.
    assert!(
        rows.iter()
            .any(|r| r["name"] == "<img src=x onerror=window.__pwned=1>@file"),
        "{rows:?}"
    );
    assert_eq!(
        driver
            .script("return document.querySelectorAll('#main img, #main script').length + (window.__pwned === undefined ? 0 : 100)")
            .await,
        json!(0)
    );
    // Wait for the live stream before changing the file.
    poll("SSE connected", || async {
        let v = driver
            .script("return document.getElementById('live').classList.contains('on')")
            .await;
        (v == json!(true)).then_some(())
    })
    .await;
    driver.screenshot("routers").await;

    // A router added to the watched file appears without a reload; a broken one shows red.
    let changed = DYN.replace(
        "\n  services:\n",
        "\n    added:\n      rule: \"Host(`new.example.com`)\"\n      service: whoami\n      entryPoints: [web]\n    broken:\n      rule: \"Host(`b.example.com`\"\n      service: whoami\n      entryPoints: [web]\n  services:\n",
    );
    let written = Instant::now();
    write_atomic(dir.path(), "dyn.yml", &changed);
    let rows = poll("added and broken routers in the page", || async {
        let v = driver.script(ROWS).await;
        v.as_array()
            .filter(|a| {
                a.iter().any(|r| r["name"] == "added@file")
                    && a.iter().any(|r| r["name"] == "broken@file")
            })
            .cloned()
    })
    .await;
    let took = written.elapsed();
    eprintln!("router visible in the dashboard {took:?} after the file changed");
    assert!(took < Duration::from_secs(10), "live update took {took:?}");
    let broken = rows
        .iter()
        .find(|r| r["name"] == "broken@file")
        .expect("broken row");
    assert_eq!(broken["status"], "disabled");
    assert!(
        broken["text"]
            .as_str()
            .is_some_and(|t| t.contains("invalid rule")),
        "{broken}"
    );
    // Red: the badge uses the error colour (rgb(185, 28, 28) light, rgb(248, 113, 113) dark).
    let color = broken["color"].as_str().unwrap_or("");
    assert!(
        color == "rgb(185, 28, 28)" || color == "rgb(248, 113, 113)",
        "broken badge colour {color}"
    );
    driver.screenshot("routers-live").await;

    // Router detail draws the chain: entry points → strip@file → whoami@file → server.
    driver
        .go(&format!("http://{api}/dashboard/#/routers/whoami%40file"))
        .await;
    let chain = poll("router detail chain", || async {
        let v = driver
            .script("const c = document.getElementById('chain'); return c ? c.textContent : null")
            .await;
        v.as_str().map(str::to_string)
    })
    .await;
    assert!(
        chain.contains("strip@file")
            && chain.contains("whoami@file")
            && chain.contains("http://127.0.0.1:1"),
        "{chain}"
    );
    driver.screenshot("router-detail").await;

    // The explain page.
    driver
        .go(&format!("http://{api}/dashboard/#/explain"))
        .await;
    poll("explain form", || async {
        let v = driver
            .script("return !!document.getElementById('explain-form')")
            .await;
        (v == json!(true)).then_some(())
    })
    .await;
    driver
        .script("document.getElementById('explain-url').value = 'http://a.example.com/x/1'; document.getElementById('explain-go').click(); return true")
        .await;
    let outcome = poll("explain outcome", || async {
        let v = driver
            .script("const o = document.getElementById('explain-outcome'); return o ? o.textContent : null")
            .await;
        v.as_str().map(str::to_string)
    })
    .await;
    assert_eq!(outcome, "routed by whoami@file");
    driver.screenshot("explain").await;

    // Overview lists the broken router first, and the change timeline shows the addition.
    driver.go(&format!("http://{api}/dashboard/#/")).await;
    let first = poll("overview problems", || async {
        let v = driver
            .script("const r = document.querySelector('#problems tr[data-name]'); return r ? r.dataset.name : null")
            .await;
        v.as_str().map(str::to_string)
    })
    .await;
    assert_eq!(first, "broken@file");
    driver.screenshot("overview").await;
    driver.go(&format!("http://{api}/dashboard/#/events")).await;
    let timeline = poll("timeline", || async {
        let v = driver
            .script(
                "const t = document.getElementById('timeline'); return t ? t.textContent : null",
            )
            .await;
        v.as_str()
            .filter(|t| t.contains("added@file"))
            .map(str::to_string)
    })
    .await;
    assert!(timeline.contains("added"), "{timeline}");
    driver.screenshot("events").await;
    let _ = wd(
        driver.addr,
        "DELETE",
        &format!("/session/{}", driver.session),
        None,
    )
    .await;
}
