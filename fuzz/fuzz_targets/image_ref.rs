//! `ImageRef` and `Pin` parsing.
//!
//! Input: any bytes, taken as UTF-8 text (other inputs are skipped). Checks:
//! * `ImageRef::parse` never panics;
//! * when it accepts, its normalised form (`to_string()`) parses again to the same
//!   reference and prints the same (normalisation is idempotent), and `name()` is a
//!   non-empty name of at most 255 bytes (the registry limit);
//! * `Pin::parse` never accepts a value with white space, control characters, `#`, quotes
//!   or `$` (a pin is written unquoted into an env file), and what it accepts is a digest
//!   reference whose name and digest build the same pin again.

#![no_main]

use cipug::formats::image::reference::{valid_digest, ImageRef, Pin, Target};
use libfuzzer_sys::fuzz_target;

/// The longest repository name, registry included, that registries accept.
const NAME_MAX: usize = 255;

fn check_ref(input: &str) {
    let Ok(r) = ImageRef::parse(input) else {
        return;
    };
    let shown = r.to_string();
    let again = ImageRef::parse(&shown)
        .unwrap_or_else(|e| panic!("normalised form {shown:?} of {input:?} does not parse: {e}"));
    assert_eq!(again, r, "normalising {input:?} twice changes it");
    assert_eq!(again.to_string(), shown);

    let name = r.name();
    assert!(
        !name.is_empty() && name.len() <= NAME_MAX,
        "name() of {input:?} is {} bytes: {name:?}",
        name.len()
    );
    assert!(!r.api_host().is_empty() && !r.reference().is_empty());
    if let Target::Digest(d) = &r.target {
        assert!(valid_digest(d), "accepted digest {d:?}");
    }
}

fn check_pin(input: &str) {
    let Ok(pin) = Pin::parse(input) else {
        return;
    };
    let bad =
        |c: char| c.is_whitespace() || c.is_control() || matches!(c, '#' | '"' | '\'' | '`' | '$');
    assert!(!input.contains(bad), "Pin::parse accepted {input:?}");
    assert_eq!(pin.as_str(), input);
    assert!(
        valid_digest(pin.digest()),
        "pin {input:?} has digest {:?}",
        pin.digest()
    );
    let (name, digest) = input.rsplit_once('@').expect("a pin has an `@`");
    assert_eq!(Pin::new(name, digest).as_ref(), Ok(&pin));
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    check_ref(input);
    check_pin(input);
});
