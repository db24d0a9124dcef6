//! `easel deploy <file.easelpkg> --to <node[,node…]|all> [--activate]`:
//! sends a signed package to a gallery of pieces over MQTT (docs/deploy.md,
//! "Deploying over MQTT"), a bounded number of transfers at once
//! (`--jobs`), each node on its own connection so one that fails does not
//! stop the others, and ends with one line per node on stdout and a table
//! (node, result, version, time) on stderr; the exit status says whether
//! every node took it.
//!
//! `easel activate <version> --to …` and `easel list --to …` are the two
//! other halves of a gallery deploy: make an installed version current
//! (the daemon's `activate` command), and see what each node holds (its
//! retained `state`). They live in `nodes.rs`; one transfer is
//! `transfer.rs`; the table is `table.rs`.

mod nodes;
mod table;
mod transfer;

pub use nodes::{ActivateArgs, ListArgs, activate, list};

use crate::link::BrokerArgs;
use anyhow::bail;
use indicatif::MultiProgress;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use table::Row;
use transfer::Outcome;

#[derive(clap::Args, Debug)]
pub struct DeployArgs {
    /// The package (from `easel pack`).
    pub file: PathBuf,
    #[command(flatten)]
    pub broker: BrokerArgs,
    /// Node names, comma separated, or `all`: every node whose retained
    /// status is online.
    #[arg(
        long,
        value_name = "NODE[,NODE…]|all",
        value_delimiter = ',',
        required = true
    )]
    pub to: Vec<String>,
    /// Make the new version current once it is installed.
    #[arg(long)]
    pub activate: bool,
    /// Transfers at once (each node has its own; the broker carries every
    /// byte once per node).
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub jobs: usize,
    /// Chunk size in KiB (4..=256).
    #[arg(long, default_value_t = 256, value_name = "KIB")]
    pub chunk_kib: u32,
    /// Seconds to wait for a node's answer before giving up on it.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
}

pub fn run(args: DeployArgs) -> anyhow::Result<()> {
    if args.jobs == 0 {
        bail!("--jobs must be at least 1");
    }
    let package = transfer::read_package(&args.file, args.chunk_kib)?;
    let config = args.broker.link_config("deploy")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let rows = runtime.block_on(async {
        let nodes = nodes::targets(&args.broker, &config, &args.to).await?;
        if nodes.len() > 1 {
            eprintln!(
                "deploying to {}: {} ({} at once)",
                table::count(nodes.len(), "node"),
                nodes.join(", "),
                args.jobs.min(nodes.len())
            );
        }
        let job = Arc::new(transfer::Job {
            package,
            config,
            prefix: args.broker.prefix.clone(),
            activate: args.activate,
            timeout: Duration::from_secs(args.timeout),
            bars: MultiProgress::new(),
        });
        Ok::<_, anyhow::Error>(deploy_all(job, nodes, args.jobs).await)
    })?;
    for row in &rows {
        println!("{}", row.line());
    }
    eprint!("{}", table::render(&rows));
    let failed = rows.iter().filter(|r| !r.ok()).count();
    if failed > 0 {
        bail!(
            "{failed} of {} did not take the package",
            table::count(rows.len(), "node")
        );
    }
    Ok(())
}

/// Every node's transfer, at most `jobs` at once; the rows in node order.
async fn deploy_all(job: Arc<transfer::Job>, nodes: Vec<String>, jobs: usize) -> Vec<Row> {
    let permits = Arc::new(tokio::sync::Semaphore::new(jobs));
    let mut set = tokio::task::JoinSet::new();
    for node in nodes.iter().cloned() {
        let (job, permits) = (job.clone(), permits.clone());
        set.spawn(async move {
            let _permit = permits.acquire_owned().await.expect("never closed");
            let started = std::time::Instant::now();
            let outcome = transfer::deploy_to(&job, &node).await;
            Row::new(node, outcome, started.elapsed())
        });
    }
    let mut rows = Vec::new();
    while let Some(done) = set.join_next().await {
        match done {
            Ok(row) => rows.push(row),
            // A panicking transfer is that node's failure, not everyone's.
            Err(e) => eprintln!("a transfer task failed: {e}"),
        }
    }
    for node in &nodes {
        if !rows.iter().any(|r| &r.node == node) {
            rows.push(Row::new(
                node.clone(),
                Outcome::Failed("the transfer stopped unexpectedly".into()),
                Duration::ZERO,
            ));
        }
    }
    rows.sort_by(|a, b| a.node.cmp(&b.node));
    rows
}
