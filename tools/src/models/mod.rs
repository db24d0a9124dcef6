//! Reference model packages made by easel itself (`easel model …`):
//! a CPPN (the default model), a DCGAN-architecture generator and a
//! fast-style-transfer network. Each is fully determined by its seed, so
//! `easel model dcgan -o DIR --seed N` rewrites the committed package byte
//! for byte.

pub mod cppn;
pub mod dcgan;
pub mod graph;
pub mod style;

use anyhow::Context;
use easel_engine::package::{CppnSpec, InputSpec, Manifest, ModelKind, OutputSpec, sha256_hex};
use std::path::Path;

/// A generated model before it is written as a package.
pub struct Built {
    pub onnx: Vec<u8>,
    pub kind: ModelKind,
    pub description: String,
    pub input: InputSpec,
    pub output: OutputSpec,
    pub cppn: Option<CppnSpec>,
}

/// Which reference architecture.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Architecture {
    Cppn,
    Dcgan,
    Style,
}

impl Architecture {
    pub fn build(self, seed: u64) -> Built {
        match self {
            Architecture::Cppn => cppn::build(seed),
            Architecture::Dcgan => dcgan::build(seed),
            Architecture::Style => style::build(seed),
        }
    }

    /// The weight seed of the committed package: `easel model` without
    /// `--seed` rewrites it. The CPPN's was picked by eye among the first
    /// few for its colours; the others kept the first.
    pub fn default_seed(self) -> u64 {
        match self {
            Architecture::Cppn => 4,
            Architecture::Dcgan | Architecture::Style => 1,
        }
    }

    /// The package name a fresh `easel model` run uses.
    pub fn default_name(self) -> &'static str {
        match self {
            Architecture::Cppn => "cppn-aurora",
            Architecture::Dcgan => "dcgan-64",
            Architecture::Style => "style-256",
        }
    }
}

/// Writes `built` as a package folder: `model.onnx` and `easel.toml`.
pub fn write_package(dir: &Path, name: &str, built: Built) -> anyhow::Result<Manifest> {
    let manifest = Manifest {
        name: name.into(),
        kind: built.kind,
        file: "model.onnx".into(),
        sha256: sha256_hex(&built.onnx),
        license: "MIT OR Apache-2.0".into(),
        description: built.description,
        input: built.input,
        output: built.output,
        cppn: built.cppn,
        variant: None,
        tract: None,
        engine: None,
    };
    manifest
        .validate()
        .map_err(anyhow::Error::msg)
        .context("generated manifest")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let onnx = dir.join(&manifest.file);
    std::fs::write(&onnx, &built.onnx).with_context(|| format!("writing {}", onnx.display()))?;
    let toml = dir.join(easel_engine::package::MANIFEST);
    std::fs::write(&toml, manifest.to_toml())
        .with_context(|| format!("writing {}", toml.display()))?;
    Ok(manifest)
}
