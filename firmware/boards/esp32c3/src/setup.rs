//! On-site setup: Improv serial on the chip's USB port, and the settings
//! record in flash. IO only; the protocol and the record format are
//! `easel_firmware::improv` and `easel_firmware::site`.
//!
//! The record lives in the first sector of the `nvs` data partition of
//! the partition table (espflash's default layout has one; nothing else
//! in this firmware uses it). A blank, foreign or torn record reads as
//! none and the build-time settings apply.
//!
//! Setup is reachable over the USB serial port only: no visitor input
//! leads here, and a controller in its enclosure is out of reach of
//! visitors' USB cables.

use crate::{BROKER_CHANGED, JOIN, JOINED, LINK, current_site as current, set_site};
use easel_firmware::improv::{Failure, Outbox, Provisioner, Request};
use easel_firmware::site::{RECORD_LEN, RecordError, SiteSettings};
use embassy_futures::select::{Either3, select3};
use embassy_time::{Duration, with_timeout};
use embedded_io_async::{Read, Write};
use esp_bootloader_esp_idf::partitions::{
    self, DataPartitionSubType, FlashStorage, PartitionEntry, PartitionType,
};
use esp_hal::Async;
use esp_hal::usb::usb_serial_jtag::{UsbSerialJtagRx, UsbSerialJtagTx};

/// A reply the host does not read within this is dropped: an unplugged
/// port must not stall setup (the USB FIFO waits for a reader).
const WRITE_TIMEOUT: Duration = Duration::from_millis(250);

/// The settings record in flash.
pub struct Store {
    flash: FlashStorage<'static>,
    partition: PartitionEntry,
}

impl Store {
    /// Finds the `nvs` partition; `None` on a flash without one.
    pub fn open(mut flash: FlashStorage<'static>) -> Option<Store> {
        let mut table = [0u8; partitions::PARTITION_TABLE_MAX_LEN];
        let partition = partitions::read_partition_table(&mut flash, &mut table)
            .ok()?
            .find_partition(PartitionType::Data(DataPartitionSubType::Nvs))
            .ok()??;
        (partition.len() as usize >= RECORD_LEN).then_some(Store { flash, partition })
    }

    pub fn load(&mut self) -> Result<SiteSettings, RecordError> {
        let mut record = [0u8; RECORD_LEN];
        let mut region = self.partition.as_flash_region(&mut self.flash);
        region
            .read(0, &mut record)
            .map_err(|_| RecordError::Absent)?;
        SiteSettings::decode(&record)
    }

    /// Erases the sector and writes the record (the CRC makes a write cut
    /// by a power failure read as none).
    pub fn save(&mut self, site: &SiteSettings) -> Result<(), Failure> {
        let record = site.encode();
        let mut region = self.partition.as_flash_region(&mut self.flash);
        region
            .erase(0, FlashStorage::SECTOR_SIZE)
            .map_err(|_| Failure::Storage)?;
        region.write(0, &record).map_err(|_| Failure::Storage)?;
        let mut back = [0u8; RECORD_LEN];
        region.read(0, &mut back).map_err(|_| Failure::Storage)?;
        if back != record {
            return Err(Failure::Storage);
        }
        Ok(())
    }
}

async fn write(tx: &mut UsbSerialJtagTx<'static, Async>, out: &mut Outbox) {
    if !out.is_empty() {
        let _ = with_timeout(WRITE_TIMEOUT, async {
            let _ = tx.write_all(out).await;
            let _ = tx.flush().await;
        })
        .await;
        out.clear();
    }
}

/// Serves Improv on the USB serial port for the life of the firmware.
#[embassy_executor::task]
pub async fn setup_task(
    mut rx: UsbSerialJtagRx<'static, Async>,
    mut tx: UsbSerialJtagTx<'static, Async>,
    mut store: Option<Store>,
    mut improv: Provisioner,
) -> ! {
    let mut out = Outbox::new();
    let mut buf = [0u8; 64];
    loop {
        match select3(rx.read(&mut buf), LINK.wait(), JOINED.wait()).await {
            Either3::First(Ok(n)) => {
                for &byte in &buf[..n] {
                    let site = current();
                    match improv.handle_byte(byte, &site, &mut out) {
                        Some(Request::Join(candidate)) => JOIN.signal(candidate),
                        Some(Request::Keep(candidate)) => {
                            let kept = keep(&mut store, &candidate);
                            if kept.is_ok() {
                                set_site(candidate);
                                BROKER_CHANGED.signal(());
                            }
                            improv.handle_kept(kept, &current(), &mut out);
                        }
                        None => {}
                    }
                    // Replies leave before the next byte is looked at, so
                    // the outbox never holds more than one input's worth.
                    write(&mut tx, &mut out).await;
                }
            }
            Either3::First(Err(_)) => {}
            Either3::Second(up) => improv.handle_link(up, &mut out),
            Either3::Third(Err(failure)) => improv.handle_joined(Err(failure), &mut out),
            Either3::Third(Ok(candidate)) => {
                // Joined: keep the settings before saying so.
                let kept = keep(&mut store, &candidate);
                set_site(candidate);
                improv.handle_joined(kept, &mut out);
            }
        }
        write(&mut tx, &mut out).await;
    }
}

fn keep(store: &mut Option<Store>, site: &SiteSettings) -> Result<(), Failure> {
    store.as_mut().ok_or(Failure::Storage)?.save(site)
}
