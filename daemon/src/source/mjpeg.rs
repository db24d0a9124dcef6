//! JPEG and MJPEG frames to RGB, through `zune-jpeg`.
//!
//! Many cameras send MJPEG frames without Huffman tables (DHT segments):
//! MJPEG fixes them to the example tables of the JPEG standard (ITU T.81
//! Annex K.3). A frame without DHT gets those tables spliced in before
//! decoding, so every decoder sees a complete JPEG. Pure.

use super::DecodeError;
use easel_engine::picture::RgbImage;
use std::borrow::Cow;
use zune_jpeg::JpegDecoder;
use zune_jpeg::zune_core::bytestream::ZCursor;
use zune_jpeg::zune_core::colorspace::ColorSpace;
use zune_jpeg::zune_core::options::DecoderOptions;

/// Decodes a JPEG (or an MJPEG frame) to 8-bit RGB.
pub fn decode(bytes: &[u8]) -> Result<RgbImage, DecodeError> {
    let jpeg = with_huffman_tables(bytes)?;
    let options = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::RGB);
    let mut decoder = JpegDecoder::new_with_options(ZCursor::new(&jpeg[..]), options);
    let rgb = decoder
        .decode()
        .map_err(|e| DecodeError::Jpeg(format!("{e:?}")))?;
    let info = decoder
        .info()
        .ok_or_else(|| DecodeError::Jpeg("no frame header".into()))?;
    let (w, h) = (info.width as u32, info.height as u32);
    if rgb.len() != 3 * w as usize * h as usize {
        return Err(DecodeError::Jpeg(format!(
            "{} bytes for {w}x{h} RGB",
            rgb.len()
        )));
    }
    Ok(RgbImage::new(w, h, rgb))
}

/// The frame itself when it carries Huffman tables; otherwise a copy with
/// the standard tables inserted right after SOI.
pub fn with_huffman_tables(bytes: &[u8]) -> Result<Cow<'_, [u8]>, DecodeError> {
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return Err(DecodeError::Jpeg("no start-of-image marker".into()));
    }
    if has_dht(bytes) {
        return Ok(Cow::Borrowed(bytes));
    }
    let mut out = Vec::with_capacity(bytes.len() + 432);
    out.extend_from_slice(&bytes[..2]);
    out.extend_from_slice(&standard_dht_segment());
    out.extend_from_slice(&bytes[2..]);
    Ok(Cow::Owned(out))
}

/// Whether a DHT segment comes before the first scan. Walks the marker
/// segments; a truncated header counts as "has tables" and is left for the
/// decoder to reject with its own message.
fn has_dht(bytes: &[u8]) -> bool {
    let mut i = 2;
    while i + 4 <= bytes.len() {
        if bytes[i] != 0xFF {
            return true;
        }
        match bytes[i + 1] {
            0xFF => i += 1, // fill byte
            0xC4 => return true,
            0xDA | 0xD9 => return false,
            0xD0..=0xD7 | 0x01 => i += 2,
            _ => i += 2 + u16::from_be_bytes([bytes[i + 2], bytes[i + 3]]) as usize,
        }
    }
    true
}

/// Annex K.3 tables: (class/id byte, 16 code-length counts, symbols).
const TABLES: [(u8, [u8; 16], &[u8]); 4] = [
    (
        0x00,
        [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0],
        &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
    ),
    (
        0x10,
        [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7d],
        &[
            0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51,
            0x61, 0x07, 0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xa1, 0x08, 0x23, 0x42, 0xb1, 0xc1,
            0x15, 0x52, 0xd1, 0xf0, 0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0a, 0x16, 0x17, 0x18,
            0x19, 0x1a, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39,
            0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57,
            0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x73, 0x74, 0x75,
            0x76, 0x77, 0x78, 0x79, 0x7a, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x92,
            0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7,
            0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3,
            0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8,
            0xd9, 0xda, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf1, 0xf2,
            0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa,
        ],
    ),
    (
        0x01,
        [0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0],
        &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
    ),
    (
        0x11,
        [0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77],
        &[
            0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07,
            0x61, 0x71, 0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xa1, 0xb1, 0xc1, 0x09,
            0x23, 0x33, 0x52, 0xf0, 0x15, 0x62, 0x72, 0xd1, 0x0a, 0x16, 0x24, 0x34, 0xe1, 0x25,
            0xf1, 0x17, 0x18, 0x19, 0x1a, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x35, 0x36, 0x37, 0x38,
            0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x53, 0x54, 0x55, 0x56,
            0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x73, 0x74,
            0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
            0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5,
            0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba,
            0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6,
            0xd7, 0xd8, 0xd9, 0xda, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf2,
            0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa,
        ],
    ),
];

/// One DHT segment holding the four standard tables.
fn standard_dht_segment() -> Vec<u8> {
    let body: usize = TABLES
        .iter()
        .map(|(_, _, symbols)| 17 + symbols.len())
        .sum();
    let mut out = Vec::with_capacity(4 + body);
    out.extend_from_slice(&[0xFF, 0xC4]);
    out.extend_from_slice(&((body + 2) as u16).to_be_bytes());
    for (class_id, counts, symbols) in TABLES {
        debug_assert_eq!(
            counts.iter().map(|&c| c as usize).sum::<usize>(),
            symbols.len()
        );
        out.push(class_id);
        out.extend_from_slice(&counts);
        out.extend_from_slice(symbols);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/tests/fixtures/camera/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// Largest and mean per-channel difference between two pictures.
    fn difference(a: &RgbImage, b: &RgbImage) -> (u8, f64) {
        assert_eq!((a.width, a.height), (b.width, b.height));
        let diffs: Vec<u8> = a
            .rgb
            .iter()
            .zip(&b.rgb)
            .map(|(x, y)| x.abs_diff(*y))
            .collect();
        let mean = diffs.iter().map(|&d| d as f64).sum::<f64>() / diffs.len() as f64;
        (*diffs.iter().max().unwrap(), mean)
    }

    // libjpeg (the reference, through Pillow) and zune-jpeg use different
    // IDCTs and chroma upsampling: equal within a few levels, not bit-exact.
    #[test]
    fn baseline_444_matches_libjpeg() {
        let got = decode(&fixture("frame444.jpg")).unwrap();
        let want = RgbImage::decode_png(&fixture("frame444_rgb.png")).unwrap();
        assert_eq!((got.width, got.height), (62, 46));
        let (max, mean) = difference(&got, &want);
        assert!(max <= 3 && mean < 0.5, "max {max}, mean {mean}");
    }

    #[test]
    fn subsampled_420_matches_libjpeg() {
        let got = decode(&fixture("frame420.jpg")).unwrap();
        let want = RgbImage::decode_png(&fixture("frame420_rgb.png")).unwrap();
        let (max, mean) = difference(&got, &want);
        assert!(max <= 40 && mean < 2.0, "max {max}, mean {mean}");
    }

    #[test]
    fn mjpeg_frame_without_tables_decodes_like_the_full_jpeg() {
        let nodht = fixture("frame420_nodht.jpg");
        assert!(!has_dht(&nodht));
        assert!(has_dht(&fixture("frame420.jpg")));
        assert_eq!(
            decode(&nodht).unwrap(),
            decode(&fixture("frame420.jpg")).unwrap()
        );
    }

    #[test]
    fn standard_tables_equal_the_ones_libjpeg_writes() {
        // Pillow (optimize=False) writes the Annex K tables; collect its DHT
        // bodies and compare them with ours, table by table.
        let jpeg = fixture("frame444.jpg");
        let mut theirs = Vec::new();
        let mut i = 2;
        while jpeg[i + 1] != 0xDA {
            let len = u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]) as usize;
            if jpeg[i + 1] == 0xC4 {
                theirs.extend_from_slice(&jpeg[i + 4..i + 2 + len]);
            }
            i += 2 + len;
        }
        let ours = standard_dht_segment();
        let split = |body: &[u8]| {
            let mut tables = Vec::new();
            let mut j = 0;
            while j < body.len() {
                let n: usize = body[j + 1..j + 17].iter().map(|&c| c as usize).sum();
                tables.push(body[j..j + 17 + n].to_vec());
                j += 17 + n;
            }
            tables.sort();
            tables
        };
        assert_eq!(split(&ours[4..]), split(&theirs));
    }

    #[test]
    fn broken_frames_are_errors_not_panics() {
        let jpeg = fixture("frame420.jpg");
        for cut in [2, 20, 200, jpeg.len() / 2] {
            let _ = decode(&jpeg[..cut]); // any result but a panic
        }
        assert!(decode(b"not a jpeg").is_err());
        assert!(decode(&[0xFF, 0xD8]).is_err());
    }
}
