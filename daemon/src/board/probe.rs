//! Reading the board: statvfs on the data folder, and the kernel's files
//! under `/proc` and `/sys`. The only IO of `board`; it never fails as a
//! whole: what cannot be read is left out of the reading (`None`, or no
//! sensor), and what it means is `health`'s.
//!
//! The kernel's files are read under a root (`/` on a board) so the tests
//! can lay out a fake `/sys` of a Raspberry Pi or a Jetson in a folder.
//! Where things are:
//! - temperatures: `/sys/class/thermal/thermal_zone*/{type,temp}`
//!   (millidegrees), and for CPUs without a thermal zone (AMD: `k10temp`;
//!   Intel's `coretemp`) their hwmon sensor
//!   `/sys/class/hwmon/hwmon*/{name,temp1_input}`;
//! - throttling: the Raspberry Pi firmware's `get_throttled` (hex), under
//!   `/sys/devices/platform/soc*/*firmware/` (`soc/soc:firmware` on a Pi 4,
//!   `soc@107c000000/soc@107c000000:firmware` on a Pi 5); no `vcgencmd`;
//! - memory: `/proc/meminfo`; the daemon's own: `/proc/self/status`.

use super::{Board, Disk, Memory, Sensor};
use std::path::{Path, PathBuf};

/// hwmon drivers that measure the CPU (read when no thermal zone does).
const CPU_HWMON: &[&str] = &["k10temp", "zenpower", "coretemp"];

/// Where to read a board from.
#[derive(Debug, Clone)]
pub struct Probe {
    /// `/` on a real board; a folder laid out like one in tests.
    root: PathBuf,
    /// The folder whose filesystem's free space counts (`data_dir`).
    data_dir: PathBuf,
}

impl Probe {
    /// The board this process runs on, with `data_dir`'s filesystem.
    pub fn system(data_dir: &Path) -> Probe {
        Probe::under("/", data_dir)
    }

    /// A board laid out under `root` (tests).
    pub fn under(root: impl Into<PathBuf>, data_dir: &Path) -> Probe {
        Probe {
            root: root.into(),
            data_dir: data_dir.to_path_buf(),
        }
    }

    /// One reading; blocking (small files, one statvfs), run it off the
    /// async threads.
    pub fn read(&self) -> Board {
        Board {
            disk: disk(&self.data_dir),
            unwritable: unwritable(&self.data_dir),
            memory: self.text("proc/meminfo").and_then(|t| meminfo(&t)),
            resident_bytes: self
                .text("proc/self/status")
                .and_then(|t| kib_field(&t, "VmRSS:")),
            sensors: self.sensors(),
            throttled: self.throttled(),
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    fn text(&self, rel: &str) -> Option<String> {
        std::fs::read_to_string(self.path(rel)).ok()
    }

    /// The entries of `dir` whose names start with `prefix`, sorted.
    fn entries(&self, dir: &str, prefix: &str) -> Vec<(String, PathBuf)> {
        let Ok(read) = std::fs::read_dir(self.path(dir)) else {
            return Vec::new();
        };
        let mut found: Vec<_> = read
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.starts_with(prefix).then(|| (name, e.path()))
            })
            .collect();
        found.sort_by_key(|(name, _)| natural(name));
        found
    }

    fn sensors(&self) -> Vec<Sensor> {
        let read = |dir: &Path, name_file: &str, temp_file: &str| {
            let kind = std::fs::read_to_string(dir.join(name_file)).ok()?;
            // A sensor that is off answers its read with an error: skipped.
            let milli = std::fs::read_to_string(dir.join(temp_file)).ok()?;
            Some((kind.trim().to_string(), millidegrees(&milli)?))
        };
        let mut sensors: Vec<Sensor> = self
            .entries("sys/class/thermal", "thermal_zone")
            .into_iter()
            .filter_map(|(id, dir)| {
                let (kind, celsius) = read(&dir, "type", "temp")?;
                Some(Sensor { id, kind, celsius })
            })
            .collect();
        sensors.extend(
            self.entries("sys/class/hwmon", "hwmon")
                .into_iter()
                .filter_map(|(id, dir)| {
                    let (kind, celsius) = read(&dir, "name", "temp1_input")?;
                    CPU_HWMON
                        .contains(&kind.as_str())
                        .then_some(Sensor { id, kind, celsius })
                }),
        );
        sensors
    }

    fn throttled(&self) -> Option<u32> {
        self.entries("sys/devices/platform", "soc")
            .into_iter()
            .flat_map(|(_, soc)| {
                std::fs::read_dir(soc)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .filter(|e| e.file_name().to_string_lossy().ends_with("firmware"))
                    .map(|e| e.path().join("get_throttled"))
            })
            .find_map(|file| std::fs::read_to_string(file).ok())
            .and_then(|text| throttled_flags(&text))
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

/// Why this process cannot create files in `dir` (read-only filesystem,
/// no permission), by `access(2)` on it and on its `images/`; `None`
/// when it can, or when `dir` does not exist yet (the daemon makes it).
fn unwritable(dir: &Path) -> Option<String> {
    use rustix::fs::{Access, access};
    [dir.to_path_buf(), dir.join("images")]
        .iter()
        .filter(|d| d.is_dir())
        .find_map(|d| match access(d, Access::WRITE_OK) {
            Ok(()) => None,
            Err(e) => Some(format!(
                "{}: {}",
                d.display(),
                std::io::Error::from_raw_os_error(e.raw_os_error())
            )),
        })
}

/// `MemTotal` and `MemAvailable` of `/proc/meminfo`.
fn meminfo(text: &str) -> Option<Memory> {
    Some(Memory {
        total_bytes: kib_field(text, "MemTotal:")?,
        available_bytes: kib_field(text, "MemAvailable:")?,
    })
}

/// A `Key:   1234 kB` line's value in bytes.
fn kib_field(text: &str, key: &str) -> Option<u64> {
    let line = text.lines().find_map(|l| l.strip_prefix(key))?;
    let kib: u64 = line.split_whitespace().next()?.parse().ok()?;
    kib.checked_mul(1024)
}

/// A sysfs temperature (millidegrees Celsius) in degrees. Values far
/// outside what silicon survives are a broken sensor, not a reading.
fn millidegrees(text: &str) -> Option<f32> {
    let milli: i64 = text.trim().parse().ok()?;
    let celsius = milli as f32 / 1000.0;
    (-60.0..=200.0).contains(&celsius).then_some(celsius)
}

/// `get_throttled` prints the flags in hex (`50005`; `vcgencmd` writes
/// `throttled=0x50005`): all three forms read.
fn throttled_flags(text: &str) -> Option<u32> {
    let t = text.trim();
    let t = t.strip_prefix("throttled=").unwrap_or(t);
    let t = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    u32::from_str_radix(t, 16).ok()
}

/// `thermal_zone10` after `thermal_zone9`.
fn natural(name: &str) -> (usize, String, u64) {
    let digits = name.len() - name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let (stem, number) = name.split_at(name.len() - digits);
    (stem.len(), stem.to_string(), number.parse().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

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

    #[test]
    fn a_writable_data_folder_is_no_fault() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Probe::system(dir.path()).read().unwritable, None);
        let missing = dir.path().join("missing");
        assert_eq!(Probe::system(&missing).read().unwritable, None);
    }

    /// A folder on a read-only mount (this machine's own, found in
    /// `/proc/self/mountinfo`) is reported with the kernel's reason. As
    /// root, permissions never refuse, so a read-only mount is the case a
    /// test can make; machines without one skip it.
    #[test]
    fn a_data_folder_on_a_read_only_filesystem_is_reported() {
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let read_only = info.lines().find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let ro = f.get(5)?.split(',').any(|o| o == "ro");
            let path = Path::new(f.get(4)?);
            (ro && path.is_dir() && !path.starts_with("/proc") && !path.starts_with("/sys"))
                .then(|| path.to_path_buf())
        });
        let Some(dir) = read_only else {
            eprintln!("skipped: no read-only mount on this machine");
            return;
        };
        let why = Probe::system(&dir)
            .read()
            .unwritable
            .expect("a read-only folder is a fault");
        assert!(why.contains("Read-only file system"), "{why}");
    }

    /// A Raspberry Pi 5 as its kernel lays it out.
    #[test]
    fn a_raspberry_pi_5() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        write(
            r,
            "proc/meminfo",
            "MemTotal:        8245760 kB\nMemFree:         6000000 kB\nMemAvailable:    7340032 kB\n",
        );
        write(r, "sys/class/thermal/thermal_zone0/type", "cpu-thermal\n");
        write(r, "sys/class/thermal/thermal_zone0/temp", "61250\n");
        write(
            r,
            "sys/devices/platform/soc@107c000000/soc@107c000000:firmware/get_throttled",
            "50005\n",
        );
        write(r, "sys/class/hwmon/hwmon0/name", "cpu_thermal\n");
        write(r, "sys/class/hwmon/hwmon0/temp1_input", "61250\n");
        let board = Probe::under(r, r).read();
        assert_eq!(
            board.memory,
            Some(Memory {
                total_bytes: 8245760 * 1024,
                available_bytes: 7340032 * 1024
            })
        );
        assert_eq!(
            board.sensors,
            vec![Sensor {
                id: "thermal_zone0".into(),
                kind: "cpu-thermal".into(),
                celsius: 61.25
            }],
            "the Pi's hwmon mirror of the zone is not read twice"
        );
        assert_eq!(board.throttled, Some(0x50005));
        assert_eq!(board.resident_bytes, None, "no /proc/self in the fake root");
    }

    /// A Jetson: many zones, one that cannot be read right now.
    #[test]
    fn a_jetson_with_many_zones() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        for (i, (kind, temp)) in [
            ("cpu-thermal", "48500"),
            ("gpu-thermal", "47000"),
            ("soc0-thermal", "garbage"),
            ("tj-thermal", "49000"),
        ]
        .iter()
        .enumerate()
        {
            write(r, &format!("sys/class/thermal/thermal_zone{i}/type"), kind);
            write(r, &format!("sys/class/thermal/thermal_zone{i}/temp"), temp);
        }
        write(r, "sys/class/thermal/thermal_zone10/type", "cv0-thermal");
        write(r, "sys/class/thermal/thermal_zone10/temp", "-256000");
        write(r, "sys/class/thermal/cooling_device0/type", "fan");
        let board = Probe::under(r, r).read();
        let kinds: Vec<_> = board.sensors.iter().map(|s| s.kind.as_str()).collect();
        assert_eq!(kinds, ["cpu-thermal", "gpu-thermal", "tj-thermal"]);
        assert_eq!(board.throttled, None);
        assert_eq!(board.memory, None);
    }

    #[test]
    fn an_amd_mini_pc_reads_its_cpu_from_hwmon() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        write(r, "sys/class/thermal/thermal_zone0/type", "acpitz");
        write(r, "sys/class/thermal/thermal_zone0/temp", "16800");
        write(r, "sys/class/hwmon/hwmon1/name", "nvme");
        write(r, "sys/class/hwmon/hwmon1/temp1_input", "38850");
        write(r, "sys/class/hwmon/hwmon2/name", "k10temp");
        write(r, "sys/class/hwmon/hwmon2/temp1_input", "55125");
        let kinds: Vec<_> = Probe::under(r, r)
            .read()
            .sensors
            .into_iter()
            .map(|s| (s.id, s.kind))
            .collect();
        assert_eq!(
            kinds,
            [
                ("thermal_zone0".into(), "acpitz".into()),
                ("hwmon2".into(), "k10temp".into())
            ]
        );
    }

    #[test]
    fn throttled_flags_read_in_every_form() {
        assert_eq!(throttled_flags("0\n"), Some(0));
        assert_eq!(throttled_flags("50005\n"), Some(0x50005));
        assert_eq!(throttled_flags("throttled=0x80008"), Some(0x80008));
        assert_eq!(throttled_flags("nonsense"), None);
    }
}
