//! easel controller on an ESP32-C3 (WiFi station, esp-hal).
//!
//! Wiring glue only: every decision lives in `easel-firmware`, the same
//! code the RP2040 board and the Linux controller run. Tasks:
//! - `input_task` samples buttons, the encoder and the PIR every
//!   millisecond and the knob every 10 ms, and sends events to a channel;
//! - `led_task` plays the status LED pattern and the palette on the strip;
//! - `wifi_task` joins the network, rejoins after every drop, and tries
//!   the networks that on-site setup asks for; `net_task` runs the IP
//!   stack (DHCP, DNS);
//! - `setup::setup_task` serves Improv serial on the USB port (on-site
//!   setup of WiFi and broker) and keeps the settings in flash;
//! - `main` runs the MQTT session, afresh whenever setup changes the
//!   broker.
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
//! Controller id, node and prefix are fixed at build time (see build.rs);
//! WiFi, broker and broker login start as the build-time values and are
//! replaced by what on-site setup stored in flash. The broker is found by
//! name (DNS) or IPv4 address at every connection attempt. On panic the
//! chip resets: an unattended piece should come back on its own.

#![no_std]
#![no_main]

mod config {
    include!(concat!(env!("OUT_DIR"), "/config.rs"));
}
mod setup;
mod strip;

use core::cell::RefCell;
use core::sync::atomic::{AtomicU8, Ordering};
use easel_firmware::improv::{DeviceInfo, Failure, Provisioner};
use easel_firmware::mqtt::{self, Connector, Hooks, Inputs};
use easel_firmware::pins::{ButtonInput, EncoderInput, PirInput};
use easel_firmware::session::Update;
use easel_firmware::site::SiteSettings;
use easel_firmware::{
    ButtonTimings, EncoderConfig, InputEvent, Knob, KnobConfig, PirConfig, Session, SessionConfig,
    StatusLed, StatusPattern, Strip, StripConfig,
};
use easel_protocol::{Palette, Rgb, Signal as Sig};
use embassy_executor::Spawner;
use embassy_futures::select::{Either, select};
use embassy_net::dns::DnsQueryType;
use embassy_net::tcp::{ConnectError, TcpSocket};
use embassy_net::{IpAddress, Stack, StackResources};
use embassy_sync::blocking_mutex::Mutex;
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_sync::channel::{Channel, Receiver};
use embassy_sync::signal::Signal;
use embassy_time::{Duration, Ticker, Timer, with_timeout};
use esp_bootloader_esp_idf::partitions::FlashStorage;
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
use esp_hal::usb::usb_serial_jtag::UsbSerialJtag;
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
/// How long a network given during setup gets to accept us.
const JOIN_TIMEOUT: Duration = Duration::from_secs(20);

static EVENTS: Channel<CriticalSectionRawMutex, InputEvent, 16> = Channel::new();
static PALETTE: Signal<CriticalSectionRawMutex, Palette> = Signal::new();
static PATTERN: AtomicU8 = AtomicU8::new(0);
/// The WiFi, broker and login in use (`None` only before `main` sets it).
static SITE: Mutex<CriticalSectionRawMutex, RefCell<Option<SiteSettings>>> =
    Mutex::new(RefCell::new(None));
/// Setup asks the WiFi task to try these settings' network.
static JOIN: Signal<CriticalSectionRawMutex, SiteSettings> = Signal::new();
/// The WiFi task's answer: joined with these settings, or why not.
static JOINED: Signal<CriticalSectionRawMutex, Result<SiteSettings, Failure>> = Signal::new();
/// The WiFi link came up (`true`) or went down.
static LINK: Signal<CriticalSectionRawMutex, bool> = Signal::new();
/// Setup kept another broker or login: reconnect with it.
static BROKER_CHANGED: Signal<CriticalSectionRawMutex, ()> = Signal::new();

/// The settings in use.
fn current_site() -> SiteSettings {
    SITE.lock(|s| s.borrow().clone())
        .unwrap_or_else(build_time_site)
}

/// Makes `site` the settings in use (setup kept it).
fn set_site(site: SiteSettings) {
    SITE.lock(|s| *s.borrow_mut() = Some(site));
}

/// The build-time settings (build.rs validated them with the same code).
fn build_time_site() -> SiteSettings {
    let site = match config::WIFI_SSID {
        "" => {
            SiteSettings::without_wifi(config::BROKER, config::MQTT_USERNAME, config::MQTT_PASSWORD)
        }
        ssid => SiteSettings::new(
            ssid,
            config::WIFI_PASSWORD,
            config::BROKER,
            config::MQTT_USERNAME,
            config::MQTT_PASSWORD,
        ),
    };
    let Ok(site) = site else {
        panic!("build-time settings rejected");
    };
    site
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    esp_hal::system::software_reset()
}

#[embassy_executor::task]
async fn wifi_task(mut controller: WifiController<'static>) -> ! {
    let mut connected = false;
    loop {
        // A failed join (wrong password, AP out of reach) and a dropped
        // link both end up retrying here; the MQTT session meanwhile
        // reports the broker as unreachable and retries on its own
        // schedule. Setup's requests are taken at any point.
        let request = if connected {
            match select(controller.wait_for_disconnect_async(), JOIN.wait()).await {
                Either::First(_) => {
                    connected = false;
                    LINK.signal(false);
                    None
                }
                Either::Second(candidate) => Some(candidate),
            }
        } else if !current_site().has_wifi() {
            // Built without a network and not set up yet: wait for setup.
            Some(JOIN.wait().await)
        } else {
            match select(controller.connect_async(), JOIN.wait()).await {
                Either::First(Ok(_)) => {
                    connected = true;
                    LINK.signal(true);
                    None
                }
                Either::First(Err(_)) => {
                    match select(Timer::after(WIFI_RETRY), JOIN.wait()).await {
                        Either::First(()) => None,
                        Either::Second(candidate) => Some(candidate),
                    }
                }
                Either::Second(candidate) => Some(candidate),
            }
        };
        if let Some(candidate) = request {
            connected = try_network(&mut controller, &candidate).await;
            if connected {
                JOINED.signal(Ok(candidate));
            } else {
                // Back to the network that worked before; nothing was kept.
                let _ = controller.set_config(&station_config(&current_site()));
                JOINED.signal(Err(Failure::Join));
            }
        }
    }
}

/// Leaves the current network and joins `site`'s.
async fn try_network(controller: &mut WifiController<'static>, site: &SiteSettings) -> bool {
    // Bounded: a disconnect whose event never comes must not stall setup.
    let _ = with_timeout(Duration::from_secs(5), controller.disconnect_async()).await;
    if controller.set_config(&station_config(site)).is_err() {
        return false;
    }
    matches!(
        with_timeout(JOIN_TIMEOUT, controller.connect_async()).await,
        Ok(Ok(_))
    )
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

/// A fresh TCP socket to the broker per attempt, once WiFi and DHCP are
/// up; the broker's name is looked up each time (DNS from DHCP), so a
/// broker that moves is found again.
struct Wifi {
    stack: Stack<'static>,
    rx: [u8; 1024],
    tx: [u8; 1024],
}

#[derive(Debug)]
enum NetError {
    /// The name did not resolve to an IPv4 address.
    Dns,
    /// TCP connect failed (refused, unreachable, timed out).
    Connect,
}

impl Connector for Wifi {
    type Io<'a> = TcpSocket<'a>;
    type Error = NetError;

    async fn connect(&mut self) -> Result<TcpSocket<'_>, NetError> {
        self.stack.wait_config_up().await;
        let site = current_site();
        let broker = site.broker();
        // An IPv4 literal is answered without a query.
        let ip = self
            .stack
            .dns_query(broker.host, DnsQueryType::A)
            .await
            .ok()
            .and_then(|ips| ips.first().copied())
            .ok_or(NetError::Dns)?;
        let IpAddress::Ipv4(ip) = ip;
        let mut socket = TcpSocket::new(self.stack, &mut self.rx, &mut self.tx);
        socket.set_timeout(Some(Duration::from_secs(30)));
        socket
            .connect((ip, broker.port))
            .await
            .map_err(|_: ConnectError| NetError::Connect)?;
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

fn station_config(site: &SiteSettings) -> WifiConfig {
    // SiteSettings holds only what the driver accepts (1-32 byte name,
    // 8-63 character passphrase): these conversions cannot fail.
    let ssid = site.ssid().try_into().unwrap_or_default();
    let auth = match site.passphrase() {
        "" => AuthenticationMethodConfig::Open,
        p => AuthenticationMethodConfig::Wpa2Personal(p.try_into().unwrap_or_default()),
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

    // The settings kept by on-site setup, else the build-time ones.
    let mut store = setup::Store::open(FlashStorage::new(p.FLASH));
    let site = store
        .as_mut()
        .and_then(|s| s.load().ok())
        .unwrap_or_else(build_time_site);
    let station = station_config(&site);
    set_site(site);
    let (usb_rx, usb_tx) = UsbSerialJtag::new(p.USB_DEVICE).into_async().split();
    let improv = Provisioner::new(DeviceInfo {
        firmware: env!("CARGO_PKG_NAME"),
        version: env!("CARGO_PKG_VERSION"),
        chip: "ESP32-C3",
        name: config::CONTROLLER_ID,
    });
    spawner.spawn(setup::setup_task(usb_rx, usb_tx, store, improv).unwrap());

    let interface = Interface::station();
    let Ok(controller) = WifiController::new(
        p.WIFI,
        ControllerConfig::default().with_initial_config(station),
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
    static BUFFERS: StaticCell<([u8; 512], [u8; 1024])> = StaticCell::new();
    let (rx, tx) = BUFFERS.init(([0; 512], [0; 1024]));
    static NET: StaticCell<Wifi> = StaticCell::new();
    let net = NET.init(Wifi {
        stack,
        rx: [0; 1024],
        tx: [0; 1024],
    });
    let mut events = Events(EVENTS.receiver());
    loop {
        // One MQTT session per broker setting: when setup keeps another
        // broker or login, this one says `offline`, disconnects, and the
        // next starts with the new settings. (Reset before reading them:
        // a change in between is then not lost.)
        BROKER_CHANGED.reset();
        let site = current_site();
        let Ok(mut session) = Session::new(config, id_hash() ^ rng.random()) else {
            panic!("invalid controller config");
        };
        let Ok(mut client_config) =
            mqtt::client_config(&session, minimq::Buffers::new(&mut rx[..], &mut tx[..]))
        else {
            panic!("invalid MQTT config");
        };
        if let Some((user, password)) = site.login() {
            let Ok(with_login) = client_config.auth(user, password.as_bytes()) else {
                panic!("MQTT login rejected by the client");
            };
            client_config = with_login;
        }
        let mut client = minimq::Session::new(client_config);
        mqtt::run(
            &mut session,
            &mut client,
            net,
            &mut events,
            &mut Board,
            BROKER_CHANGED.wait(),
        )
        .await;
    }
}
