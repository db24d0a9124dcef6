//! Deployed models on disk, under `data_dir/deploy/`, arranged so that a
//! power cut or `kill -9` at any instant leaves either the old state or the
//! new one, never a half of either:
//!
//! ```text
//! staging/<version>/            verified, fully written, awaiting activation
//! staging/.tmp-<version>-<pid>/ being written; removed by `recover`
//! installed/<version>/          activated: the current one and the previous
//! current/<name>                pointer: {"current": version, "previous": version|null}
//! current/.<name>.tmp           a pointer being written; removed by `recover`
//! ```
//!
//! `<version>` is `<name>-<first 8 hex digits of the content hash>`. A
//! folder appears under its final name only by `rename` after every file in
//! it was fsynced; a pointer changes only by renaming a fsynced temporary
//! over it. No symlinks: some boards keep `data_dir` on FAT. This module
//! does no verification (that is `format`) and knows nothing of MQTT.

use super::DeployError;
use super::format::VerifiedPackage;
use easel_engine::package::ModelPackage;
use easel_engine::{Model, ModelInfo};
use easel_pack::PackError;
use serde::{Deserialize, Serialize};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Which version of one model is current, and which one `rollback` restores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pointer {
    pub current: String,
    pub previous: Option<String>,
}

/// A package written to `staging/`, ready to smoke-test and activate.
#[derive(Debug, Clone, PartialEq)]
pub struct Staged {
    pub name: String,
    pub version: String,
    pub dir: PathBuf,
}

/// What `recover` removed, and the pointers it found damaged (their
/// models' installed versions are all kept: nothing is lost to a bad pointer).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Recovery {
    pub removed: Vec<PathBuf>,
    pub damaged: Vec<(String, String)>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DeployError + '_ {
    move |source| DeployError::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub fn deploy_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("deploy")
}

fn staging_dir(data_dir: &Path) -> PathBuf {
    deploy_dir(data_dir).join("staging")
}

fn installed_dir(data_dir: &Path) -> PathBuf {
    deploy_dir(data_dir).join("installed")
}

fn pointers_dir(data_dir: &Path) -> PathBuf {
    deploy_dir(data_dir).join("current")
}

/// Makes a directory's entries (a rename, a new file) durable.
fn sync_dir(dir: &Path) -> Result<(), DeployError> {
    // Directories cannot be opened for syncing on every platform; where
    // they can (every Unix the daemon runs on), this is what makes a rename
    // survive a power cut.
    #[cfg(unix)]
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), DeployError> {
    let mut file = File::create(path).map_err(io(path))?;
    file.write_all(bytes).map_err(io(path))?;
    file.sync_all().map_err(io(path))
}

/// The model name in a version string, if it is one.
pub fn name_of(version: &str) -> Option<&str> {
    let (name, hash) = version.rsplit_once('-')?;
    let ok = hash.len() == 8
        && hash.bytes().all(|b| b.is_ascii_hexdigit())
        && easel_protocol::is_valid_model_name(name);
    ok.then_some(name)
}

/// Writes a verified package to `staging/<version>/`: into a temporary
/// folder first, every file and the folder fsynced, then renamed into
/// place. Staging the same version twice is a no-op.
pub fn stage(package: &VerifiedPackage, data_dir: &Path) -> Result<Staged, DeployError> {
    let staging = staging_dir(data_dir);
    fs::create_dir_all(&staging).map_err(io(&staging))?;
    let version = package.version();
    let dir = staging.join(&version);
    let staged = Staged {
        name: package.manifest.name.clone(),
        version: version.clone(),
        dir: dir.clone(),
    };
    if dir.is_dir() {
        return Ok(staged);
    }
    let tmp = staging.join(format!(".tmp-{version}-{}", std::process::id()));
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
    }
    fs::create_dir(&tmp).map_err(io(&tmp))?;
    for (name, bytes) in &package.files {
        write_synced(&tmp.join(name), bytes)?;
    }
    sync_dir(&tmp)?;
    fs::rename(&tmp, &dir).map_err(io(&dir))?;
    sync_dir(&staging)?;
    Ok(staged)
}

/// Loads a staged (or installed) package the way the engine will — read,
/// check, optimize, run once, output shape and finite values checked — on
/// the calling thread, without touching the engine's loaded models. A
/// model that fails here must not become current.
pub fn smoke_test(dir: &Path) -> Result<ModelInfo, DeployError> {
    let package = ModelPackage::open(dir).map_err(|e| DeployError::SmokeTest(e.to_string()))?;
    Model::load_standalone(&package)
        .map(|model| model.info().clone())
        .map_err(|e| DeployError::SmokeTest(e.to_string()))
}

/// The pointer for model `name`, if any version of it was activated.
pub fn pointer(data_dir: &Path, name: &str) -> Result<Option<Pointer>, DeployError> {
    let path = pointers_dir(data_dir).join(name);
    match fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| PackError::Malformed(format!("{}: {e}", path.display())).into()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(&path)(e)),
    }
}

fn write_pointer(data_dir: &Path, name: &str, pointer: &Pointer) -> Result<(), DeployError> {
    let dir = pointers_dir(data_dir);
    fs::create_dir_all(&dir).map_err(io(&dir))?;
    let tmp = dir.join(format!(".{name}.tmp"));
    let bytes = serde_json::to_vec(pointer).expect("a pointer always serialises");
    write_synced(&tmp, &bytes)?;
    let path = dir.join(name);
    fs::rename(&tmp, &path).map_err(io(&path))?;
    sync_dir(&dir)
}

/// The package folder of a version, once installed.
pub fn installed_path(data_dir: &Path, version: &str) -> PathBuf {
    installed_dir(data_dir).join(version)
}

/// The package folder of model `name`'s current deployed version.
pub fn current_dir(data_dir: &Path, name: &str) -> Result<Option<PathBuf>, DeployError> {
    Ok(pointer(data_dir, name)?.map(|p| installed_path(data_dir, &p.current)))
}

/// Every deployed model's pointer, and the pointers that cannot be read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Survey {
    /// Sorted by name.
    pub models: Vec<(String, Pointer)>,
    /// (model, why): a damaged pointer hides only its own model.
    pub damaged: Vec<(String, String)>,
}

/// Reads every pointer; one that cannot be read is listed in
/// [`Survey::damaged`] and the others are unaffected. Only a pointers
/// folder that cannot be listed is an error.
pub fn survey(data_dir: &Path) -> Result<Survey, DeployError> {
    let dir = pointers_dir(data_dir);
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Survey::default()),
        Err(e) => return Err(io(&dir)(e)),
    };
    let mut out = Survey::default();
    for entry in entries {
        let entry = entry.map_err(io(&dir))?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if !easel_protocol::is_valid_model_name(&name) {
            continue;
        }
        match pointer(data_dir, &name) {
            Ok(Some(p)) if name_of(&p.current) == Some(name.as_str()) => out.models.push((name, p)),
            Ok(Some(p)) => out.damaged.push((
                name.clone(),
                format!("its pointer names {:?}, not a version of {name}", p.current),
            )),
            Ok(None) => {}
            Err(e) => out.damaged.push((name, e.to_string())),
        }
    }
    out.models.sort_by(|a, b| a.0.cmp(&b.0));
    out.damaged.sort();
    Ok(out)
}

/// Every deployed model whose pointer reads, sorted by name: what `state`
/// lists and what the daemon loads at startup (see [`survey`]).
pub fn deployed(data_dir: &Path) -> Result<Vec<(String, Pointer)>, DeployError> {
    survey(data_dir).map(|s| s.models)
}

/// What is wrong in the store, one sentence per model, for `/healthz`:
/// damaged pointers and current versions whose folder is missing. Each
/// such model runs from its `models_dir` copy, if there is one.
pub fn problems(data_dir: &Path) -> Vec<String> {
    let survey = match survey(data_dir) {
        Ok(s) => s,
        Err(e) => return vec![format!("deploy store: {e}")],
    };
    let damaged = survey.damaged.into_iter().map(|(name, why)| {
        format!(
            "deployed model {name}: pointer damaged ({why}); its models_dir copy is used, if any"
        )
    });
    let missing = survey.models.into_iter().filter_map(|(name, p)| {
        let dir = installed_path(data_dir, &p.current);
        (!dir.is_dir()).then(|| {
            format!(
                "deployed model {name}: version {} is missing ({}); its models_dir copy is used, if any",
                p.current,
                dir.display()
            )
        })
    });
    damaged.chain(missing).collect()
}

/// Makes `version` (staged or already installed) current: moves it into
/// `installed/`, then swaps the pointer in one rename. The version that was
/// current becomes `previous`; older versions of the model are removed.
pub fn activate(data_dir: &Path, version: &str) -> Result<Pointer, DeployError> {
    let name = name_of(version)
        .ok_or_else(|| PackError::BadName(format!("{version:?} is not a version")))?;
    let installed = installed_dir(data_dir);
    fs::create_dir_all(&installed).map_err(io(&installed))?;
    let target = installed.join(version);
    if !target.is_dir() {
        let staged = staging_dir(data_dir).join(version);
        if !staged.is_dir() {
            return Err(DeployError::NotInstalled(version.into()));
        }
        fs::rename(&staged, &target).map_err(io(&target))?;
        sync_dir(&installed)?;
        sync_dir(&staging_dir(data_dir))?;
    }
    let old = pointer(data_dir, name)?;
    let previous = match old {
        Some(p) if p.current != version => Some(p.current),
        Some(p) => p.previous,
        None => None,
    };
    let new = Pointer {
        current: version.into(),
        previous,
    };
    write_pointer(data_dir, name, &new)?;
    prune(data_dir, name, &new)?;
    Ok(new)
}

/// Swaps current and previous: the version before the last activation is
/// current again, and the one it replaces stays as `previous`.
pub fn rollback(data_dir: &Path, name: &str) -> Result<Pointer, DeployError> {
    let old = pointer(data_dir, name)?.ok_or_else(|| DeployError::NotInstalled(name.into()))?;
    let previous = old
        .previous
        .filter(|p| installed_path(data_dir, p).is_dir())
        .ok_or_else(|| DeployError::NoPrevious(name.into()))?;
    let new = Pointer {
        current: previous,
        previous: Some(old.current),
    };
    write_pointer(data_dir, name, &new)?;
    Ok(new)
}

/// Undoes the first activation of `name` (there is no previous version to
/// go back to): the pointer and its installed versions are removed, so the
/// daemon serves `models_dir`'s model of that name again, if any.
pub fn forget(data_dir: &Path, name: &str) -> Result<(), DeployError> {
    let path = pointers_dir(data_dir).join(name);
    match fs::remove_file(&path) {
        Ok(()) => sync_dir(&pointers_dir(data_dir))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(&path)(e)),
    }
    for path in list(&installed_dir(data_dir))? {
        let version = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name_of(version) == Some(name) {
            fs::remove_dir_all(&path).map_err(io(&path))?;
        }
    }
    Ok(())
}

/// Where a transfer's chunks are written until it completes: hidden, so
/// `recover` removes what a crash left.
pub fn spool_path(data_dir: &Path, transfer: &str) -> PathBuf {
    staging_dir(data_dir).join(format!(".transfer-{transfer}"))
}

/// Removes installed versions of `name` that the pointer no longer names.
fn prune(data_dir: &Path, name: &str, keep: &Pointer) -> Result<(), DeployError> {
    let installed = installed_dir(data_dir);
    for entry in fs::read_dir(&installed).map_err(io(&installed))? {
        let entry = entry.map_err(io(&installed))?;
        let file_name = entry.file_name();
        let Some(version) = file_name.to_str() else {
            continue;
        };
        let kept = version == keep.current || keep.previous.as_deref() == Some(version);
        if !kept && name_of(version) == Some(name) {
            fs::remove_dir_all(entry.path()).map_err(io(&entry.path()))?;
        }
    }
    Ok(())
}

/// Startup cleanup: removes half-written staging folders and pointer
/// temporaries, and installed folders that no pointer names (a crash
/// between moving a version into `installed/` and writing its pointer).
/// Complete staged versions stay: they were verified and fully written.
pub fn recover(data_dir: &Path) -> Result<Recovery, DeployError> {
    let mut recovery = Recovery::default();
    let mut remove = |path: PathBuf| -> Result<(), DeployError> {
        if path.is_dir() {
            fs::remove_dir_all(&path).map_err(io(&path))?;
        } else {
            fs::remove_file(&path).map_err(io(&path))?;
        }
        recovery.removed.push(path);
        Ok(())
    };
    for dir in [staging_dir(data_dir), pointers_dir(data_dir)] {
        for path in list(&dir)? {
            let hidden = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'));
            if hidden {
                remove(path)?;
            }
        }
    }
    let survey = survey(data_dir)?;
    let named: Vec<String> = survey
        .models
        .into_iter()
        .flat_map(|(_, p)| std::iter::once(p.current).chain(p.previous))
        .collect();
    for path in list(&installed_dir(data_dir))? {
        let version = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let of_damaged =
            name_of(version).is_some_and(|name| survey.damaged.iter().any(|(d, _)| d == name));
        if !named.iter().any(|n| n == version) && !of_damaged {
            remove(path)?;
        }
    }
    recovery.damaged = survey.damaged;
    Ok(recovery)
}

fn list(dir: &Path) -> Result<Vec<PathBuf>, DeployError> {
    match fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|e| e.map(|e| e.path()).map_err(io(dir)))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(io(dir)(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_name_their_model() {
        assert_eq!(name_of("dcgan-64-a1bce809"), Some("dcgan-64"));
        assert_eq!(name_of("dcgan-64"), None);
        assert_eq!(name_of("../x-a1bce809"), None);
        assert_eq!(name_of("-a1bce809"), None);
    }

    /// Regression: one corrupt pointer made every deployed model fall back
    /// to its models_dir copy without a word. Now it hides only its own
    /// model, is reported, and its installed versions are kept.
    #[test]
    fn a_damaged_pointer_hides_only_its_own_model() {
        let data = tempfile::tempdir().unwrap();
        let data = data.path();
        for v in ["dcgan-64-0000000a", "cppn-aurora-0000000b"] {
            fs::create_dir_all(staging_dir(data).join(v)).unwrap();
            activate(data, v).unwrap();
        }
        fs::write(pointers_dir(data).join("dcgan-64"), b"{\"current\": \"dcg").unwrap();
        let listed = deployed(data).unwrap();
        let names: Vec<&str> = listed.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["cppn-aurora"]);
        let problems = problems(data);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("dcgan-64") && problems[0].contains("damaged"));
        let recovery = recover(data).unwrap();
        assert_eq!(recovery.damaged.len(), 1);
        assert!(installed_path(data, "dcgan-64-0000000a").is_dir());
        assert!(installed_path(data, "cppn-aurora-0000000b").is_dir());
        // A version whose folder went missing is reported too.
        fs::remove_dir_all(installed_path(data, "cppn-aurora-0000000b")).unwrap();
        let problems = super::problems(data);
        assert!(
            problems
                .iter()
                .any(|p| p.contains("cppn-aurora-0000000b is missing")),
            "{problems:?}"
        );
    }

    /// A power cut can only leave a pointer whole (it is replaced by a
    /// renamed, fsynced temporary), but a damaged card can cut one at any
    /// byte: at every cut, only that model is hidden, and nothing of it is
    /// removed at the next start.
    #[test]
    fn a_pointer_cut_at_any_byte_hides_only_its_model() {
        let data = tempfile::tempdir().unwrap();
        let data = data.path();
        for v in [
            "dcgan-64-0000000a",
            "dcgan-64-0000000c",
            "cppn-aurora-0000000b",
        ] {
            fs::create_dir_all(staging_dir(data).join(v)).unwrap();
            activate(data, v).unwrap();
        }
        let path = pointers_dir(data).join("dcgan-64");
        let whole = fs::read(&path).unwrap();
        for cut in 0..whole.len() {
            fs::write(&path, &whole[..cut]).unwrap();
            let names: Vec<String> = deployed(data)
                .unwrap()
                .into_iter()
                .map(|(n, _)| n)
                .collect();
            assert_eq!(names, ["cppn-aurora"], "cut at {cut}");
            recover(data).unwrap();
            for v in ["dcgan-64-0000000a", "dcgan-64-0000000c"] {
                assert!(installed_path(data, v).is_dir(), "cut at {cut}: {v} kept");
            }
        }
        fs::write(&path, &whole).unwrap();
        assert_eq!(deployed(data).unwrap().len(), 2);
    }
}
