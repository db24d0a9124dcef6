//! Command-line arguments (first stage: raw values; `link::Settings`
//! builds the live configuration from them).

use clap::{Args, Parser, Subcommand};

/// An easel controller: visitor input from GPIO (or a simulated panel on
/// the terminal) to the installation's MQTT broker.
#[derive(Debug, Parser)]
#[command(name = "easel-controller", version)]
pub struct Cli {
    /// Broker address: mqtt://host:port or host:port, host a DNS name or
    /// an IP ([v6] in brackets); port 1883 when left out (MQTT 5).
    #[arg(long, default_value = "127.0.0.1:1883")]
    pub broker: String,
    /// This controller's id, [a-z0-9_-]{1,32}.
    #[arg(long, default_value = "ctl-1")]
    pub id: String,
    /// The daemon node whose status and palette to follow.
    #[arg(long, default_value = "gallery-1")]
    pub node: String,
    /// Topic prefix.
    #[arg(long, default_value = "easel")]
    pub prefix: String,
    /// Broker login (a locked embedded broker wants the controller's id);
    /// the password comes from EASEL_MQTT_PASSWORD.
    #[arg(long)]
    pub username: Option<String>,
    /// Use the terminal as the panel: 1/2 tap a button (! and @ hold it),
    /// [ and ] turn the encoder, - and + move the knob, p toggles
    /// presence, q quits.
    #[arg(long)]
    pub simulate: bool,
    /// GPIO character device.
    #[arg(long, default_value = "/dev/gpiochip0")]
    pub gpio_chip: String,
    /// GPIO line of button1.
    #[arg(long)]
    pub button1: Option<u32>,
    /// GPIO line of button2.
    #[arg(long)]
    pub button2: Option<u32>,
    /// GPIO lines of encoder enc1, as A,B.
    #[arg(long, value_parser = parse_pair)]
    pub enc1: Option<(u32, u32)>,
    /// GPIO line of a PIR sensor (high = motion).
    #[arg(long)]
    pub pir: Option<u32>,
    /// GPIO line of the status LED (high = lit).
    #[arg(long)]
    pub status_led: Option<u32>,
    /// Buttons and encoder pull the line high when active (default: low,
    /// switches to ground with pull-ups).
    #[arg(long)]
    pub active_high: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Measure input-to-publish latency against a broker (starts a
    /// private mosquitto when --broker is not given and one is installed).
    Bench(BenchArgs),
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Broker host:port; default: start a private mosquitto.
    #[arg(long)]
    pub broker: Option<String>,
    /// Number of input events to time (at least 1).
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..))]
    pub events: u64,
}

fn parse_pair(s: &str) -> Result<(u32, u32), String> {
    let (a, b) = s.split_once(',').ok_or("expected A,B")?;
    let n = |x: &str| x.trim().parse::<u32>().map_err(|e| format!("{x:?}: {e}"));
    Ok((n(a)?, n(b)?))
}
