//! Where the onnxruntime shared library is looked for, in this order:
//!
//! 1. `ORT_DYLIB_PATH`, when set: that file and nothing else;
//! 2. `[onnxruntime] library`, when set: that file and nothing else;
//! 3. the `onnxruntime` Python package (`onnxruntime-gpu` too), found by
//!    asking `python3` where it lives, its `capi/libonnxruntime.so.1.*`;
//! 4. the system's dynamic loader (`libonnxruntime.so`, then
//!    `libonnxruntime.so.1`: `LD_LIBRARY_PATH`, `ldconfig`'s folders).
//!
//! A library named explicitly (1, 2) that fails is final: a piece told to
//! use a vendor build must not quietly run on another one it happened to
//! find. The order itself is pure ([`candidates`], [`pick_library`]); the
//! Python question ([`python_package_dir`]) is the IO at its edge.

use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The environment variable that names the library first (ort's name).
pub const ENV: &str = "ORT_DYLIB_PATH";

/// Where a candidate came from, for messages and `state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Env,
    Config,
    Python,
    System,
}

impl Origin {
    pub fn describe(self) -> &'static str {
        match self {
            Origin::Env => "ORT_DYLIB_PATH",
            Origin::Config => "[onnxruntime] library",
            Origin::Python => "the onnxruntime Python package",
            Origin::System => "the system's library path",
        }
    }
}

/// A library to try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub path: PathBuf,
    pub origin: Origin,
}

/// The libraries to try, in order (see the module doc). `python` is only
/// asked when neither the environment nor the config names a library.
pub fn candidates(
    env: Option<OsString>,
    configured: Option<&Path>,
    python: impl FnOnce() -> Option<PathBuf>,
) -> Vec<Candidate> {
    if let Some(env) = env.filter(|v| !v.is_empty()) {
        return vec![Candidate {
            path: env.into(),
            origin: Origin::Env,
        }];
    }
    if let Some(path) = configured {
        return vec![Candidate {
            path: path.into(),
            origin: Origin::Config,
        }];
    }
    let mut out: Vec<Candidate> = python()
        .into_iter()
        .map(|path| Candidate {
            path,
            origin: Origin::Python,
        })
        .collect();
    for name in system_names() {
        out.push(Candidate {
            path: name.into(),
            origin: Origin::System,
        });
    }
    out
}

/// Bare file names the dynamic loader searches for itself.
fn system_names() -> Vec<String> {
    let (prefix, suffix) = (std::env::consts::DLL_PREFIX, std::env::consts::DLL_SUFFIX);
    let plain = format!("{prefix}onnxruntime{suffix}");
    if cfg!(target_os = "linux") {
        vec![plain.clone(), format!("{plain}.1")]
    } else {
        vec![plain]
    }
}

/// The main library among the file names of a wheel's `capi` folder:
/// `libonnxruntime.so.1.32.0` (the wheel's), else `libonnxruntime.so`;
/// never a provider library (`libonnxruntime_providers_cuda.so`).
pub fn pick_library(names: &[String]) -> Option<String> {
    let (prefix, suffix) = (std::env::consts::DLL_PREFIX, std::env::consts::DLL_SUFFIX);
    let plain = format!("{prefix}onnxruntime{suffix}");
    let mut versioned: Vec<&String> = names
        .iter()
        .filter(|n| {
            n.strip_prefix(&plain).is_some_and(|rest| {
                rest.starts_with('.') && rest[1..].starts_with(char::is_numeric)
            })
        })
        .collect();
    // The longest name is the most specific (`.so.1.32.0` over `.so.1`).
    versioned.sort_by_key(|n| n.len());
    versioned
        .last()
        .map(|n| n.to_string())
        .or_else(|| names.iter().find(|n| **n == plain).cloned())
}

/// The library inside the Python package: `<package>/capi/<library>`.
pub fn in_python_package(package_dir: &Path) -> Option<PathBuf> {
    let capi = package_dir.join("capi");
    let names: Vec<String> = std::fs::read_dir(&capi)
        .ok()?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    pick_library(&names).map(|name| capi.join(name))
}

/// Asks `python3` where its `onnxruntime` package is, without importing
/// it (`importlib.util.find_spec` reads no native code): a few tens of
/// milliseconds, bounded by `limit`. `None` without Python or package.
pub fn python_package_dir(limit: Duration) -> Option<PathBuf> {
    const SCRIPT: &str = "import importlib.util as u\n\
        s = u.find_spec('onnxruntime')\n\
        print(s.submodule_search_locations[0] if s and s.submodule_search_locations else '')\n";
    let mut child = Command::new("python3")
        .args(["-c", SCRIPT])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                // Our own child, stopped by its handle.
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    };
    let mut out = String::new();
    child.stdout.take()?.read_to_string(&mut out).ok()?;
    let dir = out.trim();
    (status.success() && !dir.is_empty()).then(|| PathBuf::from(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn never() -> Option<PathBuf> {
        panic!("python must not be asked when a library is named")
    }

    #[test]
    fn a_named_library_is_the_only_candidate() {
        let env = candidates(
            Some("/opt/ort/libonnxruntime.so".into()),
            Some(Path::new("/etc/ignored.so")),
            never,
        );
        assert_eq!(
            env,
            vec![Candidate {
                path: "/opt/ort/libonnxruntime.so".into(),
                origin: Origin::Env
            }]
        );
        let config = candidates(None, Some(Path::new("/usr/lib/ort.so")), never);
        assert_eq!(config.len(), 1);
        assert_eq!(config[0].origin, Origin::Config);
        // An empty variable is no name.
        let empty = candidates(Some("".into()), Some(Path::new("/a.so")), never);
        assert_eq!(empty[0].origin, Origin::Config);
    }

    #[test]
    fn without_a_name_python_comes_before_the_system() {
        let found = candidates(None, None, || {
            Some("/py/capi/libonnxruntime.so.1.32.0".into())
        });
        let origins: Vec<Origin> = found.iter().map(|c| c.origin).collect();
        assert_eq!(origins[0], Origin::Python);
        assert!(origins[1..].iter().all(|o| *o == Origin::System));
        assert!(found.len() >= 2);
        let no_python = candidates(None, None, || None);
        assert!(no_python.iter().all(|c| c.origin == Origin::System));
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn the_wheels_library_is_picked_not_a_provider() {
        let names: Vec<String> = [
            "__init__.py",
            "libonnxruntime_providers_shared.so",
            "libonnxruntime_providers_cuda.so",
            "libonnxruntime.so.1",
            "libonnxruntime.so.1.32.0",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            pick_library(&names).as_deref(),
            Some("libonnxruntime.so.1.32.0")
        );
        let plain = vec!["libonnxruntime.so".to_string()];
        assert_eq!(pick_library(&plain).as_deref(), Some("libonnxruntime.so"));
        assert_eq!(
            pick_library(&["libonnxruntime_providers_shared.so".into()]),
            None
        );
    }
}
