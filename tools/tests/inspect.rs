//! `easel inspect` as a verdict and `easel pack` as the node's gate, run
//! as an artist runs them: the real binary on real packages — the
//! committed CPPN, and small models built here that load but draw NaN or
//! nothing — and on signed `.easelpkg` files made by `easel pack`.

use easel_engine::package::{InputSpec, Layout, ModelKind, OutputSpec};
use easel_tools::models::graph::GraphBuilder;
use easel_tools::models::{Built, write_package};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn easel(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_easel"))
        .args(args)
        .output()
        .expect("running easel")
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

fn cppn() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/cppn-aurora")
}

/// A latent model `z [1, 3, 1, 1] -> image [1, 3, 8, 8]`; `body` turns z
/// into the values that are spread over the picture.
fn latent_model(dir: &Path, name: &str, body: impl FnOnce(&mut GraphBuilder, &str) -> String) {
    let mut g = GraphBuilder::new(name, 1);
    let z = g.input("z", &[1, 3, 1, 1]);
    let v = body(&mut g, &z);
    let shape = g.int64s("shape", &[1, 3, 8, 8]);
    let image = g.op("Expand", &[&v, &shape]);
    g.output(&image, "image", &[1, 3, 8, 8]);
    let built = Built {
        onnx: g.finish("a test model"),
        kind: ModelKind::Latent,
        description: "a test model".into(),
        input: InputSpec {
            name: "z".into(),
            shape: vec![1, 3, 1, 1],
            range: None,
            fit: Default::default(),
        },
        output: OutputSpec {
            name: "image".into(),
            layout: Layout::Nchw,
            range: [-1.0, 1.0],
        },
        cppn: None,
    };
    write_package(dir, name, built).unwrap();
}

/// sqrt(0 * z - 1): NaN everywhere, whatever the seed.
fn nan_model(dir: &Path) {
    latent_model(dir, "nan-model", |g, z| {
        let zero = g.weight("zero", &[1], vec![0.0]);
        let one = g.weight("one", &[1], vec![1.0]);
        let v = g.op("Mul", &[z, &zero]);
        let v = g.op("Sub", &[&v, &one]);
        g.op("Sqrt", &[&v])
    });
}

/// 0 * z: a black picture for every seed (finite: a node takes it).
fn flat_model(dir: &Path) {
    latent_model(dir, "flat-model", |g, z| {
        let zero = g.weight("zero", &[1], vec![0.0]);
        g.op("Mul", &[z, &zero])
    });
}

#[test]
fn a_nan_model_fails_inspect_and_pack_with_the_nodes_smoke_test_message() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("nan-model");
    nan_model(&model);
    // Regression: inspect printed the model and exited 0.
    let out = easel(&["inspect", s(&model)]);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "{stdout}{stderr}");
    let smoke = "smoke test failed: the output holds non-finite values (NaN)";
    assert!(stderr.contains(smoke), "{stderr}");
    assert!(stdout.contains("run       FAILS"), "{stdout}");

    // Regression: pack signed it; only the node refused it.
    let key = dir.path().join("studio");
    assert!(easel(&["keygen", "-o", s(&key)]).status.success());
    let pkg = dir.path().join("nan.easelpkg");
    let out = easel(&["pack", s(&model), "--key", s(&key), "-o", s(&pkg)]);
    let (_, stderr) = text(&out);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains(smoke), "{stderr}");
    assert!(stderr.contains("smoke_test_failed"), "{stderr}");
    assert!(!pkg.exists(), "nothing is written");
}

#[test]
fn a_flat_model_loads_but_fails_inspect() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("flat-model");
    flat_model(&model);
    let out = easel(&["inspect", s(&model), "--json"]);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "{stdout}{stderr}");
    assert!(stderr.contains("flat picture"), "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["tract_ok"], true, "tract itself takes it");
    assert_eq!(report["run"]["ok"], false);
}

#[test]
fn the_reference_cppn_passes_and_its_bare_file_gets_cppn_advice() {
    let out = easel(&["inspect", s(&cppn())]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("run       seeds [1, 2, 3]: finite, varied output"),
        "{stdout}"
    );

    // Regression: the bare file was told to set `[input] shape` for coords.
    let bare = cppn().join("model.onnx");
    let out = easel(&["inspect", s(&bare)]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(!stdout.contains("[input] shape"), "{stdout}");
    assert!(stdout.contains("CPPN's coordinate grid"), "{stdout}");
    assert!(stdout.contains("kind = \"cppn\""), "{stdout}");
    assert!(stdout.contains("tract     loads and optimizes"), "{stdout}");
    assert!(stdout.contains("run       seeds [1, 2, 3]"), "{stdout}");
}

#[test]
fn an_operator_tract_lacks_is_a_non_zero_exit() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("odd-model");
    latent_model(&model, "odd-model", |g, z| g.op("NoSuchOperator", &[z]));
    let out = easel(&["inspect", s(&model)]);
    let (stdout, stderr) = text(&out);
    // Regression: "tract FAILS" was printed with exit status 0.
    assert!(!out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("tract     FAILS"), "{stdout}");
    assert!(stderr.contains("tract refuses the model"), "{stderr}");
}

#[test]
fn a_package_file_is_listed_and_verified_offline() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("studio");
    assert!(easel(&["keygen", "-o", s(&key)]).status.success());
    let public = std::fs::read_to_string(dir.path().join("studio.pub")).unwrap();
    let pkg = dir.path().join("cppn.easelpkg");
    let out = easel(&["pack", s(&cppn()), "--key", s(&key), "-o", s(&pkg)]);
    assert!(out.status.success(), "{}", text(&out).1);

    // Regression: inspect on a package failed with a protobuf error.
    let out = easel(&[
        "inspect",
        s(&pkg),
        "--trusted",
        s(&dir.path().join("studio.pub")),
    ]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    // The signer as the .pub file writes it.
    assert!(
        stdout.contains(&format!("signer    {}", public.trim_end())),
        "{stdout}"
    );
    assert!(stdout.contains("version   cppn-aurora-"), "{stdout}");
    let onnx = std::fs::read(cppn().join("model.onnx")).unwrap();
    let sha = easel_engine::package::sha256_hex(&onnx);
    assert!(
        stdout.lines().any(|l| l.contains("model.onnx")
            && l.contains(&onnx.len().to_string())
            && l.contains(&sha)
            && l.ends_with("ok")),
        "{stdout}"
    );
    assert!(stdout.contains("verify    ok"), "{stdout}");
    assert!(stdout.contains("trusted   by"), "{stdout}");

    // Another studio's key: a node would refuse it.
    let other = dir.path().join("other");
    assert!(easel(&["keygen", "-o", s(&other)]).status.success());
    let out = easel(&[
        "inspect",
        s(&pkg),
        "--trusted",
        s(&dir.path().join("other.pub")),
    ]);
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(stderr.contains("none of the --trusted keys"), "{stderr}");

    // One flipped byte in the ONNX: listed, and the entry and verdict say so.
    let mut bytes = std::fs::read(&pkg).unwrap();
    let at = bytes.len() - 100;
    bytes[at] ^= 1;
    let bad = dir.path().join("bad.easelpkg");
    std::fs::write(&bad, &bytes).unwrap();
    let out = easel(&["inspect", s(&bad), "--json"]);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(
        stderr.contains("does not verify: hash_mismatch"),
        "{stderr}"
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let entries = report["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["ok"], true);
    assert_eq!(entries[1]["ok"], false);
}

#[test]
fn a_variant_packs_as_a_version_of_its_source_with_one_flag() {
    let dir = tempfile::tempdir().unwrap();
    // A variant folder as `easel quantize` writes one (its [variant] table
    // names the source), with a comment the packed manifest must keep.
    let variant = dir.path().join("cppn-aurora-f16");
    std::fs::create_dir(&variant).unwrap();
    std::fs::copy(cppn().join("model.onnx"), variant.join("model.onnx")).unwrap();
    let manifest = std::fs::read_to_string(cppn().join("easel.toml"))
        .unwrap()
        .replace(
            "name = \"cppn-aurora\"",
            "name = \"cppn-aurora-f16\" # the variant's own name",
        );
    let manifest = format!(
        "{manifest}\n[variant]\nmode = \"f16\"\nsource = \"cppn-aurora\"\nsource_sha256 = \"00\"\nsamples = 8\npsnr_db = 40.0\npsnr_worst_db = 38.0\nssim = 0.99\nssim_worst = 0.98\nbytes_before = 1\nbytes_after = 1\n"
    );
    std::fs::write(variant.join("easel.toml"), &manifest).unwrap();
    let key = dir.path().join("studio");
    assert!(easel(&["keygen", "-o", s(&key)]).status.success());
    let pkg = dir.path().join("v.easelpkg");
    let out = easel(&[
        "pack",
        s(&variant),
        "--key",
        s(&key),
        "-o",
        s(&pkg),
        "--as-source",
    ]);
    let (_, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("cppn-aurora-"), "{stderr}");
    let trusted = easel_pack::TrustedKeys::read(&[dir.path().join("studio.pub")]).unwrap();
    let package = easel_pack::verify(&std::fs::read(&pkg).unwrap(), &trusted).unwrap();
    assert_eq!(package.manifest.name, "cppn-aurora");
    assert!(package.version().starts_with("cppn-aurora-"));
    assert!(!package.version().starts_with("cppn-aurora-f16"));
    let packed = String::from_utf8(package.files[0].1.clone()).unwrap();
    assert!(
        packed.contains("name = \"cppn-aurora\" # the variant's own name"),
        "{packed}"
    );
    assert!(packed.contains("[variant]"), "{packed}");

    // Without a [variant] table, --as-source says why it cannot.
    let out = easel(&[
        "pack",
        s(&cppn()),
        "--key",
        s(&key),
        "-o",
        s(&dir.path().join("x.easelpkg")),
        "--as-source",
    ]);
    assert!(!out.status.success());
    assert!(text(&out).1.contains("no variant"), "{}", text(&out).1);
}
