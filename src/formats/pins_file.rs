//! The pins `cipug update --pins FILE` rolls out: which digest each TAGGED reference is to
//! run, as another host tested it. FILE is either what `cipug check --format json` printed
//! there (each entry's `tagged` reference and its `pinned` digest, the one that host runs),
//! or lines of `<tagged reference> <pin>` (`#` starts a comment). A pin must name the same
//! image as its reference (`nginx:1.27` → `docker.io/library/nginx@sha256:…`, or the name
//! as written), and a reference may have one pin only. This module does no I/O.

use std::collections::BTreeMap;

use crate::formats::image::reference::{ImageRef, Pin};

/// TAGGED reference (as written in the `.env`) → the pin to run.
pub type Pins = BTreeMap<String, Pin>;

/// Reads a pins file; the error names the line (or the JSON entry) and what is wrong.
pub fn parse(text: &str) -> Result<Pins, String> {
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
        let at = |e: String| format!("line {}: {e}", number + 1);
        let mut words = line.split_whitespace();
        let (Some(tagged), Some(pin), None) = (words.next(), words.next(), words.next()) else {
            return Err(at(format!(
                "`{line}` is not `<tagged reference> <name>@sha256:<digest>`"
            )));
        };
        add(&mut pins, tagged, pin).map_err(at)?;
    }
    Ok(pins)
}

/// The pins of `cipug check --format json`: each pinned entry's reference and pin.
fn from_check_json(text: &str) -> Result<Pins, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not the JSON of `cipug check`: {e}"))?;
    let services = value["services"]
        .as_array()
        .ok_or("not the JSON of `cipug check`: no `services` list")?;
    let mut pins = Pins::new();
    for service in services {
        let name = service["name"].as_str().unwrap_or("?");
        for image in service["images"].as_array().into_iter().flatten() {
            let entry = image["entry"].as_str().unwrap_or("?");
            let (Some(tagged), Some(pin)) = (image["tagged"].as_str(), image["pinned"].as_str())
            else {
                continue;
            };
            add(&mut pins, tagged, pin).map_err(|e| format!("{name} {entry}: {e}"))?;
        }
    }
    Ok(pins)
}

fn add(pins: &mut Pins, tagged: &str, pin: &str) -> Result<(), String> {
    let reference = ImageRef::parse(tagged).map_err(|e| format!("`{tagged}`: {e}"))?;
    let parsed = Pin::parse(pin).map_err(|e| format!("`{pin}`: {e}"))?;
    let image = ImageRef::parse(parsed.as_str()).map_err(|e| format!("`{pin}`: {e}"))?;
    if (image.registry.as_str(), image.repository.as_str())
        != (reference.registry.as_str(), reference.repository.as_str())
    {
        return Err(format!("{pin} is not an image of {tagged}"));
    }
    match pins.get(tagged) {
        Some(other) if other != &parsed => Err(format!(
            "{tagged} has two pins: {} and {pin}",
            other.as_str()
        )),
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
            let e = parse(&text).unwrap_err();
            assert!(e.contains(words), "{text}: {e}");
        }
    }
}
