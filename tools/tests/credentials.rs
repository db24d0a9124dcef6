//! Content Credentials from the tools, as a studio uses them: `easel
//! keygen --c2pa` makes a CA and a signing certificate (and, from that
//! CA, one more for another piece), `easel generate` signs its picture,
//! and the CAI's own SDK (`c2pa-python`, through `tests/c2pa_check.py`)
//! validates it: trusted with the studio's `ca.pem`, merely valid without,
//! invalid once a pixel changes. `easel verify` says the same and exits
//! non-zero on a picture that does not validate.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn easel(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_easel"))
        .args(args)
        .output()
        .expect("running easel")
}

fn ok(args: &[&str]) -> String {
    let out = easel(args);
    assert!(
        out.status.success(),
        "easel {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// The CAI SDK's verdict (`tests/c2pa_check.py`).
fn check(picture: &Path, trust: &[&Path]) -> serde_json::Value {
    let mut cmd = Command::new("python3");
    cmd.arg(root().join("tests/c2pa_check.py")).arg(picture);
    for t in trust {
        cmd.arg("--trust").arg(t);
    }
    let out = cmd.output().expect("python3 runs");
    assert!(
        out.status.success(),
        "c2pa_check.py failed (is c2pa-python installed? scripts/setup.sh): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_studio_credential_signs_easel_generate_and_the_cai_sdk_trusts_it() {
    let dir = tempfile::tempdir().unwrap();
    let studio = dir.path().join("studio");
    ok(&[
        "keygen",
        "--c2pa",
        "-o",
        path(&studio),
        "--name",
        "Studio North",
    ]);
    for f in ["ca.pem", "ca.key", "signer.pem", "signer.key"] {
        assert!(studio.join(f).is_file(), "{f}");
    }
    #[cfg(unix)]
    for f in ["ca.key", "signer.key"] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(studio.join(f))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{f}");
    }
    // Never overwrites a credential.
    assert!(
        !easel(&["keygen", "--c2pa", "-o", path(&studio)])
            .status
            .success()
    );

    let picture = dir.path().join("seed7.png");
    let model = easel_test_support::reference_model("dcgan-64");
    ok(&[
        "generate",
        "--model",
        path(&model),
        "--seed",
        "7",
        "--credentials",
        path(&studio),
        "-o",
        path(&picture),
    ]);
    let ca = studio.join("ca.pem");
    let trusted = check(&picture, &[&ca]);
    assert_eq!(trusted["state"], "Trusted", "{trusted}");
    assert_eq!(
        trusted["digital_source_types"][0],
        "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
    );
    let package = easel_engine::package::ModelPackage::open(&model).unwrap();
    assert_eq!(trusted["easel"]["model"]["sha256"], package.manifest.sha256);
    assert_eq!(trusted["easel"]["seed"], 7);
    assert_eq!(trusted["signer"]["issuer"], "Studio North", "{trusted}");
    assert_eq!(check(&picture, &[])["state"], "Valid");

    // easel verify agrees, and prints what the manifest says.
    let text = ok(&["verify", path(&picture), "--trust", path(&ca)]);
    assert!(text.contains("valid and trusted"), "{text}");
    assert!(text.contains("trainedAlgorithmicMedia"), "{text}");
    assert!(text.contains(&package.manifest.sha256), "{text}");

    // One pixel changed: invalid for the CAI SDK and for easel verify.
    let forged = dir.path().join("forged.png");
    let status = Command::new("python3")
        .arg(root().join("tests/png_change_pixel.py"))
        .arg(&picture)
        .arg(&forged)
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(check(&forged, &[&ca])["state"], "Invalid");
    let out = easel(&["verify", path(&forged)]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("do not validate"), "{stderr}");

    // A picture without credentials: verify says so and fails.
    let plain = dir.path().join("plain.png");
    let image = easel_engine::picture::RgbImage::new(1, 1, vec![1, 2, 3]);
    let provenance = easel_engine::picture::Provenance {
        model: "m".into(),
        model_sha256: String::new(),
        seed: None,
        params: serde_json::json!({}),
    };
    std::fs::write(
        &plain,
        easel_engine::picture::encode_png(&image, &provenance),
    )
    .unwrap();
    let out = easel(&["verify", path(&plain)]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no Content Credentials"));

    // The studio CA issues a certificate for a second piece; its pictures
    // are trusted through the same ca.pem.
    let board = dir.path().join("gallery-2");
    ok(&[
        "keygen",
        "--c2pa",
        "--ca",
        path(&studio),
        "--name",
        "gallery-2",
        "-o",
        path(&board),
    ]);
    assert!(
        !board.join("ca.key").exists(),
        "the CA key stays with the studio"
    );
    let second = dir.path().join("second.png");
    ok(&[
        "generate",
        "--model",
        path(&model),
        "--seed",
        "8",
        "--credentials",
        path(&board),
        "-o",
        path(&second),
    ]);
    let verdict = check(&second, &[&ca]);
    assert_eq!(verdict["state"], "Trusted", "{verdict}");
    assert_eq!(verdict["signer"]["common_name"], "gallery-2", "{verdict}");
}

#[test]
fn without_a_credential_generate_still_signs_and_a_style_transfer_is_a_composite() {
    let dir = tempfile::tempdir().unwrap();
    let picture = dir.path().join("styled.png");
    let input = root().join("tests/fixtures/style-256_bands.png");
    ok(&[
        "generate",
        "--model",
        path(&root().join("models/style-256")),
        "--input",
        path(&input),
        "-o",
        path(&picture),
    ]);
    let verdict = check(&picture, &[]);
    assert_eq!(verdict["state"], "Valid", "{verdict}");
    assert_eq!(
        verdict["digital_source_types"][0],
        "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"
    );
    assert_eq!(verdict["ingredients"][0]["relationship"], "componentOf");
    assert_eq!(verdict["signer"]["common_name"], "easel generate");
    // A credential folder that is not one: a clear error, no picture.
    let out = easel(&[
        "generate",
        "--model",
        path(&easel_test_support::reference_model("dcgan-64")),
        "--seed",
        "1",
        "--credentials",
        path(dir.path()),
        "-o",
        path(&dir.path().join("none.png")),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("signer.pem"));
    assert!(!dir.path().join("none.png").exists());
}
