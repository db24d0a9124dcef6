//! `easel`, the tools of an easel installation, as a library: make
//! reference models, render pictures, inspect, quantize, optimize and
//! bench models, pack and deploy them, control pieces, flash controllers.
//! Each subcommand's work lives in its own module; [`Cli`] is the command
//! line and [`run`] dispatches it. The binary (`main.rs`) only parses and
//! reports.
//!
//! The tools render through `easel-engine` (the same engine as the
//! daemon), read and write `.easelpkg` files through `easel-pack`, reach
//! brokers through `easel-link` and speak `easel-protocol`; they never
//! link the daemon.

pub mod bench;
pub mod bench_sign;
pub mod credentials;
pub mod ctl;
pub mod deploy;
pub mod engine_args;
pub mod firmware;
pub mod generate;
pub mod inspect;
/// The MQTT connection of `ctl` and `deploy`.
pub mod link;
pub mod models;
pub mod npy;
pub mod optimize;
pub mod progress;
pub mod quantize;
pub mod sign;
pub mod table;

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "easel",
    version,
    about = "Tools for easel AI art installations"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Render one picture from a model package.
    Generate(generate::GenerateArgs),
    /// Measure load time, latency (median, p99), throughput and peak memory
    /// per model and thread count: `easel bench tests/fixtures/models/dcgan-64 --threads 1,2`.
    Bench(bench::BenchArgs),
    /// What Content Credentials cost: signing time per picture (median,
    /// p99) and the bytes a manifest adds, per picture size or model.
    BenchSign(bench_sign::BenchSignArgs),
    /// What is inside an ONNX model and whether easel can run it: inputs,
    /// outputs, operators, parameters, MACs, tract's verdict, advice.
    Inspect(inspect::InspectArgs),
    /// Write a smaller variant of a model package (int8 weights, int8
    /// compute, or f16) with a quality report and a sample grid.
    Quantize(quantize::QuantizeArgs),
    /// Where tract spends its time on a model: per node and per operator
    /// type, at each thread count (`easel profile models/style-256`).
    Profile(optimize::profile::ProfileArgs),
    /// Rewrite a model so tract runs it faster (BatchNorm folding,
    /// sub-pixel ConvTranspose), verified against the original.
    Optimize(optimize::OptimizeArgs),
    /// Controller firmware images (`easel firmware uf2 <elf> -o out.uf2`).
    Firmware(firmware::FirmwareArgs),
    /// Flash a controller (RP2040 boot drive, probe-rs or espflash).
    Flash(firmware::FlashArgs),
    /// Write a new ed25519 key pair: KEY (private, mode 0600) and KEY.pub;
    /// with --c2pa, a C2PA signing credential folder (a CA and a signing
    /// certificate) for Content Credentials.
    Keygen(sign::KeygenArgs),
    /// What a picture's Content Credentials (C2PA manifest) say, and
    /// whether they validate: `easel verify picture.png`.
    Verify(credentials::VerifyArgs),
    /// Pack and sign a model folder into one `.easelpkg` file for deploy.
    Pack(sign::PackArgs),
    /// Send a package to pieces over MQTT, several at once: `easel deploy
    /// m.easelpkg --to all --activate` (or `--to gallery-1,gallery-2`).
    Deploy(deploy::DeployArgs),
    /// Make an installed version current on pieces: `easel activate
    /// dcgan-64-db208809 --to all`.
    Activate(deploy::ActivateArgs),
    /// What each piece holds: the model on screen and every deployed model
    /// with its current and previous version (`easel list --to all`).
    List(deploy::ListArgs),
    /// Talk to running pieces over MQTT: send a command and wait for its
    /// answer (`easel ctl generate --seed 7`), watch, measure.
    Ctl(ctl::CtlArgs),
    /// Write a reference model package (reproducible byte for byte from its seed).
    Model {
        /// Which architecture.
        #[arg(value_enum)]
        architecture: models::Architecture,
        /// The package folder to write.
        #[arg(short, long)]
        output: PathBuf,
        /// Weight seed (default: the shipped package's, 4 for cppn, 1 for the others).
        #[arg(long)]
        seed: Option<u64>,
        /// Package name (default: cppn-aurora, dcgan-64 or style-<size>).
        #[arg(long)]
        name: Option<String>,
        /// Input and output size of `style` (a multiple of 4; default 256).
        #[arg(long)]
        size: Option<usize>,
    },
}

/// Runs one subcommand.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Generate(args) => generate::run(args),
        Command::Bench(args) => bench::run(args),
        Command::BenchSign(args) => bench_sign::run(args),
        Command::Quantize(args) => quantize::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Profile(args) => optimize::profile::run(args),
        Command::Optimize(args) => optimize::run(args),
        Command::Firmware(args) => firmware::run_firmware(&args),
        Command::Flash(args) => firmware::run_flash(&args),
        Command::Keygen(args) if args.c2pa => {
            credentials::keygen(&args.output, args.name.as_deref(), args.ca.as_deref())
        }
        Command::Keygen(args) => sign::keygen(&args),
        Command::Verify(args) => credentials::verify(&args),
        Command::Pack(args) => sign::pack(&args),
        Command::Deploy(args) => deploy::run(args),
        Command::Activate(args) => deploy::activate(args),
        Command::List(args) => deploy::list(args),
        Command::Ctl(args) => ctl::run(args),
        Command::Model {
            architecture,
            output,
            seed,
            name,
            size,
        } => {
            use models::Architecture::Style;
            let seed = seed.unwrap_or(architecture.default_seed());
            let built = match (architecture, size) {
                (_, None) => Ok(architecture.build(seed)),
                (Style, Some(n)) if n >= 4 && n % 4 == 0 => Ok(models::style::build_sized(seed, n)),
                (Style, Some(n)) => Err(anyhow::anyhow!("--size {n}: must be a multiple of 4")),
                (_, Some(_)) => Err(anyhow::anyhow!(
                    "--size applies to `easel model style` only"
                )),
            };
            let name = match (name, size, architecture) {
                (Some(name), _, _) => name,
                (None, Some(n), Style) => format!("style-{n}"),
                (None, _, _) => architecture.default_name().into(),
            };
            built
                .and_then(|built| models::write_package(&output, &name, built))
                .with_context(|| format!("writing model package {}", output.display()))
                .map(|m| {
                    eprintln!(
                        "{}: {} model {} (sha256 {})",
                        output.display(),
                        m.kind,
                        m.name,
                        m.sha256
                    )
                })
        }
    }
}
