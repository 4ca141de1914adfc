//! The pins `cipug update --pins FILE` rolls out: which digest each TAGGED reference is to
//! run, as another host tested it. FILE is either what `cipug check --format json` printed
//! there (each entry's `tagged` reference and its `pinned` digest, the one that host runs),
//! or lines of `<tagged reference> <pin>` (`#` starts a comment). A pin must name the same
//! image as its reference (`nginx:1.27` → `docker.io/library/nginx@sha256:…`, or the name
//! as written), and a reference may have one pin only. This module does no I/O.

use std::collections::BTreeMap;

use crate::formats::image::reference::{ImageRef, ParseError, Pin};

/// TAGGED reference (as written in the `.env`) → the pin to run.
pub type Pins = BTreeMap<String, Pin>;

/// Why a pins file cannot be read: the line (or the JSON entry) and what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum PinsError {
    /// A line that is not two words.
    #[error("line {line}: `{text}` is not `<tagged reference> <name>@sha256:<digest>`")]
    NotAPair {
        /// The line's number, from 1.
        line: usize,
        /// The line without its comment.
        text: String,
    },
    /// A line whose reference or pin is wrong.
    #[error("line {line}: {error}")]
    Line {
        /// The line's number, from 1.
        line: usize,
        /// What is wrong with it.
        error: EntryError,
    },
    /// Text that starts like JSON but is not JSON.
    #[error("not the JSON of `cipug check`: {0}")]
    Json(#[source] serde_json::Error),
    /// JSON without the `services` of `cipug check`.
    #[error("not the JSON of `cipug check`: no `services` list")]
    NoServices,
    /// A JSON entry whose reference or pin is wrong.
    #[error("{service} {entry}: {error}")]
    Entry {
        /// The service's name as the JSON gives it.
        service: String,
        /// The entry's name.
        entry: String,
        /// What is wrong with it.
        error: EntryError,
    },
}

/// What is wrong with one reference and its pin.
#[derive(Debug, thiserror::Error)]
pub enum EntryError {
    /// The reference or the pin does not parse.
    #[error("`{text}`: {error}")]
    Unparsed {
        /// The word as written.
        text: String,
        /// Why it does not parse.
        #[source]
        error: ParseError,
    },
    /// The pin names another image than its reference.
    #[error("{pin} is not an image of {tagged}")]
    OtherImage {
        /// The pin.
        pin: String,
        /// The reference.
        tagged: String,
    },
    /// A reference with two different pins.
    #[error("{tagged} has two pins: {first} and {second}")]
    TwoPins {
        /// The reference.
        tagged: String,
        /// The pin seen first.
        first: String,
        /// The pin seen later.
        second: String,
    },
}

/// Reads a pins file; the error names the line (or the JSON entry) and what is wrong.
pub fn parse(text: &str) -> Result<Pins, PinsError> {
    if text.trim_start().starts_with('{') {
        return from_check_json(text);
    }
    let mut pins = Pins::new();
    for (number, line) in text.lines().enumerate() {
        let line = line
            .split_once('#')
            .map_or(line, |(before, _)| before)
            .trim();
        if line.is_empty() {
            continue;
        }
        let mut words = line.split_whitespace();
        let (Some(tagged), Some(pin), None) = (words.next(), words.next(), words.next()) else {
            return Err(PinsError::NotAPair {
                line: number + 1,
                text: line.to_owned(),
            });
        };
        add(&mut pins, tagged, pin).map_err(|error| PinsError::Line {
            line: number + 1,
            error,
        })?;
    }
    Ok(pins)
}

/// The pins of `cipug check --format json`: each pinned entry's reference and pin.
fn from_check_json(text: &str) -> Result<Pins, PinsError> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(PinsError::Json)?;
    let services = value["services"].as_array().ok_or(PinsError::NoServices)?;
    let mut pins = Pins::new();
    for service in services {
        let name = service["name"].as_str().unwrap_or("?");
        for image in service["images"].as_array().into_iter().flatten() {
            let entry = image["entry"].as_str().unwrap_or("?");
            let (Some(tagged), Some(pin)) = (image["tagged"].as_str(), image["pinned"].as_str())
            else {
                continue;
            };
            add(&mut pins, tagged, pin).map_err(|error| PinsError::Entry {
                service: name.to_owned(),
                entry: entry.to_owned(),
                error,
            })?;
        }
    }
    Ok(pins)
}

fn add(pins: &mut Pins, tagged: &str, pin: &str) -> Result<(), EntryError> {
    let unparsed = |text: &str| {
        let text = text.to_owned();
        move |error| EntryError::Unparsed { text, error }
    };
    let reference = ImageRef::parse(tagged).map_err(unparsed(tagged))?;
    let parsed = Pin::parse(pin).map_err(unparsed(pin))?;
    let image = ImageRef::parse(parsed.as_str()).map_err(unparsed(pin))?;
    if (image.registry.as_str(), image.repository.as_str())
        != (reference.registry.as_str(), reference.repository.as_str())
    {
        return Err(EntryError::OtherImage {
            pin: pin.to_owned(),
            tagged: tagged.to_owned(),
        });
    }
    match pins.get(tagged) {
        Some(other) if other != &parsed => Err(EntryError::TwoPins {
            tagged: tagged.to_owned(),
            first: other.as_str().to_owned(),
            second: pin.to_owned(),
        }),
        _ => {
            pins.insert(tagged.to_owned(), parsed);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str =
        "r.io/app@sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const B: &str =
        "r.io/app@sha256:2222222222222222222222222222222222222222222222222222222222222222";

    #[test]
    fn lines_and_the_json_of_check() {
        let pins = parse(&format!(
            "# tested on the canary\nr.io/app:1 {A}  # app\n\n"
        ))
        .unwrap();
        assert_eq!(pins["r.io/app:1"].as_str(), A);
        let json = serde_json::json!({"services": [
            {"name": "web", "images": [
                {"entry": "APP", "tagged": "r.io/app:1", "pinned": A, "latest": B},
                {"entry": "NEW", "tagged": "r.io/new:1", "pinned": null},
            ]},
            {"name": "other", "images": [{"entry": "APP", "tagged": "r.io/app:1", "pinned": A}]},
        ]});
        let pins = parse(&json.to_string()).unwrap();
        assert_eq!(pins.len(), 1, "unpinned entries are not pins");
        assert_eq!(
            pins["r.io/app:1"].as_str(),
            A,
            "what the host runs, not where the tag went since"
        );
    }

    #[test]
    fn what_is_refused() {
        for (text, words) in [
            (format!("r.io/app:1 {A} extra"), "line 1: "),
            ("r.io/app:1 r.io/app:2".to_owned(), "line 1: `r.io/app:2`"),
            (
                format!("r.io/other:1 {A}"),
                "is not an image of r.io/other:1",
            ),
            (
                format!("r.io/app:1 {A}\nr.io/app:1 {B}"),
                "line 2: r.io/app:1 has two pins",
            ),
            ("{\"services\": 3}".to_owned(), "no `services` list"),
            ("{".to_owned(), "not the JSON of `cipug check`"),
        ] {
            let e = parse(&text).unwrap_err().to_string();
            assert!(e.contains(words), "{text}: {e}");
        }
    }
}
