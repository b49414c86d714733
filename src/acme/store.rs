//! ACME storage: Traefik's `acme.json` (resolver name → account + certificates), read at start so
//! migrated certificates serve without reissue, and rewritten after each issuance. Beside it, a
//! sibling file keeps the per-domain-set backoff so a crash loop never hammers the CA.
//!
//! Writes are atomic (temporary file, fsync, rename); when rename fails (a bind-mounted single
//! file), the old file is copied to `<storage>.bak` and the new content written in place.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use base64::Engine;
use serde::{Deserialize, Serialize};

/// Why the storage cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "{path}: mode {mode:04o} is too open (the file holds private keys); run `chmod 600 {path}`"
    )]
    Mode { path: String, mode: u32 },
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: cannot encode: {source}")]
    Encode {
        path: String,
        source: serde_json::Error,
    },
}

/// Bytes stored as standard base64 (Go's `[]byte` in JSON); `null` reads as empty.
mod b64 {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = Option::<String>::deserialize(d)?.unwrap_or_default();
        base64::engine::general_purpose::STANDARD
            .decode(s.trim())
            .map_err(serde::de::Error::custom)
    }
}

/// Traefik's `types.Domain`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredDomain {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub main: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sans: Vec<String>,
}

impl StoredDomain {
    /// Main name first, then the SANs (duplicates of main removed).
    pub fn names(&self) -> Vec<String> {
        let mut out = vec![self.main.to_ascii_lowercase()];
        for s in &self.sans {
            let s = s.to_ascii_lowercase();
            if !out.contains(&s) {
                out.push(s);
            }
        }
        out.retain(|s| !s.is_empty());
        out
    }
}

/// lego's `registration.Resource`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Registration {
    #[serde(default)]
    pub body: serde_json::Value,
    #[serde(default)]
    pub uri: String,
}

/// Traefik's `Account`. wharf writes its own account key here as PKCS#8 DER (P-256, what the
/// ACME client signs with); a Traefik account (RSA, PKCS#1) cannot be used and is re-registered.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StoredAccount {
    #[serde(rename = "Email", default)]
    pub email: String,
    #[serde(rename = "Registration", default)]
    pub registration: Option<Registration>,
    #[serde(rename = "PrivateKey", default, with = "b64")]
    pub private_key: Vec<u8>,
    #[serde(rename = "KeyType", default)]
    pub key_type: String,
}

/// Traefik's `CertAndStore`: PEM certificate chain and key, each base64-encoded.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StoredCertificate {
    #[serde(default)]
    pub domain: StoredDomain,
    #[serde(default, with = "b64")]
    pub certificate: Vec<u8>,
    #[serde(default, with = "b64")]
    pub key: Vec<u8>,
    #[serde(rename = "Store", default)]
    pub store: String,
}

/// One resolver's entry in `acme.json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ResolverData {
    #[serde(rename = "Account", default)]
    pub account: Option<StoredAccount>,
    #[serde(rename = "Certificates", default)]
    pub certificates: Vec<StoredCertificate>,
}

/// What reading one resolver's data found.
#[derive(Debug, Default)]
pub struct Loaded {
    pub data: ResolverData,
    /// Problems found (unreadable entries skipped, corrupt file backed up).
    pub problems: Vec<String>,
}

/// One storage file, shared by every resolver that names it (Traefik's default: all resolvers
/// in `acme.json`): each resolver rewrites only its own key.
#[derive(Clone, Debug)]
pub struct AcmeStore {
    path: PathBuf,
    lock: Arc<Mutex<()>>,
}

fn lock_for(path: &Path) -> Arc<Mutex<()>> {
    static LOCKS: OnceLock<Mutex<BTreeMap<PathBuf, Arc<Mutex<()>>>>> = OnceLock::new();
    let mut m = LOCKS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    m.entry(path.to_path_buf()).or_default().clone()
}

impl AcmeStore {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        let lock = lock_for(&path);
        AcmeStore { path, lock }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The sibling file holding backoff state.
    pub fn backoff_path(&self) -> PathBuf {
        let mut s = self.path.clone().into_os_string();
        s.push(".wharf-backoff.json");
        PathBuf::from(s)
    }

    fn guard(&self) -> std::sync::MutexGuard<'_, ()> {
        self.lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Refuses a file readable or writable by others (Traefik refuses too): the caller disables
    /// the resolver with this message. A missing file is fine (created 0600 on first write).
    pub fn check_mode(&self) -> Result<(), StoreError> {
        check_mode(&self.path)
    }

    /// Reads `resolver`'s data. A file that is not JSON is backed up (`<storage>.corrupt-<unix>`)
    /// and reported; entries that cannot be decoded are skipped and reported; what can be read
    /// is returned.
    pub fn load(&self, resolver: &str) -> Result<Loaded, StoreError> {
        let _g = self.guard();
        let mut out = Loaded::default();
        let text = match std::fs::read(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(source) => return Err(self.io(source)),
        };
        if text.iter().all(u8::is_ascii_whitespace) {
            return Ok(out);
        }
        let all: BTreeMap<String, serde_json::Value> = match serde_json::from_slice(&text) {
            Ok(v) => v,
            Err(e) => {
                let backup = self.backup_corrupt(&text)?;
                out.problems.push(format!(
                    "{}: not valid JSON ({e}); kept a copy at {}; starting with no stored certificates",
                    self.path.display(),
                    backup.display()
                ));
                return Ok(out);
            }
        };
        let Some(entry) = all.get(resolver) else {
            return Ok(out);
        };
        let mut corrupt = false;
        if let Some(acc) = entry.get("Account").filter(|a| !a.is_null()) {
            match serde_json::from_value::<StoredAccount>(acc.clone()) {
                Ok(a) => out.data.account = Some(a),
                Err(e) => {
                    corrupt = true;
                    out.problems
                        .push(format!("{}: {resolver}.Account: {e}", self.path.display()));
                }
            }
        }
        if let Some(certs) = entry.get("Certificates").and_then(|c| c.as_array()) {
            for (i, c) in certs.iter().enumerate() {
                match serde_json::from_value::<StoredCertificate>(c.clone()) {
                    Ok(c) => out.data.certificates.push(c),
                    Err(e) => {
                        corrupt = true;
                        out.problems.push(format!(
                            "{}: {resolver}.Certificates[{i}]: {e}; skipped",
                            self.path.display()
                        ));
                    }
                }
            }
        }
        if corrupt {
            let backup = self.backup_corrupt(&text)?;
            out.problems.push(format!(
                "{}: kept a copy of the unreadable file at {}",
                self.path.display(),
                backup.display()
            ));
        }
        Ok(out)
    }

    /// Replaces `resolver`'s entry, keeping every other resolver's entry as it was. An unreadable
    /// current file is backed up before being replaced.
    pub fn save(&self, resolver: &str, data: &ResolverData) -> Result<(), StoreError> {
        let _g = self.guard();
        let mut all: BTreeMap<String, serde_json::Value> = match std::fs::read(&self.path) {
            Ok(t) if t.iter().all(u8::is_ascii_whitespace) => BTreeMap::new(),
            Ok(t) => match serde_json::from_slice(&t) {
                Ok(v) => v,
                Err(_) => {
                    self.backup_corrupt(&t)?;
                    BTreeMap::new()
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(source) => return Err(self.io(source)),
        };
        let v = serde_json::to_value(data).map_err(|source| StoreError::Encode {
            path: self.path.display().to_string(),
            source,
        })?;
        all.insert(resolver.to_string(), v);
        let bytes = serde_json::to_vec_pretty(&all).map_err(|source| StoreError::Encode {
            path: self.path.display().to_string(),
            source,
        })?;
        write_atomic(&self.path, &bytes)
    }

    fn backup_corrupt(&self, content: &[u8]) -> Result<PathBuf, StoreError> {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut s = self.path.clone().into_os_string();
        s.push(format!(".corrupt-{secs}"));
        let backup = PathBuf::from(s);
        if !backup.exists() {
            write_new_private(&backup, content)?;
        }
        Ok(backup)
    }

    fn io(&self, source: std::io::Error) -> StoreError {
        StoreError::Io {
            path: self.path.display().to_string(),
            source,
        }
    }
}

fn check_mode(path: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        match std::fs::metadata(path) {
            Ok(m) => {
                let mode = m.permissions().mode() & 0o777;
                if mode & 0o077 != 0 {
                    return Err(StoreError::Mode {
                        path: path.display().to_string(),
                        mode,
                    });
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(StoreError::Io {
                    path: path.display().to_string(),
                    source,
                })
            }
        }
    }
    Ok(())
}

fn open_private(path: &Path, create_new: bool) -> std::io::Result<std::fs::File> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true);
    if create_new {
        o.create_new(true);
    } else {
        o.create(true).truncate(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)
}

fn write_new_private(path: &Path, content: &[u8]) -> Result<(), StoreError> {
    let io = |source| StoreError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut f = open_private(path, false).map_err(io)?;
    f.write_all(content).map_err(io)?;
    f.sync_all().map_err(io)
}

/// Temporary file beside `path` (same file system), fsync, rename. When the rename fails (the
/// target is a bind-mounted file), copies the old file to `<path>.bak` and writes in place.
pub fn write_atomic(path: &Path, content: &[u8]) -> Result<(), StoreError> {
    let io = |source| StoreError::Io {
        path: path.display().to_string(),
        source,
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "acme.json".into());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let written = (|| -> std::io::Result<()> {
        let mut f = open_private(&tmp, false)?;
        f.write_all(content)?;
        f.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(e));
    }
    match std::fs::rename(&tmp, path) {
        Ok(()) => {
            // Make the rename itself durable.
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
            Ok(())
        }
        Err(rename_err) => {
            let _ = std::fs::remove_file(&tmp);
            tracing::warn!(path = %path.display(), error = %rename_err, "rename failed (bind-mounted file?); writing in place after a backup copy");
            if path.exists() {
                let mut bak = path.to_path_buf().into_os_string();
                bak.push(".bak");
                let old = std::fs::read(path).map_err(io)?;
                write_new_private(Path::new(&bak), &old)?;
            }
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .truncate(true)
                .create(true)
                .open(path)
                .map_err(io)?;
            f.write_all(content).map_err(io)?;
            f.sync_all().map_err(io)
        }
    }
}

/// Backoff of one domain set, persisted beside the certificates.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackoffEntry {
    /// Consecutive failures.
    pub failures: u32,
    /// Unix seconds before which no new order is placed.
    pub retry_at: u64,
    pub last_error: String,
}

/// resolver → domain-set key → backoff.
pub type BackoffFile = BTreeMap<String, BTreeMap<String, BackoffEntry>>;

impl AcmeStore {
    /// Reads `resolver`'s backoff state (an unreadable file counts as none, with a warning).
    pub fn load_backoff(&self, resolver: &str) -> BTreeMap<String, BackoffEntry> {
        let _g = self.guard();
        let p = self.backoff_path();
        match std::fs::read(&p) {
            Ok(t) => match serde_json::from_slice::<BackoffFile>(&t) {
                Ok(mut f) => f.remove(resolver).unwrap_or_default(),
                Err(e) => {
                    tracing::warn!(path = %p.display(), error = %e, "unreadable ACME backoff state ignored");
                    BTreeMap::new()
                }
            },
            Err(_) => BTreeMap::new(),
        }
    }

    /// Replaces `resolver`'s backoff state.
    pub fn save_backoff(
        &self,
        resolver: &str,
        entries: &BTreeMap<String, BackoffEntry>,
    ) -> Result<(), StoreError> {
        let _g = self.guard();
        let p = self.backoff_path();
        let mut f: BackoffFile = std::fs::read(&p)
            .ok()
            .and_then(|t| serde_json::from_slice(&t).ok())
            .unwrap_or_default();
        if entries.is_empty() {
            f.remove(resolver);
        } else {
            f.insert(resolver.to_string(), entries.clone());
        }
        let bytes = serde_json::to_vec_pretty(&f).map_err(|source| StoreError::Encode {
            path: p.display().to_string(),
            source,
        })?;
        write_atomic(&p, &bytes)
    }
}

/// Decodes base64 that some tools write with URL-safe alphabet or without padding.
pub fn decode_b64_lenient(s: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let s = s.trim();
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|e| e.decode(s).ok())
}
