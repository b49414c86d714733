//! The local quota state file (`quotas.stateFile`): loaded at start, written every
//! `flushInterval` when counters changed, and once more at shutdown. Writes are atomic (a temp
//! file in the same directory, fsync, rename), so a crash leaves the old or the new file, never
//! half of one. A process killed hard loses at most one interval of counts.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use wharf_middlewares::quota::{Counter, QuotaBook};

/// On-disk format, pinned by `version`.
#[derive(Debug, Serialize, Deserialize)]
struct StateFile {
    version: u32,
    /// `middleware \u{1f} i:<ip> | t:<text>` → counter.
    counters: BTreeMap<String, Counter>,
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Loads the counters saved in `path` into `book`. A missing file is a first start; a bad one
/// is logged and ignored (counts restart from zero rather than the proxy refusing to start).
pub fn load(book: &QuotaBook, path: &Path) -> usize {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return 0,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "quotas: cannot read the state file");
            return 0;
        }
    };
    match serde_json::from_slice::<StateFile>(&text) {
        Ok(f) if f.version == 1 => {
            let n = book.import(f.counters, unix_now());
            tracing::info!(path = %path.display(), counters = n, "quotas: counters restored");
            n
        }
        Ok(f) => {
            tracing::warn!(path = %path.display(), version = f.version, "quotas: unknown state file version; ignored");
            0
        }
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "quotas: state file is not valid; ignored");
            0
        }
    }
}

/// Writes the live counters of `book` to `path` atomically.
pub fn save(book: &QuotaBook, path: &Path) -> std::io::Result<()> {
    let file = StateFile {
        version: 1,
        counters: book.export(unix_now()),
    };
    let bytes = serde_json::to_vec(&file).map_err(std::io::Error::other)?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "quotas".into());
    let tmp: PathBuf = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Saves when counters changed since the last save (errors are logged, the counters stay in
/// memory and the next flush tries again).
pub fn flush(book: &QuotaBook, path: &Path) {
    if book.take_dirty() {
        if let Err(e) = save(book, path) {
            tracing::warn!(path = %path.display(), error = %e, "quotas: cannot write the state file");
        }
    }
}

/// Flushes every `interval` until the process ends (the final flush is the caller's, at
/// shutdown).
pub async fn flush_loop(book: std::sync::Arc<QuotaBook>, path: PathBuf, interval: Duration) {
    let mut tick = tokio::time::interval(interval.max(Duration::from_millis(100)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let (b, p) = (book.clone(), path.clone());
        // File I/O off the async workers.
        let _ = tokio::task::spawn_blocking(move || flush(&b, &p)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_load_roundtrip_and_bad_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("q.json");
        let book = QuotaBook::default();
        assert_eq!(load(&book, &path), 0, "missing file: first start");
        let far = unix_now() + 3600;
        let mut saved = BTreeMap::new();
        saved.insert(
            "q@file\u{1f}t:alice".to_string(),
            Counter {
                reset: far,
                count: 7,
            },
        );
        saved.insert(
            "q@file\u{1f}i:10.0.0.1".to_string(),
            Counter {
                reset: far,
                count: 2,
            },
        );
        saved.insert(
            "q@file\u{1f}t:gone".to_string(),
            Counter { reset: 1, count: 9 },
        );
        assert_eq!(book.import(saved, unix_now()), 2);
        save(&book, &path).expect("save");
        // Atomic: no temp file left beside it.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        let back = QuotaBook::default();
        assert_eq!(load(&back, &path), 2);
        assert_eq!(back.export(unix_now()), book.export(unix_now()));
        // A corrupt or foreign file is ignored, never fatal.
        std::fs::write(&path, b"{not json").expect("write");
        assert_eq!(load(&QuotaBook::default(), &path), 0);
        std::fs::write(&path, br#"{"version": 9, "counters": {}}"#).expect("write");
        assert_eq!(load(&QuotaBook::default(), &path), 0);
    }
}
