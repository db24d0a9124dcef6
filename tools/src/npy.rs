//! NumPy `.npy` files of float32, C order: how latents travel between a
//! notebook and `easel generate --latent / --save-latent`. Only the one
//! dtype and layout easel needs; anything else is refused with a reason.

use anyhow::{Context, bail, ensure};
use std::path::Path;

const MAGIC: &[u8] = b"\x93NUMPY";

/// Reads a little-endian float32, C-order array: `(shape, values)`.
pub fn read_f32(path: &Path) -> anyhow::Result<(Vec<usize>, Vec<f32>)> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    parse(&bytes).with_context(|| format!("{} is not a float32 .npy array", path.display()))
}

fn parse(bytes: &[u8]) -> anyhow::Result<(Vec<usize>, Vec<f32>)> {
    ensure!(
        bytes.len() >= 10 && bytes.starts_with(MAGIC),
        "missing the NUMPY magic"
    );
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 => {
            ensure!(bytes.len() >= 12, "truncated header");
            (
                u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
                12,
            )
        }
        v => bail!("unsupported .npy version {v}"),
    };
    let header = bytes
        .get(start..start + header_len)
        .context("truncated header")?;
    let header = std::str::from_utf8(header).context("header is not text")?;
    let field = |key: &str| -> anyhow::Result<&str> {
        let at = header
            .find(&format!("'{key}'"))
            .with_context(|| format!("header lacks '{key}'"))?;
        Ok(header[at + key.len() + 2..]
            .trim_start()
            .trim_start_matches(':')
            .trim_start())
    };
    ensure!(
        field("descr")?.starts_with("'<f4'"),
        "dtype must be float32 ('<f4')"
    );
    ensure!(
        field("fortran_order")?.starts_with("False"),
        "array must be C order"
    );
    let shape_text = field("shape")?;
    let inner = shape_text
        .strip_prefix('(')
        .and_then(|s| s.split(')').next())
        .context("bad shape")?;
    let shape: Vec<usize> = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().context("bad shape"))
        .collect::<anyhow::Result<_>>()?;
    let count: usize = shape.iter().product();
    let data = &bytes[start + header_len..];
    ensure!(
        data.len() == count * 4,
        "expected {count} values, found {} bytes",
        data.len()
    );
    let values = data
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Ok((shape, values))
}

/// Writes a float32 C-order `.npy` (version 1.0).
pub fn write_f32(path: &Path, shape: &[usize], values: &[f32]) -> anyhow::Result<()> {
    std::fs::write(path, encode(shape, values))
        .with_context(|| format!("writing {}", path.display()))
}

fn encode(shape: &[usize], values: &[f32]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_text = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape_text}, }}");
    // The header is padded with spaces so the data starts 64-byte aligned.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = MAGIC.to_vec();
    out.extend([1, 0]);
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    out.extend(values.iter().flat_map(|v| v.to_le_bytes()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let values: Vec<f32> = (0..6).map(|i| i as f32 * 0.5 - 1.0).collect();
        let bytes = encode(&[1, 6, 1, 1], &values);
        assert_eq!((bytes.len() - 24) % 64, 0, "data aligned");
        assert_eq!(parse(&bytes).unwrap(), (vec![1, 6, 1, 1], values.clone()));
        assert_eq!(parse(&encode(&[6], &values)).unwrap().0, vec![6]);
    }

    #[test]
    fn refuses_other_dtypes_and_truncation() {
        let good = encode(&[2], &[1.0, 2.0]);
        let f64_header = String::from_utf8_lossy(&good)
            .replace("<f4", "<f8")
            .into_bytes();
        assert!(parse(&f64_header).is_err());
        assert!(parse(&good[..good.len() - 1]).is_err());
        assert!(parse(b"not numpy").is_err());
    }
}
