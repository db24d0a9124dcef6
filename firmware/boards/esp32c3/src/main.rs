//! easel controller on an ESP32-C3 (WiFi station, esp-hal).
//!
//! Wiring glue only: every decision lives in `easel-firmware`, the same
//! code the RP2040 board and the Linux controller run. Tasks:
//! - `input_task` samples buttons, the encoder and the PIR every
//!   millisecond and the knob every 10 ms, and sends events to a channel;
//! - `led_task` plays the status LED pattern and the palette on the strip;
//! - `wifi_task` joins the network and rejoins after every drop;
//!   `net_task` runs the IP stack (DHCP);
//! - `main` runs the MQTT session.
//!
//! Pin map (see firmware/README.md): button1 GPIO4, button2 GPIO5, enc1
//! A/B GPIO6/GPIO7 (to ground, internal pull-ups); PIR GPIO10; knob1 on
//! GPIO3 (ADC1 channel 3: ADC2 is unusable while WiFi runs); status LED
//! GPIO1; WS2812 data GPIO0 (SPI2 MOSI through the GPIO matrix, fed by
//! DMA: see strip.rs). The
//! strapping pins (GPIO2, GPIO8, GPIO9), USB (GPIO18/19) and the UART
//! (GPIO20/21) stay free, so the board still boots and flashes with
//! everything wired.
//!
//! WiFi credentials, broker, controller id, node and prefix are fixed at
//! build time (see build.rs). On panic the chip resets: an unattended piece
//! should come back on its own.

#![no_std]
#![no_main]

mod config {
    include!(concat!(env!("OUT_DIR"), "/config.rs"));
}
mod strip;

use core::sync::atomic::{AtomicU8, Ordering};
use easel_firmware::mqtt::{self, Connector, Hooks, Inputs};
use easel_firmware::pins::{ButtonInput, EncoderInput, PirInput};
use easel_firmware::session::Update;
use easel_firmware::{
    ButtonTimings, EncoderConfig, InputEvent, Knob, KnobConfig, PirConfig, Session, SessionConfig,
    StatusLed, StatusPattern, Strip, StripConfig,
};
use easel_protocol::{Palette, Rgb, Signal as Sig};
use embassy_executor::Spawner;
use embassy_net::tcp::{ConnectError, TcpSocket};
use embassy_net::{Ipv4Address, Stack, StackResources};
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_sync::channel::{Channel, Receiver};
use embassy_sync::signal::Signal;
use embassy_time::{Duration, Ticker, Timer};
use esp_hal::analog::adc::{Adc, AdcConfig, AdcPin, Attenuation};
use esp_hal::gpio::{Input, InputConfig, Level, Output, OutputConfig, Pull};
use esp_hal::peripherals::{ADC1, GPIO3};
use esp_hal::rng::Rng;
use esp_hal::spi::{
    self,
    master::{Spi, SpiDma},
};
use esp_hal::time::Rate;
use esp_hal::timer::timg::TimerGroup;
use esp_hal::{Async, dma_rx_buffer, dma_tx_buffer};
use esp_radio::wifi::sta::StationConfig;
use esp_radio::wifi::{
    AuthenticationMethodConfig, Config as WifiConfig, ControllerConfig, Interface, WifiController,
};
use static_cell::StaticCell;
use strip::{DmaStrip, frame_len};

esp_bootloader_esp_idf::esp_app_desc!();

const STRIP_LEN: usize = 30;
const STRIP_FRAME: usize = frame_len(STRIP_LEN);
/// Time between attempts to rejoin the network after a failed join.
const WIFI_RETRY: Duration = Duration::from_secs(5);

static EVENTS: Channel<CriticalSectionRawMutex, InputEvent, 16> = Channel::new();
static PALETTE: Signal<CriticalSectionRawMutex, Palette> = Signal::new();
static PATTERN: AtomicU8 = AtomicU8::new(0);

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    esp_hal::system::software_reset()
}

#[embassy_executor::task]
async fn wifi_task(mut controller: WifiController<'static>) -> ! {
    loop {
        // A failed join (wrong password, AP out of reach) and a dropped
        // link both end here; the MQTT session meanwhile reports the broker
        // as unreachable and retries on its own schedule.
        if controller.connect_async().await.is_ok() {
            let _ = controller.wait_for_disconnect_async().await;
        }
        Timer::after(WIFI_RETRY).await;
    }
}

#[embassy_executor::task]
async fn net_task(mut runner: embassy_net::Runner<'static, Interface>) -> ! {
    runner.run().await
}

#[embassy_executor::task]
async fn input_task(
    mut buttons: [ButtonInput<Input<'static>>; 2],
    mut encoder: EncoderInput<Input<'static>, Input<'static>>,
    mut pir: PirInput<Input<'static>>,
    mut adc: Adc<'static, ADC1<'static>, Async>,
    mut knob_pin: AdcPin<GPIO3<'static>, ADC1<'static>>,
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
            let raw = adc.read_oneshot(&mut knob_pin).await;
            if let Some(v) = knob.update(raw, now) {
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
    mut strip_bus: DmaStrip<SpiDma<'static, Async>, STRIP_LEN, STRIP_FRAME>,
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
            let _ = strip_bus.show(&pixels).await;
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

/// A fresh TCP socket to the broker per attempt, once WiFi and DHCP are up.
struct Wifi {
    stack: Stack<'static>,
    rx: [u8; 1024],
    tx: [u8; 1024],
}

impl Connector for Wifi {
    type Io<'a> = TcpSocket<'a>;
    type Error = ConnectError;

    async fn connect(&mut self) -> Result<TcpSocket<'_>, ConnectError> {
        self.stack.wait_config_up().await;
        let mut socket = TcpSocket::new(self.stack, &mut self.rx, &mut self.tx);
        socket.set_timeout(Some(Duration::from_secs(30)));
        let [a, b, c, d] = config::BROKER_IP;
        socket
            .connect((Ipv4Address::new(a, b, c, d), config::BROKER_PORT))
            .await?;
        Ok(socket)
    }
}

/// FNV-1a of the controller id: mixed into the reconnect jitter so that
/// controllers restarted together do not retry in lockstep.
fn id_hash() -> u32 {
    config::CONTROLLER_ID.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ b as u32).wrapping_mul(0x0100_0193)
    })
}

fn station_config() -> WifiConfig {
    let Ok(ssid) = config::WIFI_SSID.try_into() else {
        panic!("EASEL_WIFI_SSID rejected by the WiFi driver");
    };
    let auth = if config::WIFI_PASSWORD.is_empty() {
        AuthenticationMethodConfig::Open
    } else {
        let Ok(password) = config::WIFI_PASSWORD.try_into() else {
            panic!("EASEL_WIFI_PASSWORD rejected by the WiFi driver");
        };
        AuthenticationMethodConfig::Wpa2Personal(password)
    };
    WifiConfig::Station(
        StationConfig::default()
            .with_ssid(ssid)
            .with_authentication(auth),
    )
}

#[esp_rtos::main]
async fn main(spawner: Spawner) {
    let p = esp_hal::init(esp_hal::Config::default());
    // The heap for the WiFi driver and the scheduler's threads, sized as
    // esp-radio recommends: 64 KiB in the RAM the second-stage bootloader
    // used and hands back once the application runs, 36 KiB more in .bss.
    esp_alloc::heap_allocator!(#[esp_hal::ram(reclaimed)] size: 64 * 1024);
    esp_alloc::heap_allocator!(size: 36 * 1024);

    let timg0 = TimerGroup::new(p.TIMG0);
    esp_rtos::start(timg0.timer0, p.FROM_CPU_INTR0);

    let interface = Interface::station();
    let Ok(controller) = WifiController::new(
        p.WIFI,
        ControllerConfig::default().with_initial_config(station_config()),
    ) else {
        panic!("WiFi driver did not start");
    };
    spawner.spawn(wifi_task(controller).unwrap());

    let rng = Rng::new();
    let seed = (rng.random() as u64) << 32 | rng.random() as u64;
    static RESOURCES: StaticCell<StackResources<3>> = StaticCell::new();
    let (stack, net_runner) = embassy_net::new(
        interface,
        embassy_net::Config::dhcpv4(Default::default()),
        RESOURCES.init(StackResources::new()),
        seed,
    );
    spawner.spawn(net_task(net_runner).unwrap());

    let pull_up = InputConfig::default().with_pull(Pull::Up);
    let timings = ButtonTimings::default();
    let buttons = [
        ButtonInput::new(Input::new(p.GPIO4, pull_up), "button1", true, timings),
        ButtonInput::new(Input::new(p.GPIO5, pull_up), "button2", true, timings),
    ];
    let encoder = EncoderInput::new(
        Input::new(p.GPIO6, pull_up),
        Input::new(p.GPIO7, pull_up),
        "enc1",
        EncoderConfig::default(),
    );
    let pir = PirInput::new(
        Input::new(p.GPIO10, InputConfig::default().with_pull(Pull::Down)),
        "presence",
        PirConfig::default(),
    );
    // 11 dB: the widest input range (about 0 to 2.5 V on the C3).
    let mut adc_config = AdcConfig::new();
    let knob_pin = adc_config.enable_pin(p.GPIO3, Attenuation::_11dB);
    let adc = Adc::new(p.ADC1, adc_config).into_async();
    spawner.spawn(input_task(buttons, encoder, pir, adc, knob_pin).unwrap());

    let strip_cfg = spi::master::Config::default()
        .with_frequency(Rate::from_hz(easel_firmware::ws2812::SPI_HZ))
        .with_mode(spi::Mode::_0);
    let Ok(strip_spi) = Spi::new(p.SPI2, strip_cfg) else {
        panic!("SPI2 rejected the WS2812 clock");
    };
    // The frame in DRAM is streamed in place; the driver's bounce buffer
    // holds a whole frame anyway, so that a copied write would still be
    // one gapless transfer (nothing is read back: 4 bytes for RX).
    let (Ok(rx), Ok(tx)) = (dma_rx_buffer!(4), dma_tx_buffer!(STRIP_FRAME)) else {
        panic!("DMA buffers");
    };
    let strip_spi = strip_spi
        .with_mosi(p.GPIO0)
        .with_dma(p.DMA_CH0)
        .with_buffers(rx, tx)
        .into_async();
    let status = Output::new(p.GPIO1, Level::Low, OutputConfig::default());
    spawner.spawn(led_task(status, DmaStrip::new(strip_spi)).unwrap());

    let config = SessionConfig::new(config::PREFIX, config::CONTROLLER_ID, config::NODE);
    let Ok(mut session) = Session::new(config, id_hash() ^ rng.random()) else {
        panic!("invalid controller config");
    };
    static BUFFERS: StaticCell<([u8; 512], [u8; 1024])> = StaticCell::new();
    let (rx, tx) = BUFFERS.init(([0; 512], [0; 1024]));
    let Ok(client_config) = mqtt::client_config(&session, minimq::Buffers::new(rx, tx)) else {
        panic!("invalid MQTT config");
    };
    let mut client = minimq::Session::new(client_config);
    static NET: StaticCell<Wifi> = StaticCell::new();
    let net = NET.init(Wifi {
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
