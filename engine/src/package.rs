//! Model packages: a folder `models/<name>/` holding `easel.toml` and the
//! ONNX file it names (docs/contract.md, "Model package").
//!
//! This module parses and validates the manifest and reads the ONNX bytes
//! with their sha256 checked. It knows nothing of tract: whether the graph
//! itself is usable is the engine's question (`engine::load`).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::{Path, PathBuf};

/// The manifest's file name inside a package folder.
pub const MANIFEST: &str = "easel.toml";

/// Largest ONNX file a package may hold. A hostile or broken package must
/// not make the daemon read gigabytes into memory.
pub const MAX_MODEL_BYTES: u64 = 1 << 30;

/// What a model turns into a picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// A noise vector (seeded latent) -> image: GAN generators.
    Latent,
    /// An image -> image: style transfer, pix2pix.
    Image,
    /// Per-pixel coordinates (+ latent) -> colour, at any resolution.
    Cppn,
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ModelKind::Latent => "latent",
            ModelKind::Image => "image",
            ModelKind::Cppn => "cppn",
        })
    }
}

/// Memory layout of the output image tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    #[default]
    Nchw,
    Nhwc,
}

/// How an `image` model's input is made from a picture of another size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Fit {
    /// The largest centred region with the input's aspect, resized: fills
    /// the input, cuts the sides (or top and bottom) off.
    #[default]
    Crop,
    /// The whole picture, resized to fit inside and centred on black bars:
    /// nothing cut off (a model trained on padded pictures wants this).
    Letterbox,
}

/// `easel.toml`, exactly as written by the artist or the tools.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub name: String,
    pub kind: ModelKind,
    pub file: String,
    pub sha256: String,
    #[serde(default)]
    pub license: String,
    #[serde(default)]
    pub description: String,
    /// The engine this model runs on when its author chose one (`tract`
    /// or `onnxruntime`, e.g. after `easel bench --pick`); absent: the
    /// installation's `engine`. A top-level key, so before the tables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<crate::engines::EngineKind>,
    pub input: InputSpec,
    pub output: OutputSpec,
    /// Only for `cppn` models: how the coordinate grid is fed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cppn: Option<CppnSpec>,
    /// Only for packages written by `easel quantize`: what was done to the
    /// source model and how close the result stays to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<VariantSpec>,
    /// How tract should prepare this model, as measured by `easel
    /// optimize --tune`. Absent: tract's defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tract: Option<TractSpec>,
}

/// tract settings chosen by measurement for one model.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TractSpec {
    /// tract knobs (`tract list-knobs`) in scope while the model is
    /// optimized, e.g. `TRACT_DISABLE_DIRECT_SPATIAL = "1"`. Only knobs
    /// tract reads while preparing a model ("scopable") are accepted; the
    /// engine checks them when it loads the model.
    #[serde(default)]
    pub knobs: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// The ONNX input name (the latent for `latent`/`cppn`, the picture for `image`).
    pub name: String,
    pub shape: Vec<usize>,
    /// `image` models: the value range that 0..255 pixels map onto.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<[f32; 2]>,
    /// `image` models: how a picture of another size becomes the input.
    #[serde(default, skip_serializing_if = "is_default")]
    pub fit: Fit,
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    pub name: String,
    #[serde(default)]
    pub layout: Layout,
    /// The value range that maps to 0..255.
    pub range: [f32; 2],
}

/// A CPPN takes a coordinate grid `[1, 3, H, W]` (channels x, y, r) beside
/// its latent, so one graph renders at any resolution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CppnSpec {
    /// The ONNX input name of the coordinate grid.
    pub coords: String,
    /// `[width, height]` when a request names no size.
    pub size: [u32; 2],
    /// Half the shorter side spans this many coordinate units: larger
    /// values zoom out and show more, finer structure.
    #[serde(default = "default_scale")]
    pub scale: f32,
}

/// How a variant package was derived from its source (`easel quantize`),
/// and its measured quality against it. Pictures are compared as 8-bit RGB.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantSpec {
    /// `weights` (int8 weights, float compute), `static` (int8 compute where
    /// an integer kernel exists) or `f16` (half-precision weights).
    pub mode: String,
    /// The source package's name and the sha256 of its ONNX file.
    pub source: String,
    pub source_sha256: String,
    /// What the activation ranges or the quality check were computed on.
    #[serde(default)]
    pub calibration: String,
    /// Pictures compared against the source model.
    pub samples: u32,
    /// Mean and worst PSNR (dB, capped at 100 for identical pictures).
    pub psnr_db: f64,
    pub psnr_worst_db: f64,
    /// Mean and worst SSIM (luma, 7x7 windows).
    pub ssim: f64,
    pub ssim_worst: f64,
    /// ONNX file sizes.
    pub bytes_before: u64,
    pub bytes_after: u64,
    /// Layers that compute in float although the mode is an integer one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub float_layers: Vec<String>,
}

fn default_scale() -> f32 {
    1.0
}

/// Why a package cannot be used. Every variant names the file at fault.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Manifest { path: PathBuf, message: String },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error(
        "{path}: sha256 mismatch: manifest says {expected}, file is {actual}; refusing to load"
    )]
    Checksum {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error("{path}: {size} bytes is larger than the {max} byte limit")]
    TooLarge { path: PathBuf, size: u64, max: u64 },
}

/// A package whose manifest parsed and passed validation.
#[derive(Debug, Clone)]
pub struct ModelPackage {
    pub dir: PathBuf,
    pub manifest: Manifest,
}

impl ModelPackage {
    /// Reads and validates `dir/easel.toml`. Does not read the ONNX file.
    pub fn open(dir: impl AsRef<Path>) -> Result<ModelPackage, PackageError> {
        let dir = dir.as_ref().to_path_buf();
        let path = dir.join(MANIFEST);
        let text = std::fs::read_to_string(&path).map_err(|source| PackageError::Io {
            path: path.clone(),
            source,
        })?;
        let manifest = Manifest::parse(&text).map_err(|message| PackageError::Manifest {
            path: path.clone(),
            message,
        })?;
        manifest
            .validate()
            .map_err(|message| PackageError::Invalid { path, message })?;
        Ok(ModelPackage { dir, manifest })
    }

    pub fn name(&self) -> &str {
        &self.manifest.name
    }

    /// Where the ONNX file lives.
    pub fn onnx_path(&self) -> PathBuf {
        self.dir.join(&self.manifest.file)
    }

    /// Reads the ONNX file, refusing it unless its sha256 matches the manifest.
    pub fn read_onnx(&self) -> Result<Vec<u8>, PackageError> {
        let path = self.onnx_path();
        let io = |source| PackageError::Io {
            path: path.clone(),
            source,
        };
        let size = std::fs::metadata(&path).map_err(io)?.len();
        if size > MAX_MODEL_BYTES {
            return Err(PackageError::TooLarge {
                path,
                size,
                max: MAX_MODEL_BYTES,
            });
        }
        let bytes = std::fs::read(&path).map_err(io)?;
        let actual = sha256_hex(&bytes);
        if !actual.eq_ignore_ascii_case(&self.manifest.sha256) {
            return Err(PackageError::Checksum {
                path,
                expected: self.manifest.sha256.clone(),
                actual,
            });
        }
        Ok(bytes)
    }
}

/// A one-line description of a TOML error: `line L, column C: message`.
fn describe_toml_error(text: &str, e: &toml::de::Error) -> String {
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!("line {line}, column {col}: {}", e.message().trim())
        }
        None => e.message().trim().to_string(),
    }
}

/// Lower-case hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl Manifest {
    /// Parses TOML; unknown keys are errors. The message carries the line.
    pub fn parse(text: &str) -> Result<Manifest, String> {
        toml::from_str(text).map_err(|e| describe_toml_error(text, &e))
    }

    /// Writes the manifest as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a manifest always serialises")
    }

    /// Checks what serde cannot: names, shapes, ranges, the kind's needs.
    pub fn validate(&self) -> Result<(), String> {
        if !easel_protocol::is_valid_model_name(&self.name) {
            return Err(format!("name {:?} is not [a-z0-9_-]{{1,64}}", self.name));
        }
        let file = Path::new(&self.file);
        let plain = file.components().count() == 1
            && matches!(
                file.components().next(),
                Some(std::path::Component::Normal(_))
            );
        if !plain {
            return Err(format!(
                "file {:?} must be a plain file name inside the package",
                self.file
            ));
        }
        if self.sha256.len() != 64 || !self.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err("sha256 must be 64 hex digits".into());
        }
        let shape = &self.input.shape;
        if shape.is_empty() || shape.len() > 6 || shape.contains(&0) {
            return Err(format!(
                "input.shape {shape:?} must have 1 to 6 non-zero dimensions"
            ));
        }
        if shape.iter().product::<usize>() > 1 << 26 {
            return Err(format!("input.shape {shape:?} is unreasonably large"));
        }
        check_range("output.range", self.output.range)?;
        match self.kind {
            ModelKind::Image => {
                if shape.len() != 4 || shape[0] != 1 || shape[1] != 3 {
                    return Err(format!(
                        "input.shape {shape:?}: image models take [1, 3, H, W]"
                    ));
                }
                let range = self.input.range.ok_or("image models need input.range")?;
                check_range("input.range", range)?;
            }
            ModelKind::Cppn => {
                let cppn = self
                    .cppn
                    .as_ref()
                    .ok_or("cppn models need a [cppn] table")?;
                let [w, h] = cppn.size;
                if w == 0 || h == 0 || w > 8192 || h > 8192 {
                    return Err(format!("cppn.size {:?} must be within 1..=8192", cppn.size));
                }
                if !(cppn.scale.is_finite() && cppn.scale > 0.0) {
                    return Err("cppn.scale must be a positive number".into());
                }
            }
            ModelKind::Latent => {}
        }
        if self.kind != ModelKind::Image && self.input.fit != Fit::default() {
            return Err("input.fit applies to image models only".into());
        }
        if let Some(v) = &self.variant
            && !["weights", "static", "f16"].contains(&v.mode.as_str())
        {
            return Err(format!(
                "variant.mode {:?} is not weights, static or f16",
                v.mode
            ));
        }
        if let Some(t) = &self.tract
            && let Some(bad) = t.knobs.keys().find(|k| !k.starts_with("TRACT_"))
        {
            return Err(format!(
                "tract.knobs: {bad:?} is not a tract knob (TRACT_...)"
            ));
        }
        if self.kind != ModelKind::Cppn && self.cppn.is_some() {
            return Err(format!(
                "a [cppn] table makes no sense for a {} model",
                self.kind
            ));
        }
        Ok(())
    }
}

fn check_range(key: &str, [lo, hi]: [f32; 2]) -> Result<(), String> {
    if lo.is_finite() && hi.is_finite() && lo < hi {
        Ok(())
    } else {
        Err(format!(
            "{key} [{lo}, {hi}] must be two finite numbers, low < high"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DCGAN: &str = r#"
name = "dcgan-faces"
kind = "latent"
file = "model.onnx"
sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
license = "MIT"
description = "free text"

[input]
name = "z"
shape = [1, 100, 1, 1]

[output]
name = "image"
layout = "nchw"
range = [-1.0, 1.0]
"#;

    #[test]
    fn parses_the_contract_example() {
        let m = Manifest::parse(DCGAN).unwrap();
        assert_eq!(m.kind, ModelKind::Latent);
        assert_eq!(m.input.shape, vec![1, 100, 1, 1]);
        m.validate().unwrap();
        assert_eq!(Manifest::parse(&m.to_toml()).unwrap(), m);
    }

    #[test]
    fn unknown_key_is_an_error_with_its_line() {
        let text = DCGAN.replace("license = \"MIT\"", "licence = \"MIT\"");
        let err = Manifest::parse(&text).unwrap_err();
        assert!(err.contains("licence"), "{err}");
        assert!(err.contains("line 6"), "{err}");
    }

    #[test]
    fn variant_table_round_trips_and_is_checked() {
        let text = format!(
            "{DCGAN}\n[variant]\nmode = \"weights\"\nsource = \"dcgan-faces\"\nsource_sha256 = \"00\"\n\
             calibration = \"32 seeds\"\nsamples = 32\npsnr_db = 41.5\npsnr_worst_db = 39.0\n\
             ssim = 0.99\nssim_worst = 0.98\nbytes_before = 4000\nbytes_after = 1000\n"
        );
        let m = Manifest::parse(&text).unwrap();
        m.validate().unwrap();
        let v = m.variant.as_ref().unwrap();
        assert_eq!(
            (v.mode.as_str(), v.samples, v.psnr_db),
            ("weights", 32, 41.5)
        );
        assert!(v.float_layers.is_empty());
        assert_eq!(Manifest::parse(&m.to_toml()).unwrap(), m);
        let bad = Manifest::parse(&text.replace("\"weights\"", "\"int4\"")).unwrap();
        assert!(bad.validate().unwrap_err().contains("variant.mode"));
        let unknown = text.replace("samples = 32", "samples = 32\nspeed = 3");
        assert!(Manifest::parse(&unknown).unwrap_err().contains("speed"));
    }

    #[test]
    fn engine_is_optional_and_named() {
        let text = DCGAN.replace(
            "license = \"MIT\"",
            "license = \"MIT\"\nengine = \"onnxruntime\"",
        );
        let m = Manifest::parse(&text).unwrap();
        assert_eq!(m.engine, Some(crate::engines::EngineKind::Onnxruntime));
        assert_eq!(Manifest::parse(&m.to_toml()).unwrap(), m);
        assert_eq!(Manifest::parse(DCGAN).unwrap().engine, None);
        let bad = DCGAN.replace("license = \"MIT\"", "engine = \"ort\"");
        assert!(Manifest::parse(&bad).unwrap_err().contains("line 6"));
    }

    #[test]
    fn tract_table_is_optional_and_checked() {
        let text =
            format!("{DCGAN}\n[tract]\nknobs = {{ TRACT_DISABLE_DIRECT_SPATIAL = \"1\" }}\n");
        let m = Manifest::parse(&text).unwrap();
        m.validate().unwrap();
        let knobs = &m.tract.as_ref().unwrap().knobs;
        assert_eq!(knobs["TRACT_DISABLE_DIRECT_SPATIAL"], "1");
        assert_eq!(Manifest::parse(&m.to_toml()).unwrap(), m);
        assert!(Manifest::parse(DCGAN).unwrap().tract.is_none());
        let bad = Manifest::parse(&text.replace("TRACT_DISABLE", "DISABLE")).unwrap();
        assert!(bad.validate().unwrap_err().contains("tract.knobs"));
        let unknown = text.replace("knobs =", "threads = 2\nknobs =");
        assert!(Manifest::parse(&unknown).unwrap_err().contains("threads"));
    }

    #[test]
    fn validation_failures() {
        let cases: &[(&str, &str, &str)] = &[
            ("name = \"dcgan-faces\"", "name = \"../evil\"", "name"),
            (
                "file = \"model.onnx\"",
                "file = \"../model.onnx\"",
                "plain file",
            ),
            (
                "file = \"model.onnx\"",
                "file = \"/etc/passwd\"",
                "plain file",
            ),
            ("shape = [1, 100, 1, 1]", "shape = [1, 0, 1, 1]", "non-zero"),
            ("range = [-1.0, 1.0]", "range = [1.0, 1.0]", "low < high"),
            ("kind = \"latent\"", "kind = \"image\"", "[1, 3, H, W]"),
            ("kind = \"latent\"", "kind = \"cppn\"", "[cppn]"),
            (
                "shape = [1, 100, 1, 1]",
                "shape = [1, 100, 1, 1]\nfit = \"letterbox\"",
                "image models only",
            ),
        ];
        for (from, to, want) in cases {
            let m = Manifest::parse(&DCGAN.replace(from, to)).unwrap();
            let err = m.validate().unwrap_err();
            assert!(err.contains(want), "{to}: {err}");
        }
    }
}
