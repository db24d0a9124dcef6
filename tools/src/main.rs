//! `easel`: parses the command line and runs it (the work is in the
//! library, `lib.rs`). Failures end with one line on stderr and status 1.

use clap::Parser;

fn main() {
    if let Err(e) = easel_tools::run(easel_tools::Cli::parse()) {
        eprintln!("easel: {e:#}");
        std::process::exit(1);
    }
}
