//! The ACME store: Traefik's `acme.json` format pinned by a fixture written the way Traefik
//! writes it; certificates of a migrated file serve without any order; mode 0600 enforced with
//! a `chmod` hint; a corrupt file is backed up, never overwritten blindly.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use wharf::acme::store::{AcmeStore, BackoffEntry};
use wharf::acme::{self, AcmeOptions, CertState};
use wharf::config::{Acme, CertificateResolver, HttpChallenge};
use wharf::snapshot::SnapshotStore;
use wharf_providers::provider::ProviderStatus;

const FIXTURE: &str = include_str!("acme_fixtures/traefik-acme.json");

fn fixture_in(dir: &Path, mode: u32) -> PathBuf {
    let p = dir.join("acme.json");
    std::fs::write(&p, FIXTURE).expect("write fixture");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
    p
}

#[test]
fn traefik_format_loads_and_round_trips_exactly() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = fixture_in(tmp.path(), 0o600);
    let store = AcmeStore::new(&path);
    store.check_mode().expect("0600 accepted");
    let loaded = store.load("le").expect("load");
    assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
    let data = loaded.data;
    let acc = data.account.as_ref().expect("account");
    assert_eq!(acc.email, "ops@example.com");
    assert_eq!(acc.key_type, "4096");
    assert_eq!(
        acc.registration.as_ref().map(|r| r.uri.as_str()),
        Some("https://acme-v02.api.letsencrypt.org/acme/acct/123456789")
    );
    assert_eq!(data.certificates.len(), 1);
    let c = &data.certificates[0];
    assert_eq!(c.domain.main, "legacy.example.com");
    assert_eq!(c.domain.sans, vec!["www.legacy.example.com".to_string()]);
    assert_eq!(c.store, "default");
    assert!(c.certificate.starts_with(b"-----BEGIN CERTIFICATE-----"));
    assert!(c.key.starts_with(b"-----BEGIN PRIVATE KEY-----"));

    // Saving the same data rewrites our resolver byte-for-byte equal as JSON, keeps the others.
    store.save("le", &data).expect("save");
    let before: serde_json::Value = serde_json::from_str(FIXTURE).expect("fixture json");
    let after: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("saved json");
    assert_eq!(after["le"], before["le"]);
    assert_eq!(after["other"], before["other"]);
    let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // A resolver absent from the file reads as empty.
    assert!(store
        .load("absent")
        .expect("load")
        .data
        .certificates
        .is_empty());
}

#[test]
fn new_file_is_created_private_and_backoff_lives_beside_it() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("acme.json");
    let store = AcmeStore::new(&path);
    store.save("r", &Default::default()).expect("save");
    let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let mut b = BTreeMap::new();
    b.insert(
        "a.test".to_string(),
        BackoffEntry {
            failures: 3,
            retry_at: 42,
            last_error: "boom".into(),
        },
    );
    store.save_backoff("r", &b).expect("save backoff");
    assert_eq!(AcmeStore::new(&path).load_backoff("r"), b);
    assert!(store.backoff_path().starts_with(tmp.path()));
    let bmode = std::fs::metadata(store.backoff_path())
        .expect("meta")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(bmode, 0o600);
}

#[test]
fn corrupt_file_is_backed_up_and_not_lost() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("acme.json");
    std::fs::write(&path, "{\"le\": {\"Certificates\": [ broken").expect("write");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let store = AcmeStore::new(&path);
    let loaded = store.load("le").expect("load");
    assert!(loaded.data.certificates.is_empty());
    assert_eq!(loaded.problems.len(), 1, "{:?}", loaded.problems);
    assert!(loaded.problems[0].contains("not valid JSON"));
    let backups: Vec<_> = std::fs::read_dir(tmp.path())
        .expect("readdir")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains(".corrupt-"))
        .collect();
    assert_eq!(backups.len(), 1);
    assert_eq!(
        std::fs::read_to_string(backups[0].path()).expect("backup"),
        "{\"le\": {\"Certificates\": [ broken"
    );

    // One unreadable certificate among good ones: the good ones are kept, the file backed up.
    let mut v: serde_json::Value = serde_json::from_str(FIXTURE).expect("json");
    let good = v["le"]["Certificates"][0].clone();
    v["le"]["Certificates"] =
        serde_json::json!([{"domain": {"main": "x"}, "certificate": "%%%not base64"}, good]);
    std::fs::write(&path, v.to_string()).expect("write");
    let loaded = store.load("le").expect("load");
    assert_eq!(loaded.data.certificates.len(), 1);
    assert_eq!(
        loaded.data.certificates[0].domain.main,
        "legacy.example.com"
    );
    assert!(loaded
        .problems
        .iter()
        .any(|p| p.contains("Certificates[0]")));
}

fn resolver(storage: &Path, ca: &str) -> BTreeMap<String, CertificateResolver> {
    let mut m = BTreeMap::new();
    m.insert(
        "le".to_string(),
        CertificateResolver {
            acme: Some(Acme {
                email: "ops@example.com".into(),
                storage: storage.display().to_string(),
                ca_server: ca.into(),
                http_challenge: Some(HttpChallenge {
                    entry_point: "web".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            tailscale: None,
        },
    );
    m
}

async fn poll<T>(mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "condition not met in 10 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn migrated_certificates_are_published_without_any_order() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = fixture_in(tmp.path(), 0o600);
    // The CA is unreachable: any order would fail and show up as backoff.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let ca = format!("https://{}/dir", closed.local_addr().expect("addr"));
    drop(closed);
    let rt = acme::start(
        &resolver(&path, &ca),
        SnapshotStore::new(),
        AcmeOptions::default(),
    );
    assert_eq!(rt.providers.len(), 1);
    assert_eq!(rt.providers[0].name, "le.acme");
    assert!(rt.http_entry_points.contains("web"));
    let mut cfgw = rt.providers[0].config.clone();
    let view = poll(|| cfgw.borrow_and_update().clone()).await;
    assert_eq!(view.tls.certificates.len(), 1);
    assert!(view.tls.certificates[0]
        .cert_file
        .starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(view.tls.certificates[0].key_file.contains("PRIVATE KEY"));
    let inv = poll(|| {
        let l = rt.inventory.list();
        (!l.is_empty()).then_some(l)
    })
    .await;
    assert_eq!(inv.len(), 1);
    assert_eq!(inv[0].id, "le:legacy.example.com,www.legacy.example.com");
    assert_eq!(inv[0].state, CertState::Valid);
    assert_eq!(inv[0].failures, 0);
    assert!(inv[0].not_after.is_some() && inv[0].next_renewal < inv[0].not_after);
    assert_eq!(std::fs::read_to_string(&path).expect("read"), FIXTURE);
}

#[tokio::test]
async fn wide_mode_disables_only_that_resolver_with_a_chmod_hint() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = fixture_in(tmp.path(), 0o644);
    let rt = acme::start(
        &resolver(&path, "https://127.0.0.1:1/dir"),
        SnapshotStore::new(),
        AcmeOptions::default(),
    );
    let mut st = rt.providers[0].status.clone();
    let msg = poll(|| match &*st.borrow_and_update() {
        ProviderStatus::Error(m) => Some(m.clone()),
        _ => None,
    })
    .await;
    assert!(
        msg.contains(&format!("chmod 600 {}", path.display())),
        "{msg}"
    );
    // An empty view is published so the rest of the configuration is not held back.
    let view = rt.providers[0]
        .config
        .borrow()
        .clone()
        .expect("view published");
    assert!(view.tls.certificates.is_empty());
    let inv = rt.inventory.list();
    assert_eq!(inv.len(), 1);
    assert_eq!(inv[0].state, CertState::Disabled);
    assert!(inv[0]
        .last_error
        .as_deref()
        .unwrap_or("")
        .contains("chmod 600"));
    assert_eq!(std::fs::read_to_string(&path).expect("read"), FIXTURE);
}
