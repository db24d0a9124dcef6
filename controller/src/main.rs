//! `easel-controller`: see the library docs. Stays thin: parse, dispatch.

use clap::Parser;
use easel_controller::cli::{Cli, Command};
use easel_controller::{bench, gpio, simulate};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let cli = Cli::parse();
    let result = match &cli.command {
        Some(Command::Bench(args)) => bench::run(args).await,
        None if cli.simulate => simulate::run(&cli).await,
        None => gpio::run(&cli).await,
    };
    if let Err(e) = result {
        eprintln!("easel-controller: {e:#}");
        std::process::exit(1);
    }
}
