//! Putting an image on a controller, by the first means that exists here:
//!
//! - RP2040, boot drive mounted (BOOTSEL held at power-up): copy the UF2
//!   image onto the `RPI-RP2` drive (an ELF is converted first);
//! - RP2040, `probe-rs` installed: flash the ELF through a debug probe;
//! - ESP32-C3, `espflash` installed: flash the ELF over USB serial.
//!
//! When none applies the error says, step by step, what to do. Nothing
//! here guesses a device path or writes anywhere but a drive that carries
//! the RP2040 boot ROM's `INFO_UF2.TXT`.

use super::{Board, uf2};
use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// What to flash, and where, as asked.
#[derive(Debug, Clone)]
pub struct Request {
    pub image: PathBuf,
    pub board: Option<Board>,
    pub drive: Option<PathBuf>,
    pub port: Option<String>,
}

/// The image kind, read from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageKind {
    Uf2,
    ElfArm,
    ElfRiscv,
    Unknown,
}

pub fn image_kind(bytes: &[u8]) -> ImageKind {
    if uf2::is_uf2(bytes) {
        return ImageKind::Uf2;
    }
    if bytes.len() >= 20 && bytes.starts_with(b"\x7fELF") {
        return match u16::from_le_bytes([bytes[18], bytes[19]]) {
            40 => ImageKind::ElfArm,
            243 => ImageKind::ElfRiscv,
            _ => ImageKind::Unknown,
        };
    }
    ImageKind::Unknown
}

/// The first directory among `roots/*/RPI-RP2`, `roots/RPI-RP2` that holds
/// the boot ROM's `INFO_UF2.TXT`.
pub fn find_boot_drive(roots: &[PathBuf]) -> Option<PathBuf> {
    let is_drive = |p: &Path| p.join("INFO_UF2.TXT").is_file();
    for root in roots {
        let direct = root.join("RPI-RP2");
        if is_drive(&direct) {
            return Some(direct);
        }
        let Ok(entries) = std::fs::read_dir(root) else {
            continue;
        };
        for entry in entries.flatten() {
            let candidate = entry.path().join("RPI-RP2");
            if is_drive(&candidate) {
                return Some(candidate);
            }
        }
    }
    None
}

/// Where desktops and `udisksctl` mount removable drives.
pub fn default_mount_roots() -> Vec<PathBuf> {
    ["/media", "/run/media", "/mnt", "/Volumes"]
        .iter()
        .map(PathBuf::from)
        .collect()
}

/// The full path of `program` on PATH, if installed.
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// Flashes as described in the module docs; returns what was done.
pub fn flash(req: &Request) -> anyhow::Result<String> {
    let bytes =
        std::fs::read(&req.image).with_context(|| format!("reading {}", req.image.display()))?;
    let kind = image_kind(&bytes);
    let board = match (req.board, kind) {
        (Some(b), _) => b,
        (None, ImageKind::Uf2 | ImageKind::ElfArm) => Board::Rp2040,
        (None, ImageKind::ElfRiscv) => Board::Esp32c3,
        (None, ImageKind::Unknown) => bail!(
            "{} is neither an ELF nor a UF2 image; pass --board to say what it is for",
            req.image.display()
        ),
    };
    match board {
        Board::Rp2040 => flash_rp2040(req, &bytes, kind),
        Board::Esp32c3 => flash_esp32c3(req, kind),
    }
}

fn flash_rp2040(req: &Request, bytes: &[u8], kind: ImageKind) -> anyhow::Result<String> {
    let drive = match &req.drive {
        Some(d) if d.join("INFO_UF2.TXT").is_file() => Some(d.clone()),
        Some(d) => bail!(
            "{} is not an RP2040 boot drive (no INFO_UF2.TXT)",
            d.display()
        ),
        None => find_boot_drive(&default_mount_roots()),
    };
    if let Some(drive) = drive {
        let image = match kind {
            ImageKind::Uf2 => bytes.to_vec(),
            _ => uf2::convert(bytes).context("converting the ELF to UF2")?,
        };
        let target = drive.join("easel.uf2");
        std::fs::write(&target, &image)
            .with_context(|| format!("copying to {}", target.display()))?;
        // the board reboots as soon as the last block lands; make sure it does
        if let Ok(f) = std::fs::File::open(&target) {
            let _ = f.sync_all();
        }
        return Ok(format!(
            "copied {} bytes to {}; the board restarts by itself",
            image.len(),
            drive.display()
        ));
    }
    if kind == ImageKind::ElfArm
        && let Some(probe_rs) = which("probe-rs")
    {
        let status = Command::new(&probe_rs)
            .args(["download", "--chip", "RP2040"])
            .arg(&req.image)
            .status()
            .context("running probe-rs")?;
        if !status.success() {
            bail!("probe-rs download failed ({status}); is the probe connected to SWD?");
        }
        let _ = Command::new(&probe_rs)
            .args(["reset", "--chip", "RP2040"])
            .status();
        return Ok(format!("flashed {} through probe-rs", req.image.display()));
    }
    bail!(
        "no RP2040 boot drive found and no probe-rs to use.\n\
         To flash over USB: unplug the board, hold BOOTSEL, plug it in, release BOOTSEL;\n\
         a drive named RPI-RP2 appears (mount it if your system does not), then run this\n\
         command again (or pass --drive /path/to/RPI-RP2).\n\
         To flash through a debug probe: install probe-rs (cargo install probe-rs-tools)\n\
         and pass the ELF rather than a UF2 image."
    )
}

fn flash_esp32c3(req: &Request, kind: ImageKind) -> anyhow::Result<String> {
    if kind == ImageKind::Uf2 {
        bail!("ESP32-C3 boards do not take UF2 images; pass the firmware ELF");
    }
    let Some(espflash) = which("espflash") else {
        bail!(
            "espflash is not installed.\n\
             Install it with `cargo install espflash`, connect the board by USB, and run\n\
             this command again (or `espflash flash --monitor {}`).",
            req.image.display()
        );
    };
    let mut cmd = Command::new(espflash);
    cmd.args(["flash", "--chip", "esp32c3"]);
    if let Some(port) = &req.port {
        cmd.args(["--port", port]);
    }
    let status = cmd.arg(&req.image).status().context("running espflash")?;
    if !status.success() {
        bail!("espflash failed ({status}); hold BOOT while resetting the board and try again");
    }
    Ok(format!("flashed {} with espflash", req.image.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_kinds() {
        let mut arm = b"\x7fELF\x01\x01\x01\0\0\0\0\0\0\0\0\0\x02\0".to_vec();
        arm.extend_from_slice(&40u16.to_le_bytes());
        let mut riscv = arm[..18].to_vec();
        riscv.extend_from_slice(&243u16.to_le_bytes());
        let mut uf2_block = vec![0u8; 512];
        uf2_block[..4].copy_from_slice(&0x0a32_4655u32.to_le_bytes());
        uf2_block[4..8].copy_from_slice(&0x9e5d_5157u32.to_le_bytes());
        let cases: [(&[u8], ImageKind); 4] = [
            (&arm, ImageKind::ElfArm),
            (&riscv, ImageKind::ElfRiscv),
            (&uf2_block, ImageKind::Uf2),
            (b"hello", ImageKind::Unknown),
        ];
        for (bytes, want) in cases {
            assert_eq!(image_kind(bytes), want);
        }
    }

    #[test]
    fn finds_only_a_real_boot_drive() {
        let root = tempfile::tempdir().unwrap();
        let roots = vec![root.path().to_path_buf()];
        assert_eq!(find_boot_drive(&roots), None);
        let fake = root.path().join("alice").join("RPI-RP2");
        std::fs::create_dir_all(&fake).unwrap();
        assert_eq!(
            find_boot_drive(&roots),
            None,
            "no INFO_UF2.TXT, not a boot drive"
        );
        std::fs::write(
            fake.join("INFO_UF2.TXT"),
            "UF2 Bootloader v3.0\nBoard-ID: RPI-RP2\n",
        )
        .unwrap();
        assert_eq!(find_boot_drive(&roots), Some(fake));
    }

    #[test]
    fn copies_an_elf_as_uf2_to_the_given_drive() {
        let dir = tempfile::tempdir().unwrap();
        let drive = dir.path().join("RPI-RP2");
        std::fs::create_dir_all(&drive).unwrap();
        std::fs::write(drive.join("INFO_UF2.TXT"), "Board-ID: RPI-RP2\n").unwrap();
        let elf = dir.path().join("fw");
        std::fs::write(&elf, uf2::tests::tiny_elf(0x1000_0000, &[7; 300])).unwrap();
        let req = Request {
            image: elf,
            board: None,
            drive: Some(drive.clone()),
            port: None,
        };
        flash(&req).unwrap();
        let written = std::fs::read(drive.join("easel.uf2")).unwrap();
        assert!(uf2::is_uf2(&written));
    }
}
