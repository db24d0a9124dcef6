//! `easel ctl`: talk to a running piece over its MQTT broker — send a
//! command and wait for its answer, watch what the pieces and controllers
//! say, measure the control plane. The connection is `crate::link`; the
//! rules (payload, request ids, when a wait is over) are in `answers`.

mod answers;
mod bench;
pub(crate) mod send;
mod watch;

use crate::link::BrokerArgs;
use clap::{Args, Subcommand};
use std::time::Duration;

const FORMS: &str = "\
Forms:
  easel ctl [--to NODE|all] [--timeout S] <command> [--key value ...] [JSON]
      Publish the command (QoS 1, not retained) to P/NODE/cmd/<command> (or
      P/all/cmd/<command>) with a fresh request_id, print each answering
      event as one JSON line (with a \"node\" key), exit 0 when every node
      answered without error. Without --to: the one node that is online.
      e.g.  easel ctl generate --seed 7
            easel ctl --to all model '{\"name\":\"dcgan-64\"}'
            easel ctl --to gallery-1 mode --mode morph --seconds 4
  easel ctl watch [--node N] [--json] [--duration S]
      Print status, state, event, palette and controller messages as they
      arrive (`topic payload`, one line each) until Ctrl-C.
  easel ctl bench --to NODE [--count 200] [--flood-clients 10 --flood-count 1000] [--http URL]
      Command-to-event latency and a flood (docs/mqtt.md).

Commands: generate, model, mode, params, next_model, toggle_mode, wake, scene,
rollback, activate
(docs/mqtt.md). Exit status: 0 answered; 1 an error event, a timeout or no
connection (one line on stderr). The password comes from EASEL_MQTT_PASSWORD.";

#[derive(Args, Debug)]
#[command(after_help = FORMS)]
pub struct CtlArgs {
    #[command(flatten)]
    pub broker: BrokerArgs,
    /// The node to command (`node` in its config), or `all` for every node
    /// that is online. Default: the only node online.
    #[arg(long, global = true, value_name = "NODE|all")]
    pub to: Option<String>,
    /// Seconds to wait for the answers.
    #[arg(long, global = true, default_value_t = 10.0)]
    pub timeout: f64,
    #[command(subcommand)]
    pub command: CtlCommand,
}

#[derive(Subcommand, Debug)]
pub enum CtlCommand {
    /// Print status/state/event/palette and controller input as it arrives.
    Watch(watch::WatchArgs),
    /// Measure command-to-event latency and flood a node with commands.
    Bench(bench::BenchArgs),
    /// Any other word is a command for the piece: `generate --seed 7`.
    #[command(external_subcommand)]
    Send(Vec<String>),
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

pub fn run(args: CtlArgs) -> anyhow::Result<()> {
    if !(args.timeout.is_finite() && args.timeout > 0.0) {
        anyhow::bail!("--timeout must be a positive number of seconds");
    }
    let timeout = Duration::from_secs_f64(args.timeout);
    match args.command {
        CtlCommand::Send(tail) => {
            let (command, payload) = answers::parse_tail(&tail)?;
            runtime()?.block_on(send::run(
                &args.broker,
                args.to.as_deref(),
                &command,
                payload,
                timeout,
            ))
        }
        CtlCommand::Watch(w) => runtime()?.block_on(watch::run(&args.broker, w)),
        CtlCommand::Bench(b) => runtime()?.block_on(bench::run(&args.broker, args.to, b, timeout)),
    }
}
