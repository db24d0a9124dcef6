//! What start-up finds out on disk about a config, found before it starts:
//! `easeld check` lists these with the value problems, and start-up logs
//! them (it starts anyway, degraded, with `/healthz` telling the truth).
//! A config check passes is one start-up runs as written.
//!
//! Reads files and folders; writes nothing. Paths are taken as the daemon
//! takes them: relative to the working directory.

use super::{Config, ConfigIssue, key_line};
use easel_engine::package::{MANIFEST, ModelPackage};
use std::path::Path;

/// Every problem on disk: folders, the models and their fitness for the
/// default model's role, files the config names.
pub fn issues(config: &Config, text: &str) -> Vec<ConfigIssue> {
    let mut issues = Vec::new();
    let mut issue = |key: &str, message: String| {
        issues.push(ConfigIssue {
            line: key_line(text, key),
            key: key.into(),
            message,
        })
    };
    let models = config.models_dir.display();
    let mut names = Vec::new();
    match std::fs::read_dir(&config.models_dir) {
        Err(e) => issue("models_dir", format!("{models}: cannot be read: {e}")),
        Ok(entries) => {
            let mut dirs: Vec<_> = entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.join(MANIFEST).is_file())
                .collect();
            dirs.sort();
            for dir in dirs {
                // What start-up skips ("skipping model package") is an error here.
                match ModelPackage::open(&dir) {
                    Ok(p) => match p.read_onnx() {
                        Ok(_) => names.push((p.name().to_string(), p.manifest.kind)),
                        Err(e) => issue("models_dir", e.to_string()),
                    },
                    Err(e) => issue("models_dir", e.to_string()),
                }
            }
        }
    }
    // Deployed models count as present: they load from the data folder.
    for model in crate::piece::deploy::installed(&config.data_dir) {
        let dir = crate::deploy::store::installed_path(&config.data_dir, &model.current);
        if let Ok(p) = ModelPackage::open(&dir)
            && !names.iter().any(|(n, _)| n == p.name())
        {
            names.push((p.name().to_string(), p.manifest.kind));
        }
    }
    if names.is_empty() && config.models_dir.is_dir() {
        issue(
            "models_dir",
            format!("{models}: no model package (a folder with {MANIFEST}) in it"),
        );
    } else if !names.iter().any(|(n, _)| *n == config.default_model) && !names.is_empty() {
        let found: Vec<&str> = names.iter().map(|(n, _)| n.as_str()).collect();
        issue(
            "default_model",
            format!(
                "{:?} is not in {models} (found: {})",
                config.default_model,
                found.join(", ")
            ),
        );
    }
    // Every kind serves the first mode, still; an image model paints the
    // source's frames, so it needs a source that gives some.
    if let Some((_, easel_engine::package::ModelKind::Image)) =
        names.iter().find(|(n, _)| *n == config.default_model)
        && let Some(path) = config.source.strip_prefix("file://")
        && !Path::new(path).is_file()
    {
        issue(
            "source",
            format!(
                "{path}: no such file; the default model {:?} is an image model and paints its frames",
                config.default_model
            ),
        );
    }
    let mut file = |key: &str, path: &Path, what: &str| {
        if !path.is_file() {
            issue(key, format!("{}: no such file ({what})", path.display()));
        }
    };
    for key in &config.trusted_keys {
        file("trusted_keys", key, "a public key from `easel keygen`");
    }
    if let Some(ca) = &config.mqtt.ca_file {
        file("ca_file", ca, "PEM CA certificates");
    }
    if let Some(passwords) = &config.mqtt.password_file {
        file("password_file", passwords, "lines from `easeld passwd`");
    }
    if let Some((cert, key)) = &config.credentials.files {
        file("cert", cert, "a PEM certificate chain");
        file("key", key, "a PKCS#8 PEM key");
    }
    issues
}

/// What start-up accepts but ignores: said by `easeld check` and logged at
/// start, never an error (the contract's own example config names both
/// broker keys, so it must stay valid).
pub fn warnings(config: &Config, text: &str) -> Vec<ConfigIssue> {
    let mut warnings = Vec::new();
    if config.mqtt.url.is_some() && key_line(text, "embedded_listen").is_some() {
        warnings.push(ConfigIssue {
            line: key_line(text, "embedded_listen"),
            key: "embedded_listen".into(),
            message: "ignored: `url` names a broker, so the embedded one does not run".into(),
        });
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Config {
        Config::parse_with(text, &super::super::Environment::default()).unwrap()
    }

    fn keys(issues: &[ConfigIssue]) -> Vec<(&str, Option<usize>)> {
        issues.iter().map(|i| (i.key.as_str(), i.line)).collect()
    }

    #[test]
    fn what_start_up_would_miss_is_listed_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        let text = format!(
            "models_dir = \"{d}/nope\"\ndata_dir = \"{d}/data\"\n[mqtt]\nurl = \"mqtts://h:8883\"\nca_file = \"{d}/ca.pem\"\n[deploy]\ntrusted_keys = [\"{d}/studio.pub\"]\n"
        );
        let issues = issues(&config(&text), &text);
        assert_eq!(
            keys(&issues),
            [
                ("models_dir", Some(1)),
                ("trusted_keys", Some(7)),
                ("ca_file", Some(5))
            ],
            "{issues:?}"
        );
    }

    #[test]
    fn an_ignored_embedded_listen_is_a_warning() {
        let text = "[mqtt]\nurl = \"mqtt://b:1883\"\nembedded_listen = \"127.0.0.1:1883\"\n";
        assert_eq!(
            keys(&warnings(&config(text), text)),
            [("embedded_listen", Some(3))]
        );
        let embedded = "[mqtt]\nembedded_listen = \"127.0.0.1:1883\"\n";
        assert_eq!(warnings(&config(embedded), embedded), []);
    }

    #[test]
    fn the_default_model_must_be_there() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
        let text = format!(
            "models_dir = \"{}\"\ndefault_model = \"nope\"\n",
            root.display()
        );
        let issues = issues(&config(&text), &text);
        assert_eq!(keys(&issues), [("default_model", Some(2))], "{issues:?}");
        assert!(issues[0].message.contains("cppn-aurora"), "{issues:?}");
        let fine = format!("models_dir = \"{}\"\n", root.display());
        assert_eq!(super::issues(&config(&fine), &fine), []);
    }
}
