//! Writing a file so that a power cut leaves either the old content or the
//! new one, never a mix or an empty file: a temporary file beside it,
//! written and fsynced, renamed over the target, then the folder fsynced
//! (a rename is an entry of the folder, and lives only in the page cache
//! until the folder itself is synced). A failure on the way removes the
//! temporary file, so a full disk or a read-only card leaves nothing
//! behind.
//!
//! Only this: no policy on what is written or where.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The temporary name `path` is written under: `<name>.tmp` beside it,
/// which every reader of the daemon's folders skips or removes.
pub fn temporary(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Makes a folder's entries (a rename, a new file) durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    // Folders cannot be opened for syncing on every platform; on every
    // Unix the daemon runs on they can, and must be.
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Replaces `path` with `bytes`, durably (see the module doc).
pub fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = temporary(path);
    let written = (|| {
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(dir) => sync_dir(dir),
        None => sync_dir(Path::new(".")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        write(&path, b"first").unwrap();
        write(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        assert!(!temporary(&path).exists());
    }

    /// A write that cannot finish (here: the target is a folder, so the
    /// rename fails after the data was written) leaves the old state and
    /// no temporary file.
    #[test]
    fn a_failed_write_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("taken");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("inside"), b"x").unwrap();
        assert!(write(&target, b"new").is_err());
        assert!(!temporary(&target).exists());
        assert!(target.join("inside").exists());
    }
}
