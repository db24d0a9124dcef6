//! Scenes: favourite pictures saved by name (model + seed), recalled by a
//! technician or a binding. Kept as one small JSON file in `data_dir`,
//! written durably (`crate::durable`), so a power cut leaves either the
//! old or the new list, never half of one.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One saved picture: enough to render it again, pixel for pixel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scene {
    pub model: String,
    pub seed: u64,
}

#[derive(Debug)]
pub struct Scenes {
    path: PathBuf,
    scenes: BTreeMap<String, Scene>,
}

impl Scenes {
    /// Opens `dir/scenes.json`; a missing file is an empty list, an
    /// unreadable one is logged and set aside (renamed `.bad`) rather
    /// than stopping the piece.
    pub fn open(dir: &Path) -> Scenes {
        let path = dir.join("scenes.json");
        let scenes = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::error!(
                    "{}: unreadable ({e}); starting with no scenes",
                    path.display()
                );
                let _ = std::fs::rename(&path, path.with_extension("json.bad"));
                BTreeMap::new()
            }),
            Err(_) => BTreeMap::new(),
        };
        Scenes { path, scenes }
    }

    pub fn names(&self) -> Vec<String> {
        self.scenes.keys().cloned().collect()
    }

    pub fn get(&self, name: &str) -> Option<&Scene> {
        self.scenes.get(name)
    }

    pub fn save(&mut self, name: &str, scene: Scene) -> std::io::Result<()> {
        self.scenes.insert(name.into(), scene);
        self.write()
    }

    /// `false` when there was no such scene.
    pub fn delete(&mut self, name: &str) -> std::io::Result<bool> {
        let had = self.scenes.remove(name).is_some();
        if had {
            self.write()?;
        }
        Ok(had)
    }

    fn write(&self) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let bytes = serde_json::to_vec_pretty(&self.scenes).expect("scenes serialise");
        crate::durable::write(&self.path, &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Scenes::open(dir.path());
        s.save(
            "blue",
            Scene {
                model: "dcgan-64".into(),
                seed: 7,
            },
        )
        .unwrap();
        s.save(
            "red",
            Scene {
                model: "cppn-aurora".into(),
                seed: 9,
            },
        )
        .unwrap();
        assert!(s.delete("red").unwrap());
        assert!(!s.delete("red").unwrap());
        let again = Scenes::open(dir.path());
        assert_eq!(again.names(), ["blue"]);
        assert_eq!(
            again.get("blue"),
            Some(&Scene {
                model: "dcgan-64".into(),
                seed: 7
            })
        );
    }

    #[test]
    fn a_corrupt_file_is_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("scenes.json"), b"{half").unwrap();
        assert!(Scenes::open(dir.path()).names().is_empty());
        assert!(dir.path().join("scenes.json.bad").exists());
    }
}
