//! Controller firmware images: `easel firmware uf2` turns a board ELF into
//! a UF2 image for the RP2040's boot drive; `easel flash` puts an image on
//! a controller by whatever means this machine has (boot drive, probe-rs,
//! espflash) and says exactly what to do when it has none.
//!
//! `easel firmware setup` gives an ESP32-C3 controller its WiFi and
//! broker over USB serial (Improv, [`setup`]).
//!
//! The work lives in [`uf2`], [`flash`] and [`setup`]; this file holds the
//! command line and dispatch only.

pub mod flash;
pub mod setup;
pub mod uf2;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use std::path::PathBuf;

/// `easel firmware …`
#[derive(Debug, Args)]
pub struct FirmwareArgs {
    #[command(subcommand)]
    pub command: FirmwareCommand,
}

#[derive(Debug, Subcommand)]
pub enum FirmwareCommand {
    /// Convert a board ELF into a UF2 image (RP2040 boot drive format).
    Uf2(Uf2Args),
    /// Give an ESP32-C3 controller its WiFi network and broker over its
    /// USB serial port (Improv serial); kept in its flash. Without
    /// --ssid/--broker: print who it is and which broker it uses.
    Setup(SetupArgs),
}

/// `easel firmware setup`
#[derive(Debug, Args)]
pub struct SetupArgs {
    /// The controller's USB serial port (Linux: /dev/ttyACM0).
    #[arg(long)]
    pub port: PathBuf,
    /// WiFi network to join; the passphrase comes from
    /// EASEL_WIFI_PASSWORD (empty for an open network).
    #[arg(long)]
    pub ssid: Option<String>,
    /// Broker: host:port or mqtt://host:port (a DNS name or IPv4).
    #[arg(long)]
    pub broker: Option<String>,
    /// Broker login (a locked broker: the controller id); the password
    /// comes from EASEL_MQTT_PASSWORD. Needs --broker.
    #[arg(long, requires = "broker")]
    pub username: Option<String>,
    /// Seconds to wait for each answer (joining a network takes a few).
    #[arg(long, default_value_t = 30)]
    pub timeout: u64,
}

#[derive(Debug, Args)]
pub struct Uf2Args {
    /// The firmware ELF (target/thumbv6m-none-eabi/release/<name>).
    pub elf: PathBuf,
    /// Output file; default: the ELF's name with `.uf2`.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

/// Which kind of controller an image is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Board {
    /// RP2040 boards (W5500-EVB-Pico, Pico): UF2 boot drive or probe-rs.
    Rp2040,
    /// ESP32-C3 boards: espflash over USB serial.
    Esp32c3,
}

/// `easel flash IMAGE`
#[derive(Debug, Args)]
pub struct FlashArgs {
    /// A firmware ELF, or a UF2 image for an RP2040.
    pub image: PathBuf,
    /// The board; default: guessed from the image (ARM = rp2040,
    /// RISC-V = esp32c3, UF2 = rp2040).
    #[arg(long, value_enum)]
    pub board: Option<Board>,
    /// The mounted RP2040 boot drive (RPI-RP2); default: search the usual
    /// mount points.
    #[arg(long)]
    pub drive: Option<PathBuf>,
    /// Serial port for espflash (default: espflash asks or picks).
    #[arg(long)]
    pub port: Option<String>,
}

/// Runs `easel firmware …`.
pub fn run_firmware(args: &FirmwareArgs) -> anyhow::Result<()> {
    match &args.command {
        FirmwareCommand::Setup(a) => {
            let wifi = match &a.ssid {
                Some(ssid) => {
                    let passphrase = std::env::var("EASEL_WIFI_PASSWORD").context(
                        "--ssid needs the passphrase in EASEL_WIFI_PASSWORD (set it empty for an open network)",
                    )?;
                    Some((ssid.clone(), passphrase))
                }
                None => None,
            };
            let login = a.username.as_ref().map(|u| {
                (
                    u.clone(),
                    std::env::var(crate::link::PASSWORD_ENV).unwrap_or_default(),
                )
            });
            let plan = setup::Plan {
                wifi,
                broker: a.broker.clone(),
                login,
            };
            let port = setup::open_port(&a.port)?;
            let mut client = setup::Client::new(port, std::time::Duration::from_secs(a.timeout));
            setup::run(&mut client, &plan)
        }
        FirmwareCommand::Uf2(a) => {
            let out = a
                .output
                .clone()
                .unwrap_or_else(|| a.elf.with_extension("uf2"));
            let size = uf2::convert_file(&a.elf, &out)
                .with_context(|| format!("writing {} from {}", out.display(), a.elf.display()))?;
            let image =
                std::fs::read(&out).with_context(|| format!("reading {}", out.display()))?;
            let blocks: Vec<_> = uf2::blocks(&image).collect();
            let start = blocks.iter().map(|b| b.0).min().unwrap_or(0);
            let end = blocks.iter().map(|b| b.0 + b.1).max().unwrap_or(0);
            let rp2040 = blocks.iter().all(|b| b.2 == uf2::RP2040_FAMILY);
            println!(
                "wrote {} ({size} bytes, {} blocks, flash {start:#010x}..{end:#010x}{})",
                out.display(),
                blocks.len(),
                if rp2040 { ", RP2040" } else { "" }
            );
            Ok(())
        }
    }
}

/// Runs `easel flash …`.
pub fn run_flash(args: &FlashArgs) -> anyhow::Result<()> {
    let done = flash::flash(&flash::Request {
        image: args.image.clone(),
        board: args.board,
        drive: args.drive.clone(),
        port: args.port.clone(),
    })?;
    println!("{done}");
    Ok(())
}
