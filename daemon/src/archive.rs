//! The image archive: every generated picture as a PNG under
//! `data_dir/images/`, bounded by count and bytes so a piece running for
//! months never fills its disk; the oldest pictures go first.
//!
//! Ids are `<unix ms, 13 digits>-<counter, 6 digits>`: sortable, unique
//! within and across runs, and checked on lookup so a request can never
//! name a path outside the archive. Files are written to a temporary name
//! and renamed, so a power cut never leaves a half picture under an id.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Limits on what the archive keeps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    pub keep: usize,
    pub max_bytes: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            keep: 1000,
            max_bytes: 512 << 20,
        }
    }
}

pub struct Archive {
    dir: PathBuf,
    limits: Limits,
    /// Oldest first: (id, size in bytes).
    entries: Mutex<(VecDeque<(String, u64)>, u64)>,
    counter: AtomicU64,
}

/// True when `id` has the archive's id shape (and so names no other path).
pub fn is_valid_id(id: &str) -> bool {
    let b = id.as_bytes();
    b.len() == 20
        && b[13] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 13 || c.is_ascii_digit())
}

impl Archive {
    /// Opens (creating) `dir`, indexing the pictures already there and
    /// removing leftovers of interrupted writes.
    pub fn open(dir: &Path, limits: Limits) -> std::io::Result<Archive> {
        std::fs::create_dir_all(dir)?;
        let mut found = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".tmp") {
                let _ = std::fs::remove_file(entry.path());
            } else if let Some(id) = name.strip_suffix(".png").filter(|id| is_valid_id(id)) {
                found.push((id.to_string(), entry.metadata()?.len()));
            }
        }
        found.sort();
        let total = found.iter().map(|(_, s)| s).sum();
        let archive = Archive {
            dir: dir.into(),
            limits,
            entries: Mutex::new((found.into(), total)),
            counter: AtomicU64::new(0),
        };
        archive.evict()?;
        Ok(archive)
    }

    fn next_id(&self) -> String {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let n = self.counter.fetch_add(1, Ordering::Relaxed) % 1_000_000;
        format!("{:013}-{n:06}", ms % 10_000_000_000_000)
    }

    /// Stores a PNG; returns its id.
    pub fn store(&self, png: &[u8]) -> std::io::Result<String> {
        let id = self.next_id();
        let path = self.dir.join(format!("{id}.png"));
        let tmp = self.dir.join(format!("{id}.png.tmp"));
        std::fs::write(&tmp, png)?;
        std::fs::rename(&tmp, &path)?;
        {
            let mut entries = self.entries.lock().expect("archive lock");
            entries.0.push_back((id.clone(), png.len() as u64));
            entries.1 += png.len() as u64;
        }
        self.evict()?;
        Ok(id)
    }

    fn evict(&self) -> std::io::Result<()> {
        let mut entries = self.entries.lock().expect("archive lock");
        // The newest picture always stays, whatever the limits.
        while entries.0.len() > 1
            && (entries.0.len() > self.limits.keep || entries.1 > self.limits.max_bytes)
        {
            let (id, size) = entries.0.pop_front().expect("non-empty");
            entries.1 -= size;
            match std::fs::remove_file(self.dir.join(format!("{id}.png"))) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    /// The file of picture `id`, if the id is well-formed and archived.
    pub fn path(&self, id: &str) -> Option<PathBuf> {
        if !is_valid_id(id) {
            return None;
        }
        let entries = self.entries.lock().expect("archive lock");
        entries
            .0
            .iter()
            .any(|(i, _)| i == id)
            .then(|| self.dir.join(format!("{id}.png")))
    }

    /// The newest `n` ids, newest first.
    pub fn recent(&self, n: usize) -> Vec<String> {
        let entries = self.entries.lock().expect("archive lock");
        entries
            .0
            .iter()
            .rev()
            .take(n)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// (pictures, bytes) held now.
    pub fn usage(&self) -> (usize, u64) {
        let entries = self.entries.lock().expect("archive lock");
        (entries.0.len(), entries.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_cannot_escape() {
        assert!(is_valid_id("1700000000000-000001"));
        for bad in [
            "../../etc/passwd",
            "1700000000000-00000a",
            "",
            "1700000000000/000001",
            "..%2f..%2fx",
        ] {
            assert!(!is_valid_id(bad), "{bad}");
        }
    }

    #[test]
    fn bounded_by_count_and_bytes_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let a = Archive::open(
            dir.path(),
            Limits {
                keep: 3,
                max_bytes: 1000,
            },
        )
        .unwrap();
        let ids: Vec<_> = (0..5).map(|i| a.store(&[i as u8; 100]).unwrap()).collect();
        assert_eq!(a.usage(), (3, 300));
        assert!(a.path(&ids[0]).is_none());
        assert!(a.path(&ids[4]).unwrap().exists());
        assert!(!dir.path().join(format!("{}.png", ids[1])).exists());
        assert_eq!(a.recent(2), vec![ids[4].clone(), ids[3].clone()]);
        a.store(&[9; 950]).unwrap();
        assert_eq!(a.usage().0, 1, "byte limit evicts the older ones");
        std::fs::write(dir.path().join("x.png.tmp"), b"half").unwrap();
        let b = Archive::open(
            dir.path(),
            Limits {
                keep: 3,
                max_bytes: 1000,
            },
        )
        .unwrap();
        assert_eq!(b.usage(), (1, 950));
        assert!(
            !dir.path().join("x.png.tmp").exists(),
            "interrupted writes are cleaned"
        );
    }
}
