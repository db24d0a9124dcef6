//! Dominant colours of a picture, for the retained `P/N/palette` topic
//! that LED strips on the controllers show.
//!
//! Pixels are counted in a 16×16×16 colour histogram (a 1-in-4 sample of
//! pixels is plenty); the fullest bins, averaged within the bin and
//! skipping colours too close to one already chosen, make the palette.

use easel_engine::picture::RgbImage;
use easel_protocol::{Palette, Rgb};

/// Up to `max` (1..=8) dominant colours, most common first.
pub fn dominant(image: &RgbImage, max: usize) -> Palette {
    let mut bins = vec![(0u32, [0u64; 3]); 4096];
    for px in image.rgb.chunks_exact(3).step_by(4) {
        let bin =
            ((px[0] as usize >> 4) << 8) | ((px[1] as usize >> 4) << 4) | (px[2] as usize >> 4);
        bins[bin].0 += 1;
        for (sum, &v) in bins[bin].1.iter_mut().zip(px) {
            *sum += v as u64;
        }
    }
    let mut order: Vec<usize> = (0..bins.len()).filter(|&i| bins[i].0 > 0).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(bins[i].0), i));
    let mut chosen: Vec<Rgb> = Vec::new();
    for i in order {
        let (n, sum) = bins[i];
        let c = Rgb(
            (sum[0] / n as u64) as u8,
            (sum[1] / n as u64) as u8,
            (sum[2] / n as u64) as u8,
        );
        let distinct = chosen.iter().all(|o| {
            let d = |a: u8, b: u8| (a as i32 - b as i32).pow(2);
            d(o.0, c.0) + d(o.1, c.1) + d(o.2, c.2) > 48 * 48
        });
        if distinct {
            chosen.push(c);
        }
        if chosen.len() == max.clamp(1, 8) {
            break;
        }
    }
    if chosen.is_empty() {
        chosen.push(Rgb(0, 0, 0));
    }
    Palette::new(&chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_main_colours_in_order() {
        // 3/4 red, 1/4 blue (every fourth row, so the 1-in-4 sample sees both).
        let mut rgb = Vec::new();
        for i in 0..64 {
            rgb.extend(if (i / 8) % 4 == 3 {
                [0, 0, 250]
            } else {
                [250, 0, 0]
            });
        }
        let p = dominant(&RgbImage::new(8, 8, rgb), 5);
        assert_eq!(p.to_string(), "#fa0000,#0000fa");
    }

    #[test]
    fn single_colour_and_limits() {
        let p = dominant(&RgbImage::new(2, 2, vec![10; 12]), 8);
        assert_eq!(p.colours(), &[Rgb(10, 10, 10)]);
        let noisy: Vec<u8> = (0..3 * 64 * 64).map(|i| (i * 37 % 251) as u8).collect();
        assert!(dominant(&RgbImage::new(64, 64, noisy), 8).colours().len() <= 8);
    }
}
