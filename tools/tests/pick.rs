//! `easel bench --pick` through the real binary: both quality floors shown
//! and applied to a variant's recorded worst sample, and `--config`
//! written only with a model the config's `models_dir` holds, through
//! `toml_edit` (comments kept).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn easel(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_easel"))
        .args(args)
        .output()
        .expect("running easel")
}

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

fn cppn() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/cppn-aurora")
}

/// A copy of cppn-aurora named `name`, with `extra` appended to its manifest.
fn copy_cppn(dir: &Path, name: &str, extra: &str) -> PathBuf {
    let out = dir.join(name);
    std::fs::create_dir_all(&out).unwrap();
    std::fs::copy(cppn().join("model.onnx"), out.join("model.onnx")).unwrap();
    let manifest = std::fs::read_to_string(cppn().join("easel.toml"))
        .unwrap()
        .replace("name = \"cppn-aurora\"", &format!("name = \"{name}\""));
    std::fs::write(out.join("easel.toml"), manifest + extra).unwrap();
    out
}

#[test]
fn pick_judges_the_worst_sample_and_writes_only_a_model_models_dir_holds() {
    let dir = tempfile::tempdir().unwrap();
    let source = copy_cppn(dir.path(), "cppn-src", "");
    // The case: a fine mean, a ruined worst seed.
    let variant = copy_cppn(
        dir.path(),
        "cppn-static",
        "\n[variant]\nmode = \"static\"\nsource = \"cppn-src\"\nsource_sha256 = \"00\"\nsamples = 32\npsnr_db = 31.6\npsnr_worst_db = 7.4\nssim = 0.9\nssim_worst = 0.2\nbytes_before = 1\nbytes_after = 1\n",
    );
    let models = dir.path().join("installed-models");
    std::fs::create_dir(&models).unwrap();
    let config = dir.path().join("easel.toml");
    let original = format!(
        "# the gallery's piece\nmodels_dir = \"{}\"\ndefault_model = \"cppn-aurora\"  # what the screen shows\n\n[http]\nlisten = \"127.0.0.1:0\"\n",
        models.display()
    );
    std::fs::write(&config, &original).unwrap();
    let pick = || {
        easel(&[
            "bench",
            "--pick",
            s(&source),
            s(&variant),
            "--engine",
            "tract",
            "--threads",
            "1",
            "--runs",
            "3",
            "--warmup",
            "1",
            "--size",
            "32x32",
            "--config",
            s(&config),
        ])
    };
    // Regression: --config wrote a default_model that models_dir lacks.
    let out = pick();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("holds no package named \"cppn-src\""),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&config).unwrap(), original);
    // Both floors are shown; the variant's worst sample fails its floor.
    assert!(
        stderr.contains("mean PSNR >= 30.0 dB") && stderr.contains("worst sample >= 25.0 dB"),
        "{stderr}"
    );
    assert!(
        stderr.contains("7.4 dB on its worst sample is below the 25.0 dB floor"),
        "{stderr}"
    );

    // With the package in models_dir: written, the trailing comment kept.
    copy_cppn(&models, "cppn-src", "");
    let out = pick();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("pick: cppn-src"), "{stdout}");
    assert!(
        stdout.contains(&format!("pick: measured on {}", std::env::consts::ARCH)),
        "{stdout}"
    );
    assert!(stdout.contains("at 1 thread on this machine"), "{stdout}");
    let written = std::fs::read_to_string(&config).unwrap();
    assert_eq!(
        written,
        original.replace(
            "default_model = \"cppn-aurora\"  # what the screen shows\n",
            "default_model = \"cppn-src\"  # what the screen shows\nengine = \"tract\"\n"
        ),
        "{written}"
    );
}
