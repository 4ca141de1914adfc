//! `WWW-Authenticate` challenge parsing.
//!
//! Input: any bytes, taken as UTF-8 text (other inputs are skipped). Checks: `parse` never
//! panics; an accepted Bearer challenge has a non-empty realm without control characters
//! (the realm becomes the URL of a token request); an accepted challenge's scheme is the
//! first word of the header, `Basic` or `Bearer` in any case.

#![no_main]

use cipug::resolve::native::challenge::{parse, Challenge};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(header) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(challenge) = parse(header) else {
        return;
    };
    let scheme = header
        .trim()
        .split(char::is_whitespace)
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    match challenge {
        Challenge::Basic => assert_eq!(scheme, "basic", "{header:?}"),
        Challenge::Bearer { realm, .. } => {
            assert_eq!(scheme, "bearer", "{header:?}");
            assert!(!realm.is_empty(), "empty realm from {header:?}");
            assert!(
                !realm.contains(char::is_control),
                "realm {realm:?} from {header:?} has control characters"
            );
        }
    }
});
