//! Picture quality of a variant against its f32 source: PSNR and SSIM on
//! 8-bit RGB pictures (what a visitor sees, after the output range is
//! mapped to pixels). The sample grid an artist looks at is `grid.rs`.
//!
//! Pure arithmetic on pictures; no IO.

use easel_engine::picture::RgbImage;

/// PSNR of identical pictures (infinite) is reported as this.
pub const PSNR_CAP: f64 = 100.0;

/// Peak signal-to-noise ratio in dB over all RGB values.
pub fn psnr(a: &RgbImage, b: &RgbImage) -> f64 {
    assert_eq!(
        (a.width, a.height),
        (b.width, b.height),
        "PSNR of different sizes"
    );
    let se: f64 = a
        .rgb
        .iter()
        .zip(&b.rgb)
        .map(|(&x, &y)| (x as f64 - y as f64).powi(2))
        .sum();
    let mse = se / a.rgb.len() as f64;
    if mse == 0.0 {
        PSNR_CAP
    } else {
        (10.0 * (255.0f64 * 255.0 / mse).log10()).min(PSNR_CAP)
    }
}

fn luma(p: &RgbImage) -> Vec<f64> {
    p.rgb
        .chunks_exact(3)
        .map(|c| 0.299 * c[0] as f64 + 0.587 * c[1] as f64 + 0.114 * c[2] as f64)
        .collect()
}

/// Mean SSIM of the luma channels over every 7x7 window (uniform weights,
/// the constants of Wang et al. 2004 for 8-bit data).
pub fn ssim(a: &RgbImage, b: &RgbImage) -> f64 {
    assert_eq!(
        (a.width, a.height),
        (b.width, b.height),
        "SSIM of different sizes"
    );
    const WIN: usize = 7;
    let (w, h) = (a.width as usize, a.height as usize);
    let (x, y) = (luma(a), luma(b));
    if w < WIN || h < WIN {
        return if x == y { 1.0 } else { 0.0 };
    }
    // Summed-area tables of x, y, x², y², xy.
    let stride = w + 1;
    let mut tables = vec![vec![0f64; stride * (h + 1)]; 5];
    for r in 0..h {
        for c in 0..w {
            let (u, v) = (x[r * w + c], y[r * w + c]);
            let vals = [u, v, u * u, v * v, u * v];
            for (t, val) in tables.iter_mut().zip(vals) {
                t[(r + 1) * stride + c + 1] =
                    val + t[r * stride + c + 1] + t[(r + 1) * stride + c] - t[r * stride + c];
            }
        }
    }
    let sum = |t: &[f64], r: usize, c: usize| {
        t[(r + WIN) * stride + c + WIN] - t[r * stride + c + WIN] - t[(r + WIN) * stride + c]
            + t[r * stride + c]
    };
    let (c1, c2) = ((0.01f64 * 255.0).powi(2), (0.03f64 * 255.0).powi(2));
    let n = (WIN * WIN) as f64;
    let mut total = 0.0;
    for r in 0..=h - WIN {
        for c in 0..=w - WIN {
            let s: Vec<f64> = tables.iter().map(|t| sum(t, r, c) / n).collect();
            let (mx, my) = (s[0], s[1]);
            let (vx, vy, cov) = (s[2] - mx * mx, s[3] - my * my, s[4] - mx * my);
            total += ((2.0 * mx * my + c1) * (2.0 * cov + c2))
                / ((mx * mx + my * my + c1) * (vx + vy + c2));
        }
    }
    total / ((h - WIN + 1) * (w - WIN + 1)) as f64
}

/// One compared sample.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Score {
    pub sample: String,
    pub psnr_db: f64,
    pub ssim: f64,
}

/// Mean and worst of a set of scores.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    pub samples: usize,
    pub psnr_db: f64,
    pub psnr_worst_db: f64,
    pub psnr_worst_sample: String,
    pub ssim: f64,
    pub ssim_worst: f64,
}

pub fn summarize(scores: &[Score]) -> Summary {
    let n = scores.len().max(1) as f64;
    let worst = scores
        .iter()
        .min_by(|a, b| a.psnr_db.total_cmp(&b.psnr_db))
        .expect("at least one sample");
    Summary {
        samples: scores.len(),
        psnr_db: scores.iter().map(|s| s.psnr_db).sum::<f64>() / n,
        psnr_worst_db: worst.psnr_db,
        psnr_worst_sample: worst.sample.clone(),
        ssim: scores.iter().map(|s| s.ssim).sum::<f64>() / n,
        ssim_worst: scores.iter().map(|s| s.ssim).fold(f64::INFINITY, f64::min),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(w: u32, h: u32, offset: u8) -> RgbImage {
        let rgb = (0..w * h)
            .flat_map(|i| [((i * 7) % 200) as u8 + offset; 3])
            .collect();
        RgbImage::new(w, h, rgb)
    }

    #[test]
    fn psnr_of_known_errors() {
        let a = ramp(16, 16, 0);
        assert_eq!(psnr(&a, &a), PSNR_CAP);
        // Every value off by 1: MSE 1 -> 20 log10(255) = 48.13 dB.
        let b = ramp(16, 16, 1);
        assert!((psnr(&a, &b) - 48.1308).abs() < 1e-3, "{}", psnr(&a, &b));
    }

    #[test]
    fn ssim_is_one_for_equal_and_drops_for_noise() {
        let a = ramp(32, 32, 0);
        assert!((ssim(&a, &a) - 1.0).abs() < 1e-12);
        let noisy = RgbImage::new(
            32,
            32,
            a.rgb
                .iter()
                .enumerate()
                .map(|(i, &v)| v.saturating_add(((i * 37) % 50) as u8))
                .collect(),
        );
        let s = ssim(&a, &noisy);
        assert!(s < 0.99 && s > 0.0, "{s}");
    }
}
