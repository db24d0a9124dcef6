//! The sample grid (`samples.png`) an artist looks at: one row per sample,
//! `f32 | variant | |difference| x DIFF_GAIN`, each row labelled with its
//! sample and PSNR (the worst sample is always one of the rows, marked),
//! the columns named at the top, and small pictures scaled up (nearest
//! neighbour, whole factors) so that a 32x32 model is not a stamp.
//!
//! Pure: pictures and labels in, a picture out. Text is drawn with the
//! public-domain 8x8 bitmap font of `font8x8`.

use easel_engine::picture::RgbImage;
use font8x8::UnicodeFonts;

/// How much the difference column is amplified.
pub const DIFF_GAIN: u32 = 8;
/// A picture cell is scaled up until its longer side is at least this.
pub const MIN_CELL: usize = 128;
/// Dark gutter between cells.
const GAP: usize = 4;
/// A line of 8x8 text with a pixel of air above and below.
const TEXT_H: usize = 10;
const BACKGROUND: u8 = 24;
const INK: [u8; 3] = [230, 230, 230];
const WORST_INK: [u8; 3] = [255, 120, 90];

/// One row of the grid.
pub struct Row<'a> {
    pub label: String,
    /// The row of the worst sample (its label is drawn in red).
    pub worst: bool,
    pub f32: &'a RgbImage,
    pub variant: &'a RgbImage,
}

/// The whole factor that brings a `w x h` cell to [`MIN_CELL`].
pub fn scale_for(w: usize, h: usize) -> usize {
    MIN_CELL.div_ceil(w.max(h).max(1)).max(1)
}

/// A canvas with text.
struct Canvas {
    width: usize,
    rgb: Vec<u8>,
}

impl Canvas {
    fn text(&mut self, x0: usize, y0: usize, text: &str, ink: [u8; 3]) {
        let height = self.rgb.len() / (3 * self.width);
        for (i, c) in text.chars().enumerate() {
            let glyph = font8x8::BASIC_FONTS.get(c).unwrap_or([0; 8]);
            for (gy, bits) in glyph.iter().enumerate() {
                for gx in 0..8 {
                    let (x, y) = (x0 + 8 * i + gx, y0 + 1 + gy);
                    if bits >> gx & 1 == 1 && x < self.width && y < height {
                        let at = 3 * (y * self.width + x);
                        self.rgb[at..at + 3].copy_from_slice(&ink);
                    }
                }
            }
        }
    }

    /// `image` scaled by `scale` with its top-left corner at (x0, y0).
    fn picture(&mut self, x0: usize, y0: usize, image: &[u8], w: usize, h: usize, scale: usize) {
        for y in 0..h * scale {
            for x in 0..w * scale {
                let src = 3 * ((y / scale) * w + x / scale);
                let dst = 3 * ((y0 + y) * self.width + x0 + x);
                self.rgb[dst..dst + 3].copy_from_slice(&image[src..src + 3]);
            }
        }
    }
}

/// The grid of `rows` (all pictures the size of the first).
pub fn grid(rows: &[Row<'_>]) -> RgbImage {
    let (w, h) = rows
        .first()
        .map_or((1, 1), |r| (r.f32.width as usize, r.f32.height as usize));
    let scale = scale_for(w, h);
    let (cw, ch) = (w * scale, h * scale);
    let width = (3 * cw + 4 * GAP).max(2 * GAP + 8 * 24);
    let row_h = TEXT_H + ch + GAP;
    let height = GAP + TEXT_H + rows.len() * row_h;
    let mut canvas = Canvas {
        width,
        rgb: vec![BACKGROUND; 3 * width * height],
    };
    let diff_title = format!("|diff| x{DIFF_GAIN}");
    for (col, title) in ["f32", "variant", diff_title.as_str()].iter().enumerate() {
        canvas.text(GAP + col * (cw + GAP), GAP, title, INK);
    }
    for (r, row) in rows.iter().enumerate() {
        let y0 = GAP + TEXT_H + r * row_h;
        let ink = if row.worst { WORST_INK } else { INK };
        canvas.text(GAP, y0, &row.label, ink);
        let diff: Vec<u8> = row
            .f32
            .rgb
            .iter()
            .zip(&row.variant.rgb)
            .map(|(&x, &y)| (x.abs_diff(y) as u32 * DIFF_GAIN).min(255) as u8)
            .collect();
        for (col, image) in [&row.f32.rgb, &row.variant.rgb, &diff].iter().enumerate() {
            canvas.picture(GAP + col * (cw + GAP), y0 + TEXT_H, image, w, h, scale);
        }
    }
    RgbImage::new(width as u32, height as u32, canvas.rgb)
}

/// Which samples the grid shows: the first `rows`, with the worst one
/// (lowest PSNR) in place of the last when it is not among them.
pub fn pick_rows(psnr: &[f64], rows: usize) -> Vec<usize> {
    let mut chosen: Vec<usize> = (0..psnr.len().min(rows)).collect();
    let worst = (0..psnr.len()).min_by(|&a, &b| psnr[a].total_cmp(&psnr[b]));
    if let Some(worst) = worst
        && !chosen.contains(&worst)
        && let Some(last) = chosen.last_mut()
    {
        *last = worst;
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(w: u32, h: u32, v: u8) -> RgbImage {
        RgbImage::new(w, h, vec![v; 3 * (w * h) as usize])
    }

    #[test]
    fn small_pictures_are_scaled_and_rows_labelled() {
        // Regression: a 32x32 model's grid was 112x148 px, unlabelled.
        let (a, b) = (flat(32, 32, 100), flat(32, 32, 102));
        let rows = [
            Row {
                label: "seed 1: 48.1 dB".into(),
                worst: false,
                f32: &a,
                variant: &a,
            },
            Row {
                label: "seed 9: 42.1 dB (worst)".into(),
                worst: true,
                f32: &a,
                variant: &b,
            },
        ];
        let g = grid(&rows);
        assert_eq!(scale_for(32, 32), 4);
        assert_eq!(g.width as usize, 3 * 128 + 4 * GAP);
        assert_eq!(g.height as usize, GAP + TEXT_H + 2 * (TEXT_H + 128 + GAP));
        let px = |x: usize, y: usize| {
            let at = 3 * (y * g.width as usize + x);
            [g.rgb[at], g.rgb[at + 1], g.rgb[at + 2]]
        };
        // Second row, difference column: 2 levels x 8, over the whole cell.
        let y = GAP + TEXT_H + (TEXT_H + 128 + GAP) + TEXT_H;
        let x = GAP + 2 * (128 + GAP);
        assert_eq!(px(x, y), [16; 3]);
        assert_eq!(px(x + 127, y + 127), [16; 3]);
        // The labels are drawn: ink in each label band, red for the worst.
        let band = |y0: usize| {
            (y0..y0 + TEXT_H)
                .flat_map(|y| (0..200).map(move |x| (x, y)))
                .map(|(x, y)| px(x, y))
                .collect::<Vec<_>>()
        };
        assert!(band(GAP + TEXT_H).contains(&INK));
        assert!(band(GAP + TEXT_H + TEXT_H + 128 + GAP).contains(&WORST_INK));
    }

    #[test]
    fn the_worst_sample_is_always_a_row() {
        assert_eq!(pick_rows(&[40.0, 35.0, 38.0, 41.0, 39.0], 4), [0, 1, 2, 3]);
        assert_eq!(pick_rows(&[40.0, 39.0, 38.0, 41.0, 7.4], 4), [0, 1, 2, 4]);
        assert_eq!(pick_rows(&[30.0], 4), [0]);
        assert!(pick_rows(&[], 4).is_empty());
    }
}
