//! Deploy groundwork against the real reference DCGAN (`tests/fixtures/models/dcgan-64`), through the path
//! the daemon takes for a completed transfer (`deploy::receive`: the whole
//! file against its offer, verify, stage, smoke test): a signed package
//! verifies, stages, passes its smoke test, activates and rolls back; every
//! kind of bad package is refused with its code and leaves nothing on
//! disk; a crash in the middle of staging is cleaned up at startup with the
//! previous model still current and intact.

use easel_daemon::deploy::transfer::Offer;
use easel_daemon::deploy::{self, DeployError, Staged, TrustedKeys, keys, store};
use easel_engine::package::{MANIFEST, ModelPackage};
use easel_pack::format::{self, Limits};
use ed25519_dalek::SigningKey;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

fn dcgan() -> (String, Vec<u8>) {
    let dir = easel_test_support::reference_model("dcgan-64");
    let manifest = std::fs::read_to_string(dir.join(MANIFEST)).unwrap();
    let onnx = std::fs::read(dir.join("model.onnx")).unwrap();
    (manifest, onnx)
}

fn key(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

fn trusting(k: &SigningKey) -> TrustedKeys {
    TrustedKeys::new(vec![k.verifying_key()])
}

/// dcgan-64 with `description` replaced: a distinct version of the same model.
fn version(description: &str, signer: &SigningKey) -> Vec<u8> {
    let (manifest, onnx) = dcgan();
    let manifest = replace_line(
        &manifest,
        "description",
        &format!("description = {description:?}"),
    );
    format::encode(
        &[(MANIFEST, manifest.as_bytes()), ("model.onnx", &onnx)],
        Some(signer),
    )
}

fn replace_line(text: &str, key: &str, with: &str) -> String {
    text.lines()
        .map(|l| {
            if l.starts_with(&format!("{key} =")) {
                with
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// The daemon's answer to a completed transfer of `bytes`, announced by a
/// `begin` for dcgan-64 as `easel deploy` would send it.
fn receive(
    bytes: &[u8],
    trusted: &TrustedKeys,
    limits: &Limits,
    data_dir: &Path,
) -> Result<Staged, DeployError> {
    let chunk_size = 64 << 10;
    let offer = Offer {
        name: "dcgan-64".into(),
        size: bytes.len() as u64,
        sha256: hex::encode(Sha256::digest(bytes)),
        chunk_size,
        chunks: (bytes.len() as u64).div_ceil(chunk_size as u64) as u32,
    };
    deploy::receive(bytes, &offer, trusted, limits, data_dir)
}

fn refused(bytes: &[u8], trusted: &TrustedKeys, limits: &Limits) -> &'static str {
    let data = tempfile::tempdir().unwrap();
    let err = receive(bytes, trusted, limits, data.path()).unwrap_err();
    assert!(
        easel_test_support::files_under(data.path()).is_empty(),
        "{err}: left {:?}",
        easel_test_support::files_under(data.path())
    );
    assert!(store::deployed(data.path()).unwrap().is_empty());
    err.code()
}

#[test]
fn dcgan_round_trips_stages_smoke_tests_and_activates() {
    let (manifest, onnx) = dcgan();
    let studio = key(1);
    let file = format::encode(
        &[(MANIFEST, manifest.as_bytes()), ("model.onnx", &onnx)],
        Some(&studio),
    );
    let package = deploy::verify(&file, &trusting(&studio)).unwrap();
    assert_eq!(package.manifest.name, "dcgan-64");
    assert_eq!(package.signer, studio.verifying_key());
    assert_eq!(package.files[1].1, onnx);

    let data = tempfile::tempdir().unwrap();
    let staged = receive(&file, &trusting(&studio), &Limits::default(), data.path()).unwrap();
    assert_eq!(staged.version, package.version());
    let info = deploy::smoke_test(&staged.dir).unwrap();
    assert_eq!(
        (info.name.as_str(), info.width, info.height),
        ("dcgan-64", 64, 64)
    );
    let pointer = deploy::activate(data.path(), &staged.version).unwrap();
    assert_eq!(
        pointer,
        deploy::Pointer {
            current: staged.version.clone(),
            previous: None
        }
    );
    let current = store::current_dir(data.path(), "dcgan-64")
        .unwrap()
        .unwrap();
    assert_eq!(
        ModelPackage::open(&current).unwrap().read_onnx().unwrap(),
        onnx
    );
    assert!(!staged.dir.exists(), "activation moves the staged folder");
}

#[test]
fn bad_packages_are_refused_with_their_code_and_leave_nothing() {
    let (manifest, onnx) = dcgan();
    let studio = key(1);
    let trusted = trusting(&studio);
    let limits = Limits::default();
    let good = [
        (MANIFEST, manifest.as_bytes()),
        ("model.onnx", onnx.as_slice()),
    ];

    assert_eq!(
        refused(&format::encode(&good, None), &trusted, &limits),
        "unsigned"
    );
    assert_eq!(
        refused(&format::encode(&good, Some(&key(2))), &trusted, &limits),
        "untrusted_key"
    );

    let other = dcgan_with_sha(&manifest, &"0".repeat(64));
    let wrong_hash = [
        (MANIFEST, other.as_bytes()),
        ("model.onnx", onnx.as_slice()),
    ];
    assert_eq!(
        refused(
            &format::encode(&wrong_hash, Some(&studio)),
            &trusted,
            &limits
        ),
        "hash_mismatch"
    );

    let traversal = [
        (MANIFEST, manifest.as_bytes()),
        ("model.onnx", onnx.as_slice()),
        ("../evil", b"x".as_slice()),
    ];
    assert_eq!(
        refused(
            &format::encode(&traversal, Some(&studio)),
            &trusted,
            &limits
        ),
        "bad_name"
    );
    let slash = [
        (MANIFEST, manifest.as_bytes()),
        ("sub/model.onnx", onnx.as_slice()),
    ];
    assert_eq!(
        refused(&format::encode(&slash, Some(&studio)), &trusted, &limits),
        "bad_name"
    );
    let evil_name = manifest.replacen("name = \"dcgan-64\"", "name = \"../dcgan\"", 1);
    let renamed = [
        (MANIFEST, evil_name.as_bytes()),
        ("model.onnx", onnx.as_slice()),
    ];
    assert_eq!(
        refused(&format::encode(&renamed, Some(&studio)), &trusted, &limits),
        "bad_name"
    );

    let file = format::encode(&good, Some(&studio));
    let small = Limits {
        max_bytes: onnx.len() as u64,
        max_entries: 16,
    };
    assert_eq!(refused(&file, &trusted, &small), "too_large");
    let few = Limits {
        max_bytes: 1 << 30,
        max_entries: 1,
    };
    assert_eq!(refused(&file, &trusted, &few), "too_large");
}

fn dcgan_with_sha(manifest: &str, sha: &str) -> String {
    replace_line(manifest, "sha256", &format!("sha256 = \"{sha}\""))
}

#[test]
fn one_flipped_byte_anywhere_is_refused() {
    let (manifest, onnx) = dcgan();
    let studio = key(1);
    let trusted = trusting(&studio);
    let file = format::encode(
        &[(MANIFEST, manifest.as_bytes()), ("model.onnx", &onnx)],
        Some(&studio),
    );
    let payload_start = file.len() - onnx.len() - manifest.len();
    // Every byte of header, index, key, signature and manifest; then 40
    // places spread over the ONNX, first and last byte included.
    let onnx_start = file.len() - onnx.len();
    let mut places: Vec<usize> = (0..onnx_start).collect();
    places.extend((0..40).map(|i| onnx_start + i * (onnx.len() - 1) / 39));
    let mut bad = file.clone();
    for &i in &places {
        bad[i] ^= 0x20;
        let err = deploy::verify(&bad, &trusted).unwrap_err();
        let want: &[&str] = if i < 12 {
            &["malformed"]
        } else if i >= payload_start {
            &["hash_mismatch"]
        } else {
            &["malformed", "untrusted_key", "bad_signature"]
        };
        assert!(want.contains(&err.code()), "byte {i}: {err}");
        bad[i] ^= 0x20;
    }
    assert_eq!(bad, file);
}

#[test]
fn activate_keeps_the_previous_version_and_rollback_restores_it() {
    let studio = key(1);
    let trusted = trusting(&studio);
    let data = tempfile::tempdir().unwrap();
    let receive = |description: &str| {
        receive(
            &version(description, &studio),
            &trusted,
            &Limits::default(),
            data.path(),
        )
        .unwrap()
    };
    let v1 = receive("first");
    let v2 = receive("second");
    assert_ne!(v1.version, v2.version);
    deploy::activate(data.path(), &v1.version).unwrap();
    let p = deploy::activate(data.path(), &v2.version).unwrap();
    assert_eq!(
        (p.current.as_str(), p.previous.as_deref()),
        (v2.version.as_str(), Some(v1.version.as_str()))
    );
    let description = |data: &Path| {
        let dir = store::current_dir(data, "dcgan-64").unwrap().unwrap();
        ModelPackage::open(dir).unwrap().manifest.description
    };
    assert_eq!(description(data.path()), "second");

    let p = deploy::rollback(data.path(), "dcgan-64").unwrap();
    assert_eq!(
        (p.current.as_str(), p.previous.as_deref()),
        (v1.version.as_str(), Some(v2.version.as_str()))
    );
    assert_eq!(description(data.path()), "first");
    // Rolling back again returns to the newer one: rollback is a swap.
    deploy::rollback(data.path(), "dcgan-64").unwrap();
    assert_eq!(description(data.path()), "second");

    // A third version pushes the oldest out of `installed/`.
    let v3 = receive("third");
    deploy::activate(data.path(), &v3.version).unwrap();
    assert!(!store::installed_path(data.path(), &v1.version).exists());
    assert!(store::installed_path(data.path(), &v2.version).is_dir());
    assert_eq!(store::deployed(data.path()).unwrap().len(), 1);

    let err = deploy::rollback(data.path(), "cppn-aurora").unwrap_err();
    assert_eq!(err.code(), "not_installed");
    let err = deploy::activate(data.path(), "dcgan-64-00000000").unwrap_err();
    assert_eq!(err.code(), "not_installed");
}

#[test]
fn a_model_that_fails_its_smoke_test_is_not_activated() {
    let (manifest, onnx) = dcgan();
    let studio = key(1);
    let data = tempfile::tempdir().unwrap();
    let good = receive(
        &version("good", &studio),
        &trusting(&studio),
        &Limits::default(),
        data.path(),
    )
    .unwrap();
    deploy::activate(data.path(), &good.version).unwrap();

    // Signed and hashed correctly, but the graph has no input "nope".
    let broken = manifest.replace("name = \"z\"", "name = \"nope\"");
    let file = format::encode(
        &[(MANIFEST, broken.as_bytes()), ("model.onnx", &onnx)],
        Some(&studio),
    );
    let before = easel_test_support::files_under(data.path());
    let err = receive(&file, &trusting(&studio), &Limits::default(), data.path()).unwrap_err();
    assert_eq!(err.code(), "smoke_test_failed", "{err}");
    assert_eq!(
        easel_test_support::files_under(data.path()),
        before,
        "nothing of the refused version stays"
    );
    let pointer = store::pointer(data.path(), "dcgan-64").unwrap().unwrap();
    assert_eq!(pointer.current, good.version);
}

#[test]
fn a_crash_mid_stage_is_cleaned_by_recover_and_the_previous_model_stays() {
    let studio = key(1);
    let data = tempfile::tempdir().unwrap();
    let v1 = receive(
        &version("first", &studio),
        &trusting(&studio),
        &Limits::default(),
        data.path(),
    )
    .unwrap();
    deploy::activate(data.path(), &v1.version).unwrap();

    // What a kill -9 can leave: a half-written staging folder, a half-written
    // pointer, and a version moved into installed/ whose pointer never came.
    let deploy_dir = store::deploy_dir(data.path());
    let tmp = deploy_dir.join("staging/.tmp-dcgan-64-0badc0de-4242");
    std::fs::create_dir_all(&tmp).unwrap();
    std::fs::write(tmp.join("model.onnx"), &dcgan().1[..1000]).unwrap();
    std::fs::write(deploy_dir.join("current/.dcgan-64.tmp"), b"{\"curr").unwrap();
    let orphan = store::installed_path(data.path(), "dcgan-64-0badc0de");
    std::fs::create_dir_all(&orphan).unwrap();
    std::fs::write(orphan.join("model.onnx"), b"partial").unwrap();

    let recovery = deploy::recover(data.path()).unwrap();
    assert_eq!(recovery.removed.len(), 3, "{:?}", recovery.removed);
    assert!(!tmp.exists() && !orphan.exists());
    let pointer = store::pointer(data.path(), "dcgan-64").unwrap().unwrap();
    assert_eq!(pointer.current, v1.version);
    let current = store::current_dir(data.path(), "dcgan-64")
        .unwrap()
        .unwrap();
    let package = ModelPackage::open(&current).unwrap();
    assert_eq!(
        package.read_onnx().unwrap(),
        dcgan().1,
        "the current model is intact"
    );
    assert_eq!(package.manifest.description, "first");
    // Recovery is idempotent, and a later deploy works.
    assert!(deploy::recover(data.path()).unwrap().removed.is_empty());
    let v2 = receive(
        &version("second", &studio),
        &trusting(&studio),
        &Limits::default(),
        data.path(),
    )
    .unwrap();
    deploy::activate(data.path(), &v2.version).unwrap();
}

#[test]
fn trusted_keys_are_read_from_key_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("studio.pub");
    std::fs::write(&path, keys::public_to_text(&key(1).verifying_key())).unwrap();
    let trusted = TrustedKeys::read(std::slice::from_ref(&path)).unwrap();
    assert!(trusted.contains(&key(1).verifying_key()));
    assert!(!trusted.contains(&key(2).verifying_key()));
    std::fs::write(&path, keys::secret_to_text(&key(1))).unwrap();
    let err = TrustedKeys::read(&[path]).unwrap_err();
    assert!(err.to_string().contains("studio.pub"), "{err}");
}

/// Set in the child process that `kill_9_while_installing…` kills.
const CHILD_DATA: &str = "EASEL_DEPLOY_TEST_CHILD_DATA";

/// The child: receives and activates new versions of dcgan-64 until killed.
#[test]
#[ignore = "run as a child process by kill_9_while_installing_leaves_a_complete_current_model"]
fn install_until_killed() {
    let Some(data) = std::env::var_os(CHILD_DATA) else {
        return;
    };
    let data = PathBuf::from(data);
    let studio = key(1);
    for i in 0u64.. {
        let file = version(&format!("child {i}"), &studio);
        let staged = receive(&file, &trusting(&studio), &Limits::default(), &data).unwrap();
        deploy::activate(&data, &staged.version).unwrap();
    }
}

#[test]
fn kill_9_while_installing_leaves_a_complete_current_model() {
    let studio = key(1);
    let data = tempfile::tempdir().unwrap();
    let first = receive(
        &version("first", &studio),
        &trusting(&studio),
        &Limits::default(),
        data.path(),
    )
    .unwrap();
    deploy::activate(data.path(), &first.version).unwrap();
    let onnx = dcgan().1;
    let mut last = first.version.clone();
    for round in 0..4u64 {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "install_until_killed",
                "--exact",
                "--ignored",
                "--test-threads=1",
            ])
            .env(CHILD_DATA, data.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // The child has installed something of its own (on a loaded
        // machine it can take seconds to start), then a different moment
        // in the write/rename/pointer cycle each round.
        let started = std::time::Instant::now();
        while store::pointer(data.path(), "dcgan-64")
            .ok()
            .flatten()
            .is_none_or(|p| p.current == last)
        {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(120),
                "round {round}: the child installed nothing in 120 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        std::thread::sleep(std::time::Duration::from_millis(37 * round));
        child.kill().unwrap(); // SIGKILL on Unix: no destructor, no cleanup
        child.wait().unwrap();

        deploy::recover(data.path()).unwrap();
        let pointer = store::pointer(data.path(), "dcgan-64").unwrap().unwrap();
        let current = store::current_dir(data.path(), "dcgan-64")
            .unwrap()
            .unwrap();
        let package = ModelPackage::open(&current).unwrap();
        assert_eq!(
            package.read_onnx().unwrap(),
            onnx,
            "round {round}: {pointer:?}"
        );
        let hidden: Vec<_> = easel_test_support::files_under(&store::deploy_dir(data.path()))
            .into_iter()
            .filter(|p| {
                p.strip_prefix(store::deploy_dir(data.path()))
                    .unwrap()
                    .components()
                    .any(|c| c.as_os_str().to_string_lossy().starts_with('.'))
            })
            .collect();
        assert!(hidden.is_empty(), "round {round}: left {hidden:?}");
        last = pointer.current;
        for (_, p) in store::deployed(data.path()).unwrap() {
            for version in std::iter::once(p.current).chain(p.previous) {
                let dir = store::installed_path(data.path(), &version);
                ModelPackage::open(&dir).unwrap().read_onnx().unwrap();
            }
        }
    }
    assert_ne!(
        last, first.version,
        "the child never installed anything: the test proved nothing"
    );
}
