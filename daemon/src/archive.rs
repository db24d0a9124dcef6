//! The image archive: every generated picture as a PNG under
//! `data_dir/images/`, bounded by count and bytes so a piece running for
//! months never fills its disk; the oldest pictures go first.
//!
//! Ids are `<unix ms, 13 digits>-<counter, 6 digits>`: sortable, unique
//! within and across runs, and checked on lookup so a request can never
//! name a path outside the archive. Files are written durably (a
//! temporary name, fsync, rename, fsync of the folder: `crate::durable`),
//! so neither a kill nor a power cut leaves a half picture under an id; a
//! write that fails leaves no temporary file and is remembered
//! ([`Archive::fault`]) for `/healthz` until a write succeeds.
//!
//! The index follows the folder: when its modification time changes under
//! the archive (a technician deleted pictures, a restore copied some in),
//! it is read again before the next answer. Only complete PNGs (signature
//! and final `IEND` chunk) are indexed, so the page never starts on a
//! picture a power cut truncated: it starts on the newest good one.

use std::collections::VecDeque;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

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
    /// Oldest first: (id, size in bytes), the folder's modification time
    /// the index matches.
    entries: Mutex<Index>,
    counter: AtomicU64,
    /// Why the last write failed; cleared by the next one that works.
    fault: Mutex<Option<String>>,
}

struct Index {
    pictures: VecDeque<(String, u64)>,
    bytes: u64,
    seen: Option<SystemTime>,
}

const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
/// The last chunk of every PNG: length 0, `IEND`, its CRC.
const PNG_END: [u8; 12] = [0, 0, 0, 0, b'I', b'E', b'N', b'D', 0xae, 0x42, 0x60, 0x82];

/// Whether the file at `path` is a whole PNG: it starts with the
/// signature and ends with `IEND` (a truncated write does not).
pub fn is_complete_png(path: &Path) -> bool {
    use std::io::{Seek, SeekFrom};
    let check = || -> std::io::Result<bool> {
        let mut f = std::fs::File::open(path)?;
        let mut head = [0; 8];
        f.read_exact(&mut head)?;
        f.seek(SeekFrom::End(-12))?;
        let mut tail = [0; 12];
        f.read_exact(&mut tail)?;
        Ok(head == PNG_SIGNATURE && tail == PNG_END)
    };
    check().unwrap_or(false)
}

fn modified(dir: &Path) -> Option<SystemTime> {
    std::fs::metadata(dir).and_then(|m| m.modified()).ok()
}

/// The pictures in `dir`, oldest first, and their bytes; leftovers of
/// interrupted writes are removed, incomplete pictures skipped (and named).
fn scan(dir: &Path) -> std::io::Result<Index> {
    let seen = modified(dir);
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".tmp") {
            let _ = std::fs::remove_file(entry.path());
        } else if let Some(id) = name.strip_suffix(".png").filter(|id| is_valid_id(id)) {
            if is_complete_png(&entry.path()) {
                found.push((id.to_string(), entry.metadata()?.len()));
            } else {
                tracing::warn!(
                    "archive: {} is not a complete PNG (an interrupted write?); it is not shown",
                    entry.path().display()
                );
            }
        }
    }
    found.sort();
    Ok(Index {
        bytes: found.iter().map(|(_, s)| s).sum(),
        pictures: found.into(),
        seen,
    })
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
        let archive = Archive {
            dir: dir.into(),
            limits,
            entries: Mutex::new(scan(dir)?),
            counter: AtomicU64::new(0),
            fault: Mutex::new(None),
        };
        archive.evict(&mut archive.index())?;
        Ok(archive)
    }

    fn index(&self) -> std::sync::MutexGuard<'_, Index> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The index, read again first when the folder changed under it.
    fn current(&self) -> std::sync::MutexGuard<'_, Index> {
        let mut index = self.index();
        let now = modified(&self.dir);
        if now != index.seen {
            match scan(&self.dir) {
                Ok(fresh) => *index = fresh,
                // The folder went away or cannot be read: keep the old
                // index, try again next time (the write path reports it).
                Err(_) => index.seen = now,
            }
        }
        index
    }

    /// Why the last picture could not be stored, until one is.
    pub fn fault(&self) -> Option<String> {
        self.fault.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn record(&self, fault: Option<String>) {
        *self.fault.lock().unwrap_or_else(|p| p.into_inner()) = fault;
    }

    fn next_id(&self) -> String {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let n = self.counter.fetch_add(1, Ordering::Relaxed) % 1_000_000;
        format!("{:013}-{n:06}", ms % 10_000_000_000_000)
    }

    /// Stores a PNG durably; returns its id. On failure nothing is left
    /// behind and the reason is kept for [`Archive::fault`].
    pub fn store(&self, png: &[u8]) -> std::io::Result<String> {
        let id = self.next_id();
        let path = self.dir.join(format!("{id}.png"));
        // The index is brought up to date before the write and held through
        // it, so the write's own change of the folder is not taken for
        // someone else's (which would read the whole folder again).
        let mut index = self.current();
        let stored = crate::durable::write(&path, png).and_then(|()| {
            index.pictures.push_back((id.clone(), png.len() as u64));
            index.bytes += png.len() as u64;
            self.evict(&mut index)?;
            // Our own changes are in the index already.
            index.seen = modified(&self.dir);
            Ok(())
        });
        drop(index);
        match stored {
            Ok(()) => {
                self.record(None);
                Ok(id)
            }
            Err(e) => {
                self.record(Some(format!(
                    "cannot store pictures in {}: {e}",
                    self.dir.display()
                )));
                Err(e)
            }
        }
    }

    fn evict(&self, index: &mut Index) -> std::io::Result<()> {
        // The newest picture always stays, whatever the limits.
        while index.pictures.len() > 1
            && (index.pictures.len() > self.limits.keep || index.bytes > self.limits.max_bytes)
        {
            let (id, size) = index.pictures.pop_front().expect("non-empty");
            index.bytes -= size;
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
        self.current()
            .pictures
            .iter()
            .any(|(i, _)| i == id)
            .then(|| self.dir.join(format!("{id}.png")))
    }

    /// The newest `n` ids, newest first.
    pub fn recent(&self, n: usize) -> Vec<String> {
        self.current()
            .pictures
            .iter()
            .rev()
            .take(n)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// (pictures, bytes) held now.
    pub fn usage(&self) -> (usize, u64) {
        let index = self.current();
        (index.pictures.len(), index.bytes)
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

    /// A stand-in PNG of `n` bytes: the signature, filler, `IEND`.
    fn png(n: usize, fill: u8) -> Vec<u8> {
        let mut bytes = PNG_SIGNATURE.to_vec();
        bytes.resize(n - PNG_END.len(), fill);
        bytes.extend(PNG_END);
        bytes
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
        let ids: Vec<_> = (0..5).map(|i| a.store(&png(100, i)).unwrap()).collect();
        assert_eq!(a.usage(), (3, 300));
        assert!(a.path(&ids[0]).is_none());
        assert!(a.path(&ids[4]).unwrap().exists());
        assert!(!dir.path().join(format!("{}.png", ids[1])).exists());
        assert_eq!(a.recent(2), vec![ids[4].clone(), ids[3].clone()]);
        a.store(&png(950, 9)).unwrap();
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

    /// Regression: pictures deleted by hand stayed in the index (the page
    /// asked for files that were gone); the index follows the folder.
    #[test]
    fn the_index_follows_files_removed_under_it() {
        let dir = tempfile::tempdir().unwrap();
        let a = Archive::open(dir.path(), Limits::default()).unwrap();
        let ids: Vec<_> = (0..3).map(|i| a.store(&png(100, i)).unwrap()).collect();
        assert_eq!(a.usage(), (3, 300));
        std::fs::remove_file(dir.path().join(format!("{}.png", ids[2]))).unwrap();
        assert_eq!(a.recent(1), vec![ids[1].clone()]);
        assert_eq!(a.usage(), (2, 200));
        assert!(a.path(&ids[2]).is_none());
    }

    /// Regression: a truncated newest picture (a power cut mid-write of a
    /// copy, a damaged card) made the page start on the glow; it starts on
    /// the newest complete picture instead.
    #[test]
    fn the_newest_complete_picture_comes_first() {
        let dir = tempfile::tempdir().unwrap();
        let a = Archive::open(dir.path(), Limits::default()).unwrap();
        let good = a.store(&png(100, 1)).unwrap();
        let newest = a.store(&png(100, 2)).unwrap();
        let path = dir.path().join(format!("{newest}.png"));
        let whole = std::fs::read(&path).unwrap();
        for cut in [0, 1, 8, 50, whole.len() - 1] {
            std::fs::write(&path, &whole[..cut]).unwrap();
            let b = Archive::open(dir.path(), Limits::default()).unwrap();
            assert_eq!(b.recent(1), vec![good.clone()], "cut at {cut}");
        }
    }

    /// Regression: a write that failed (full disk, read-only card) left a
    /// `*.png.tmp` behind and `/healthz` said nothing; now nothing is left
    /// and the fault is kept until a write works again.
    #[test]
    fn a_failed_write_leaves_no_temporary_and_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let a = Archive::open(dir.path(), Limits::default()).unwrap();
        a.store(&png(100, 1)).unwrap();
        assert_eq!(a.fault(), None);
        // The archive's folder gone (a card unmounted): every write fails.
        let images = dir.path().to_path_buf();
        std::fs::remove_dir_all(&images).unwrap();
        assert!(a.store(&png(100, 2)).is_err());
        let fault = a.fault().expect("the failure is kept");
        assert!(fault.contains("cannot store pictures"), "{fault}");
        std::fs::create_dir(&images).unwrap();
        a.store(&png(100, 3)).unwrap();
        assert_eq!(a.fault(), None, "cleared by the next write that works");
        let left: Vec<_> = std::fs::read_dir(&images)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }
}
