//! easel controller on a W5500-EVB-Pico (RP2040 + W5500 wired Ethernet).
//!
//! Wiring glue only: every decision lives in `easel-firmware`. Tasks:
//! - `input_task` samples buttons, the encoder and the PIR every
//!   millisecond and the knob every 10 ms, and sends events to a channel;
//! - `led_task` plays the status LED pattern and the palette on the strip;
//! - `ethernet_task`/`net_task` run the W5500 and the IP stack (DHCP, DNS);
//! - `main` runs the MQTT session.
//!
//! Pin map (see firmware/README.md): W5500 on SPI0 (GP16-19, INT GP21,
//! RST GP20); button1 GP2, button2 GP3, enc1 A/B GP4/GP5 (to ground,
//! internal pull-ups); PIR GP6; knob1 on GP26 (ADC0); status LED GP25;
//! WS2812 data GP11 (SPI1 TX).
//!
//! Broker (a DNS name, looked up at every connection attempt, or an IPv4
//! address), broker login, controller id, node and prefix are fixed at
//! build time (see build.rs). On panic the chip resets: an unattended piece should come
//! back on its own.

#![no_std]
#![no_main]

mod config {
    include!(concat!(env!("OUT_DIR"), "/config.rs"));
}

use core::sync::atomic::{AtomicU8, Ordering};
use easel_firmware::mqtt::{self, Connector, Hooks, Inputs};
use easel_firmware::pins::{ButtonInput, EncoderInput, PirInput};
use easel_firmware::session::Update;
use easel_firmware::{
    ButtonTimings, EncoderConfig, InputEvent, Knob, KnobConfig, PirConfig, Session, SessionConfig,
    StatusLed, StatusPattern, Strip, StripConfig, ws2812::Ws2812,
};
use easel_protocol::{Palette, Rgb, Signal as Sig};
use embassy_executor::Spawner;
use embassy_net::dns::DnsQueryType;
use embassy_net::tcp::{ConnectError, TcpSocket};
use embassy_net::{IpAddress, Stack, StackResources};
use embassy_net_wiznet::chip::W5500;
use embassy_net_wiznet::{Device, Runner, State};
use embassy_rp::adc::{self, Adc};
use embassy_rp::gpio::{Input, Level, Output, Pull};
use embassy_rp::peripherals::{DMA_CH0, DMA_CH1, SPI0};
use embassy_rp::spi::{self, Async, Spi};
use embassy_rp::{bind_interrupts, dma};
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_sync::channel::{Channel, Receiver};
use embassy_sync::signal::Signal;
use embassy_time::{Delay, Duration, Ticker};
use embedded_hal_bus::spi::ExclusiveDevice;
use static_cell::StaticCell;

bind_interrupts!(struct Irqs {
    ADC_IRQ_FIFO => adc::InterruptHandler;
    DMA_IRQ_0 => dma::InterruptHandler<DMA_CH0>, dma::InterruptHandler<DMA_CH1>;
});

const STRIP_LEN: usize = 30;

type EthSpi = ExclusiveDevice<Spi<'static, SPI0, Async>, Output<'static>, Delay>;

static EVENTS: Channel<CriticalSectionRawMutex, InputEvent, 16> = Channel::new();
static PALETTE: Signal<CriticalSectionRawMutex, Palette> = Signal::new();
static PATTERN: AtomicU8 = AtomicU8::new(0);

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    cortex_m::peripheral::SCB::sys_reset()
}

#[embassy_executor::task]
async fn ethernet_task(
    runner: Runner<'static, W5500, EthSpi, Input<'static>, Output<'static>>,
) -> ! {
    runner.run().await
}

#[embassy_executor::task]
async fn net_task(mut runner: embassy_net::Runner<'static, Device<'static>>) -> ! {
    runner.run().await
}

#[embassy_executor::task]
async fn input_task(
    mut buttons: [ButtonInput<Input<'static>>; 2],
    mut encoder: EncoderInput<Input<'static>, Input<'static>>,
    mut pir: PirInput<Input<'static>>,
    mut adc: Adc<'static, adc::Async>,
    mut knob_pin: adc::Channel<'static>,
) -> ! {
    let mut knob = Knob::new(KnobConfig::default());
    let mut ticker = Ticker::every(Duration::from_millis(1));
    let mut n: u32 = 0;
    loop {
        ticker.next().await;
        let now = mqtt::now_ms();
        for b in &mut buttons {
            let Ok(events) = b.sample(now);
            for e in events {
                let _ = EVENTS.try_send(e);
            }
        }
        let Ok(delta) = encoder.sample(now);
        let Ok(presence) = pir.sample(now);
        for e in delta.into_iter().chain(presence) {
            let _ = EVENTS.try_send(e);
        }
        n = n.wrapping_add(1);
        if n.is_multiple_of(10) {
            let level = match adc.read(&mut knob_pin).await {
                Ok(raw) => knob.update(raw, now),
                Err(_) => knob.tick(now),
            };
            if let Some(v) = level {
                let _ = EVENTS.try_send(InputEvent {
                    input: "knob1",
                    signal: Sig::Level(v),
                    at_ms: now,
                });
            }
        }
    }
}

#[embassy_executor::task]
async fn led_task(
    mut status: Output<'static>,
    mut strip_bus: Ws2812<Spi<'static, embassy_rp::peripherals::SPI1, spi::Blocking>>,
) -> ! {
    let mut led = StatusLed::new(StatusPattern::SlowBlink, 0);
    let mut strip = Strip::new(StripConfig::default());
    let mut pixels = [Rgb::default(); STRIP_LEN];
    let mut dirty = true;
    let mut ticker = Ticker::every(Duration::from_millis(20));
    loop {
        ticker.next().await;
        let now = mqtt::now_ms();
        led.set(pattern_from(PATTERN.load(Ordering::Relaxed)), now);
        status.set_level(if led.level(now) {
            Level::High
        } else {
            Level::Low
        });
        if let Some(p) = PALETTE.try_take() {
            strip.set_palette(p, now);
            dirty = true;
        }
        if dirty || strip.is_fading(now) {
            dirty = strip.is_fading(now);
            strip.render(now, &mut pixels);
            let _ = strip_bus.write(&pixels);
        }
    }
}

fn pattern_from(code: u8) -> StatusPattern {
    match code {
        1 => StatusPattern::Steady,
        2 => StatusPattern::Blip,
        3 => StatusPattern::FastBlink,
        _ => StatusPattern::SlowBlink,
    }
}

fn pattern_code(p: StatusPattern) -> u8 {
    match p {
        StatusPattern::Steady => 1,
        StatusPattern::Blip => 2,
        StatusPattern::FastBlink => 3,
        StatusPattern::SlowBlink | StatusPattern::Off => 0,
    }
}

struct Board;

impl Hooks for Board {
    fn update(&mut self, update: Update) {
        if let Update::Palette(p) = update {
            PALETTE.signal(p);
        }
    }
    fn pattern(&mut self, pattern: StatusPattern) {
        PATTERN.store(pattern_code(pattern), Ordering::Relaxed);
    }
}

struct Events(Receiver<'static, CriticalSectionRawMutex, InputEvent, 16>);

impl Inputs for Events {
    async fn next(&mut self) -> InputEvent {
        self.0.receive().await
    }
}

/// A fresh TCP socket to the broker per attempt, once DHCP is done.
struct Ethernet {
    stack: Stack<'static>,
    rx: [u8; 1024],
    tx: [u8; 1024],
}

#[derive(Debug)]
enum NetError {
    /// The broker's name did not resolve to an IPv4 address.
    Dns,
    /// TCP connect failed (refused, unreachable, timed out).
    Connect,
}

impl Connector for Ethernet {
    type Io<'a> = TcpSocket<'a>;
    type Error = NetError;

    async fn connect(&mut self) -> Result<TcpSocket<'_>, NetError> {
        self.stack.wait_config_up().await;
        // DNS servers come from DHCP; an IPv4 literal needs no query.
        let ip = self
            .stack
            .dns_query(config::BROKER_HOST, DnsQueryType::A)
            .await
            .ok()
            .and_then(|ips| ips.first().copied())
            .ok_or(NetError::Dns)?;
        let IpAddress::Ipv4(ip) = ip;
        let mut socket = TcpSocket::new(self.stack, &mut self.rx, &mut self.tx);
        socket.set_timeout(Some(Duration::from_secs(30)));
        socket
            .connect((ip, config::BROKER_PORT))
            .await
            .map_err(|_: ConnectError| NetError::Connect)?;
        Ok(socket)
    }
}

/// FNV-1a of the controller id: a stable per-controller MAC and jitter seed.
fn id_hash() -> u32 {
    config::CONTROLLER_ID.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ b as u32).wrapping_mul(0x0100_0193)
    })
}

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    let p = embassy_rp::init(Default::default());

    let mut eth_cfg = spi::Config::default();
    eth_cfg.frequency = 50_000_000;
    let eth_spi = Spi::new(
        p.SPI0, p.PIN_18, p.PIN_19, p.PIN_16, p.DMA_CH0, p.DMA_CH1, Irqs, eth_cfg,
    );
    let cs = Output::new(p.PIN_17, Level::High);
    let Ok(eth_dev) = ExclusiveDevice::new(eth_spi, cs, Delay);
    let int = Input::new(p.PIN_21, Pull::Up);
    let reset = Output::new(p.PIN_20, Level::High);
    let h = id_hash().to_be_bytes();
    // locally administered, unicast
    let mac = [0x02, 0xea, h[0], h[1], h[2], h[3]];
    static ETH_STATE: StaticCell<State<8, 8>> = StaticCell::new();
    let Ok((device, runner)) =
        embassy_net_wiznet::new(mac, ETH_STATE.init(State::new()), eth_dev, int, reset).await
    else {
        panic!("W5500 did not answer");
    };
    spawner.spawn(ethernet_task(runner).unwrap());

    static RESOURCES: StaticCell<StackResources<3>> = StaticCell::new();
    let (stack, net_runner) = embassy_net::new(
        device,
        embassy_net::Config::dhcpv4(Default::default()),
        RESOURCES.init(StackResources::new()),
        id_hash() as u64,
    );
    spawner.spawn(net_task(net_runner).unwrap());

    let timings = ButtonTimings::default();
    let buttons = [
        ButtonInput::new(Input::new(p.PIN_2, Pull::Up), "button1", true, timings),
        ButtonInput::new(Input::new(p.PIN_3, Pull::Up), "button2", true, timings),
    ];
    let encoder = EncoderInput::new(
        Input::new(p.PIN_4, Pull::Up),
        Input::new(p.PIN_5, Pull::Up),
        "enc1",
        EncoderConfig::default(),
    );
    let pir = PirInput::new(
        Input::new(p.PIN_6, Pull::Down),
        "presence",
        PirConfig::default(),
    );
    let adc = Adc::new(p.ADC, Irqs, adc::Config::default());
    let knob_pin = adc::Channel::new_pin(p.PIN_26, Pull::None);
    spawner.spawn(input_task(buttons, encoder, pir, adc, knob_pin).unwrap());

    let mut strip_cfg = spi::Config::default();
    strip_cfg.frequency = easel_firmware::ws2812::SPI_HZ;
    let strip_spi = Spi::new_blocking_txonly(p.SPI1, p.PIN_10, p.PIN_11, strip_cfg);
    let status = Output::new(p.PIN_25, Level::Low);
    spawner.spawn(led_task(status, Ws2812::new(strip_spi)).unwrap());

    let config = SessionConfig::new(config::PREFIX, config::CONTROLLER_ID, config::NODE);
    let Ok(mut session) = Session::new(config, id_hash()) else {
        panic!("invalid controller config");
    };
    static BUFFERS: StaticCell<([u8; 512], [u8; 1024])> = StaticCell::new();
    let (rx, tx) = BUFFERS.init(([0; 512], [0; 1024]));
    let Ok(mut client_config) = mqtt::client_config(&session, minimq::Buffers::new(rx, tx)) else {
        panic!("invalid MQTT config");
    };
    if !config::MQTT_USERNAME.is_empty() {
        let Ok(with_login) =
            client_config.auth(config::MQTT_USERNAME, config::MQTT_PASSWORD.as_bytes())
        else {
            panic!("MQTT login rejected by the client");
        };
        client_config = with_login;
    }
    let mut client = minimq::Session::new(client_config);
    static NET: StaticCell<Ethernet> = StaticCell::new();
    let net = NET.init(Ethernet {
        stack,
        rx: [0; 1024],
        tx: [0; 1024],
    });
    let mut events = Events(EVENTS.receiver());
    mqtt::run(
        &mut session,
        &mut client,
        net,
        &mut events,
        &mut Board,
        core::future::pending(),
    )
    .await;
}
