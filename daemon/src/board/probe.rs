//! Reading the board: statvfs on the data folder, and the kernel's files
//! under `/proc` and `/sys`. The only IO of `board`; it never fails as a
//! whole: what cannot be read is left out of the reading (`None`), and
//! what it means is `health`'s.
//!
//! The kernel's files are read under a root (`/` on a board) so the tests
//! can lay out a fake `/sys` of a Raspberry Pi or a Jetson in a folder.

use super::{Board, Disk};
use std::path::{Path, PathBuf};

/// Where to read a board from.
#[derive(Debug, Clone)]
pub struct Probe {
    /// The folder whose filesystem's free space counts (`data_dir`).
    data_dir: PathBuf,
}

impl Probe {
    /// The board this process runs on, with `data_dir`'s filesystem.
    pub fn system(data_dir: &Path) -> Probe {
        Probe {
            data_dir: data_dir.to_path_buf(),
        }
    }

    /// One reading; blocking (small files, one statvfs), run it off the
    /// async threads.
    pub fn read(&self) -> Board {
        Board {
            disk: disk(&self.data_dir),
        }
    }
}

/// Free and total bytes of the filesystem holding `dir`.
fn disk(dir: &Path) -> Option<Disk> {
    let s = match rustix::fs::statvfs(dir) {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!("statvfs {}: {e}", dir.display());
            return None;
        }
    };
    Some(Disk {
        free_bytes: s.f_bavail.saturating_mul(s.f_frsize),
        total_bytes: s.f_blocks.saturating_mul(s.f_frsize),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_data_folders_disk_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let board = Probe::system(dir.path()).read();
        let disk = board.disk.expect("statvfs works on a temp dir");
        assert!(disk.total_bytes > 0);
        assert!(disk.free_bytes <= disk.total_bytes);
        assert_eq!(
            Probe::system(&dir.path().join("missing")).read().disk,
            None,
            "a missing folder is no reading, not a zero"
        );
    }
}
