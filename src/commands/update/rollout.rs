//! `cipug update --pins FILE`: the pins another host tested, rolled out here. Each entry whose
//! TAGGED reference is in FILE moves to exactly that pin (even when the tag has moved on
//! since), through the same pull, snapshot, gate and rollback as any update; nothing is
//! resolved, no newer-version tags are looked for and no cool-down applies (the host that
//! tested the pins waited). Entries not in FILE are left alone and reported. A pin the
//! registry no longer serves fails at the pull, before anything is touched (exit 33).

use std::io::Read;

use crate::error::{Error, Result};
use crate::formats::pins_file::{self, Pins};
use crate::pipeline::record::summary::Row;
use crate::pipeline::service::Service;
use crate::resolve::Resolutions;

/// The largest pins file read (1 MiB).
const LIMIT: u64 = 1 << 20;

/// Reads the pins from `source`: a file, or standard input for `-`.
pub fn read(source: &str) -> Result<Pins> {
    let mut text = String::new();
    let name = if source == "-" {
        "standard input"
    } else {
        source
    };
    let read = if source == "-" {
        std::io::stdin().take(LIMIT).read_to_string(&mut text)
    } else {
        let file = std::fs::File::open(source).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::FileNotFound(source.into()),
            _ => Error::io(source, e),
        })?;
        file.take(LIMIT).read_to_string(&mut text)
    };
    read.map_err(|e| Error::io(name, e))?;
    pins_file::parse(&text).map_err(|e| Error::Value(format!("pins from {name}: {e}")))
}

/// The services with only their entries that `pins` names (a service with none is left
/// out), and a `not in pins` row for each other entry.
pub fn select(loaded: &[Service], pins: &Pins) -> (Vec<Service>, Vec<Row>) {
    let mut kept = Vec::new();
    let mut rows = Vec::new();
    for service in loaded {
        let (listed, other): (Vec<_>, Vec<_>) = service
            .images
            .iter()
            .cloned()
            .partition(|i| pins.contains_key(&i.tagged));
        rows.extend(other.iter().map(|i| {
            Row::unchanged(
                &service.dir.name,
                &i.entry,
                i.pinned.as_deref(),
                NOT_IN_PINS,
            )
        }));
        if !listed.is_empty() {
            kept.push(Service {
                images: listed,
                ..service.clone()
            });
        }
    }
    log::info!(
        "rolling out {} pins to {} services; {} entries are not in the pins and are left alone",
        pins.len(),
        kept.len(),
        rows.len()
    );
    (kept, rows)
}

/// The outcome word of an entry the pins do not name.
pub const NOT_IN_PINS: &str = "not in pins";

/// The pins as the run's resolutions: each reference resolves to its pin.
pub fn resolutions(pins: &Pins) -> Resolutions {
    pins.iter()
        .map(|(tagged, pin)| (tagged.clone(), Ok(pin.clone())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_entries_the_pins_name_are_kept() {
        let (_root, _config, dir) = crate::pipeline::fixture::service(
            "r.io/app@sha256:1111111111111111111111111111111111111111111111111111111111111111",
        );
        std::fs::write(
            &dir.env_file,
            "SERVICE_APP_IMAGE_TAGGED=r.io/app:1\nSERVICE_DB_IMAGE_TAGGED=r.io/db:1\n",
        )
        .unwrap();
        let service = crate::pipeline::service::load(&dir).unwrap();
        let pins = pins_file::parse(
            "r.io/app:1 r.io/app@sha256:2222222222222222222222222222222222222222222222222222222222222222\n",
        )
        .unwrap();
        let (kept, rows) = select(std::slice::from_ref(&service), &pins);
        assert_eq!(kept.len(), 1);
        let entries: Vec<&str> = kept[0].images.iter().map(|i| i.entry.as_str()).collect();
        assert_eq!(entries, ["APP"]);
        assert_eq!(rows.len(), 1);
        assert_eq!(
            (rows[0].entry.as_str(), rows[0].outcome.as_str()),
            ("DB", NOT_IN_PINS)
        );
        assert!(resolutions(&pins)["r.io/app:1"].is_ok());
        let (none, _) = select(&[service], &Pins::new());
        assert!(
            none.is_empty(),
            "a service the pins do not name is not touched"
        );
    }
}
