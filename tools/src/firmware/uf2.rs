//! ELF to UF2 for the RP2040, through `elf2flash-core` (the library form
//! of the Pico SDK's elf2uf2): loadable segments become 256-byte flash
//! pages in 512-byte UF2 blocks tagged with the RP2040 family id, so the
//! boot ROM's drive accepts them and no other chip's does.

use elf2flash_core::{NoProgress, boards, elf2uf2};
use std::path::Path;

/// The UF2 family id of the RP2040.
pub const RP2040_FAMILY: u32 = 0xe48b_ff56;
const MAGIC_START0: u32 = 0x0a32_4655;
const MAGIC_START1: u32 = 0x9e5d_5157;

/// Why an image could not be made.
#[derive(Debug, thiserror::Error)]
pub enum Uf2Error {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("writing {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("not an RP2040 firmware ELF: {0}")]
    Convert(#[from] elf2flash_core::Elf2Uf2Error),
}

/// Converts an ELF image in memory.
pub fn convert(elf: &[u8]) -> Result<Vec<u8>, Uf2Error> {
    let mut out = Vec::new();
    elf2uf2(elf, &mut out, &boards::RP2040, NoProgress)?;
    Ok(out)
}

/// Converts `elf` into `out`; returns the image size in bytes.
pub fn convert_file(elf: &Path, out: &Path) -> Result<usize, Uf2Error> {
    let bytes = std::fs::read(elf).map_err(|source| Uf2Error::Read {
        path: elf.display().to_string(),
        source,
    })?;
    let image = convert(&bytes)?;
    std::fs::write(out, &image).map_err(|source| Uf2Error::Write {
        path: out.display().to_string(),
        source,
    })?;
    Ok(image.len())
}

/// True when `bytes` starts with a UF2 block.
pub fn is_uf2(bytes: &[u8]) -> bool {
    bytes.len() >= 512 && word(bytes, 0) == MAGIC_START0 && word(bytes, 4) == MAGIC_START1
}

/// (target address, payload size, family id) of each block.
pub fn blocks(image: &[u8]) -> impl Iterator<Item = (u32, u32, u32)> + '_ {
    image
        .chunks_exact(512)
        .map(|b| (word(b, 12), word(b, 16), word(b, 28)))
}

fn word(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal 32-bit little-endian ARM ELF with one loadable segment of
    /// `data` at `addr` (what a linker would emit for flash contents).
    pub(crate) fn tiny_elf(addr: u32, data: &[u8]) -> Vec<u8> {
        let mut e = Vec::new();
        e.extend_from_slice(b"\x7fELF\x01\x01\x01\0\0\0\0\0\0\0\0\0");
        let h16 = |e: &mut Vec<u8>, v: u16| e.extend_from_slice(&v.to_le_bytes());
        let h32 = |e: &mut Vec<u8>, v: u32| e.extend_from_slice(&v.to_le_bytes());
        h16(&mut e, 2); // ET_EXEC
        h16(&mut e, 40); // EM_ARM
        h32(&mut e, 1);
        h32(&mut e, addr); // entry
        h32(&mut e, 52); // phoff
        h32(&mut e, 0); // shoff
        h32(&mut e, 0x0500_0200); // flags
        h16(&mut e, 52);
        h16(&mut e, 32);
        h16(&mut e, 1); // phnum
        h16(&mut e, 40);
        h16(&mut e, 0);
        h16(&mut e, 0);
        let offset = 52 + 32;
        for v in [
            1,
            offset,
            addr,
            addr,
            data.len() as u32,
            data.len() as u32,
            5,
            4,
        ] {
            h32(&mut e, v); // PT_LOAD, offset, vaddr, paddr, filesz, memsz, R+X, align
        }
        e.extend_from_slice(data);
        e
    }

    #[test]
    fn converts_a_flash_segment_into_rp2040_blocks() {
        let data: Vec<u8> = (0..600u32).map(|i| i as u8).collect();
        let image = convert(&tiny_elf(0x1000_0000, &data)).unwrap();
        assert!(is_uf2(&image));
        assert_eq!(image.len() % 512, 0);
        let blocks: Vec<_> = blocks(&image).collect();
        assert_eq!(blocks[0], (0x1000_0000, 256, RP2040_FAMILY));
        assert_eq!(blocks[1].0, 0x1000_0100);
        assert_eq!(blocks[2].0, 0x1000_0200);
        // payload of the first block is the segment's first 256 bytes
        assert_eq!(&image[32..32 + 256], &data[..256]);
    }

    #[test]
    fn refuses_what_is_not_an_elf() {
        assert!(convert(b"definitely not an elf").is_err());
        assert!(!is_uf2(b"short"));
    }
}
