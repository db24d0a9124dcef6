//! `easel keygen` and `easel pack` as a studio runs them: the real binary,
//! the real reference DCGAN, and the daemon's own `verify` at the other
//! end with the public key file as `[deploy] trusted_keys` would list it.

use easel_pack::{self as deploy, TrustedKeys};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn easel(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_easel"))
        .args(args)
        .output()
        .expect("running easel")
}

fn ok(args: &[&str]) {
    let out = easel(args);
    assert!(
        out.status.success(),
        "easel {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn dcgan() -> PathBuf {
    easel_test_support::reference_model("dcgan-64")
}

fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

#[test]
fn keygen_pack_verify_round_trip_with_dcgan() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("studio");
    ok(&["keygen", "-o", path(&key)]);
    let public = dir.path().join("studio.pub");
    let text = std::fs::read_to_string(&public).unwrap();
    assert!(text.starts_with("easel-ed25519-public "), "{text}");
    assert!(
        std::fs::read_to_string(&key)
            .unwrap()
            .starts_with("easel-ed25519-secret ")
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the private key is for its owner only");
    }

    let pkg = dir.path().join("dcgan-64.easelpkg");
    ok(&[
        "pack",
        path(&dcgan()),
        "--key",
        path(&key),
        "-o",
        path(&pkg),
    ]);
    let bytes = std::fs::read(&pkg).unwrap();
    let trusted = TrustedKeys::read(&[public]).unwrap();
    let package = deploy::verify(&bytes, &trusted).unwrap();
    assert_eq!(package.manifest.name, "dcgan-64");
    let on_disk = |name: &str| std::fs::read(dcgan().join(name)).unwrap();
    assert_eq!(package.files.len(), 2);
    for (name, data) in &package.files {
        assert_eq!(data, &on_disk(name), "{name}");
    }

    // Another studio's key is not trusted.
    let other = dir.path().join("other");
    ok(&["keygen", "-o", path(&other)]);
    let trusted = TrustedKeys::read(&[dir.path().join("other.pub")]).unwrap();
    assert_eq!(
        deploy::verify(&bytes, &trusted).unwrap_err().code(),
        "untrusted_key"
    );
}

#[test]
fn keygen_never_overwrites_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("studio");
    ok(&["keygen", "-o", path(&key)]);
    let before = std::fs::read(&key).unwrap();
    let out = easel(&["keygen", "-o", path(&key)]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("refusing to overwrite"));
    assert_eq!(std::fs::read(&key).unwrap(), before);
}

#[test]
fn pack_refuses_a_model_whose_onnx_does_not_match_its_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("studio");
    ok(&["keygen", "-o", path(&key)]);
    let model = dir.path().join("model");
    std::fs::create_dir(&model).unwrap();
    std::fs::copy(dcgan().join("easel.toml"), model.join("easel.toml")).unwrap();
    let mut onnx = std::fs::read(dcgan().join("model.onnx")).unwrap();
    *onnx.last_mut().unwrap() ^= 1;
    std::fs::write(model.join("model.onnx"), onnx).unwrap();
    let pkg = dir.path().join("bad.easelpkg");
    let out = easel(&["pack", path(&model), "--key", path(&key), "-o", path(&pkg)]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("sha256 mismatch"), "{stderr}");
    assert_eq!(
        stderr.trim().lines().count(),
        1,
        "one-line reason: {stderr}"
    );
    assert!(!pkg.exists());

    // A public key is not a signing key.
    let out = easel(&[
        "pack",
        path(&dcgan()),
        "--key",
        path(&dir.path().join("studio.pub")),
        "-o",
        path(&pkg),
    ]);
    assert!(!out.status.success());
    assert!(!pkg.exists());
}
