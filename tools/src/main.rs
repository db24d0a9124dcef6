//! `easel`: the tools of an easel installation — make reference models,
//! render pictures from the command line, and (in later commands) inspect,
//! quantize, package, deploy and control. Each subcommand's work lives in
//! its own module; this file only parses arguments.

mod bench;
mod firmware;
mod generate;
mod models;
mod npy;

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "easel", version, about = "Tools for easel AI art installations")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Render one picture from a model package.
    Generate(generate::GenerateArgs),
    /// Measure load time, latency (median, p99), throughput and peak memory
    /// per model and thread count: `easel bench models/dcgan-64 --threads 1,2`.
    Bench(bench::BenchArgs),
    /// Controller firmware images (`easel firmware uf2 <elf> -o out.uf2`).
    Firmware(firmware::FirmwareArgs),
    /// Flash a controller (RP2040 boot drive, probe-rs or espflash).
    Flash(firmware::FlashArgs),
    /// Write a reference model package (reproducible byte for byte from its seed).
    Model {
        /// Which architecture.
        #[arg(value_enum)]
        architecture: models::Architecture,
        /// The package folder to write.
        #[arg(short, long)]
        output: PathBuf,
        /// Weight seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Package name (default: cppn-aurora, dcgan-64 or style-256).
        #[arg(long)]
        name: Option<String>,
    },
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Generate(args) => generate::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Firmware(args) => firmware::run_firmware(&args),
        Command::Flash(args) => firmware::run_flash(&args),
        Command::Model { architecture, output, seed, name } => {
            let name = name.unwrap_or_else(|| architecture.default_name().into());
            models::write_package(&output, &name, architecture.build(seed))
                .with_context(|| format!("writing model package {}", output.display()))
                .map(|m| eprintln!("{}: {} model {} (sha256 {})", output.display(), m.kind, m.name, m.sha256))
        }
    };
    if let Err(e) = result {
        eprintln!("easel: {e:#}");
        std::process::exit(1);
    }
}
