//! Is a rewritten model the same model? Both graphs run in tract on the
//! same inputs (seeded latents, varied test pictures) and their outputs
//! are compared as floats (largest absolute difference) and as the 8-bit
//! pixels easel would show (largest difference in levels).

use super::plan::{self, Plan};
use easel_engine::package::ModelPackage;
use easel_engine::pixels::to_level;

/// What comparing two models over many inputs found.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Agreement {
    pub samples: usize,
    /// Largest |a - b| over every output value of every sample.
    pub max_abs_error: f32,
    /// Largest difference of the 8-bit levels the values map to.
    pub max_levels: u8,
    /// Output values whose 8-bit level differs.
    pub differing_levels: usize,
}

impl Agreement {
    /// An unchanged graph: nothing compared, nothing differs.
    pub fn identical() -> Agreement {
        Agreement {
            samples: 0,
            max_abs_error: 0.0,
            max_levels: 0,
            differing_levels: 0,
        }
    }

    /// Within `tolerance` as floats and at most one 8-bit level apart.
    pub fn passes(&self, tolerance: f32) -> bool {
        self.max_abs_error <= tolerance && self.max_levels <= 1
    }
}

/// Compares two output tensors of the same model, `range` mapping to 0..255.
pub fn compare_outputs(a: &[f32], b: &[f32], range: [f32; 2]) -> Agreement {
    let mut out = Agreement {
        samples: 1,
        max_abs_error: if a.len() == b.len() {
            0.0
        } else {
            f32::INFINITY
        },
        max_levels: if a.len() == b.len() { 0 } else { u8::MAX },
        differing_levels: a.len().abs_diff(b.len()),
    };
    for (&x, &y) in a.iter().zip(b) {
        let err = (x - y).abs();
        // NaN anywhere is a failure, not a zero difference.
        out.max_abs_error = if err.is_nan() {
            f32::INFINITY
        } else {
            out.max_abs_error.max(err)
        };
        let (lx, ly) = (
            to_level(x, range[0], range[1]),
            to_level(y, range[0], range[1]),
        );
        let levels = if x.is_finite() && y.is_finite() {
            lx.abs_diff(ly)
        } else {
            u8::MAX
        };
        out.max_levels = out.max_levels.max(levels);
        out.differing_levels += usize::from(levels > 0);
    }
    out
}

/// Merges the agreement of further samples.
pub fn merge(a: Agreement, b: Agreement) -> Agreement {
    Agreement {
        samples: a.samples + b.samples,
        max_abs_error: a.max_abs_error.max(b.max_abs_error),
        max_levels: a.max_levels.max(b.max_levels),
        differing_levels: a.differing_levels + b.differing_levels,
    }
}

/// Runs both plans on samples `1..=samples` of `package`'s kind and
/// compares them.
pub fn agreement(
    package: &ModelPackage,
    original: &Plan,
    rewritten: &Plan,
    samples: usize,
    mut progress: impl FnMut(),
) -> anyhow::Result<Agreement> {
    let range = package.manifest.output.range;
    let mut total: Option<Agreement> = None;
    for index in 1..=samples as u64 {
        let a = plan::run_sample(package, original, index)?;
        let b = plan::run_sample(package, rewritten, index)?;
        let this = compare_outputs(&a, &b, range);
        total = Some(match total {
            Some(t) => merge(t, this),
            None => this,
        });
        progress();
    }
    Ok(total.unwrap_or(Agreement {
        samples: 0,
        max_abs_error: 0.0,
        max_levels: 0,
        differing_levels: 0,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_errors_are_measured_on_the_output_range() {
        let a = [-1.0, 0.0, 0.5, 1.0];
        let same = compare_outputs(&a, &a, [-1.0, 1.0]);
        assert_eq!((same.max_abs_error, same.max_levels), (0.0, 0));
        assert!(same.passes(0.0));
        // 0.5 -> level 191.25 -> 191; 0.5 + 0.006 -> 192.0 -> 192: one level.
        let b = [-1.0, 0.0, 0.506, 1.0];
        let one = compare_outputs(&a, &b, [-1.0, 1.0]);
        assert_eq!((one.max_levels, one.differing_levels), (1, 1));
        assert!(one.passes(1e-2) && !one.passes(1e-3));
        let two = compare_outputs(&a, &[-1.0, 0.0, 0.514, 1.0], [-1.0, 1.0]);
        assert_eq!(two.max_levels, 2);
        assert!(!two.passes(1.0));
        let nan = compare_outputs(&a, &[-1.0, f32::NAN, 0.5, 1.0], [-1.0, 1.0]);
        assert!(!nan.passes(f32::MAX));
        let short = compare_outputs(&a, &a[..3], [-1.0, 1.0]);
        assert!(!short.passes(f32::MAX));
        let merged = merge(one, two);
        assert_eq!((merged.samples, merged.max_levels), (2, 2));
    }
}
