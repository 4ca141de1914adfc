//! References that carry both a tag and a digest, `name:tag@sha256:<64 hex>`, as Renovate
//! and hand-pinning write them. cipug keeps the two apart: the tag is what to follow
//! (TAGGED), the digest what runs now (HASHED). Pure: no I/O.

use crate::formats::image::reference::{valid_digest, ImageRef, Pin};

/// Splits `value` into the tagged reference and the pin `<Name>@<digest>` (the name
/// normalised as skopeo prints it), or `None` when it is not a tag with a valid digest.
/// Values with `${...}` are left alone: their parts are only known after interpolation.
pub fn split(value: &str) -> Option<(String, String)> {
    if value.contains('$') {
        return None;
    }
    let (tagged, digest) = value.split_once('@')?;
    // A digest without a tag pins on purpose: there is no tag to follow.
    let has_tag = tagged
        .rsplit('/')
        .next()
        .is_some_and(|last| last.contains(':'));
    if !valid_digest(digest) || !has_tag {
        return None;
    }
    let reference = ImageRef::parse(tagged).ok()?;
    let pin = Pin::new(&reference.name(), digest).ok()?;
    Some((tagged.to_owned(), pin.as_str().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_and_digest_are_split() {
        let d = format!("sha256:{}", "a".repeat(64));
        let cases: Vec<(String, Option<(&str, String)>)> = vec![
            (
                format!("nginx:1.27@{d}"),
                Some(("nginx:1.27", format!("docker.io/library/nginx@{d}"))),
            ),
            (
                format!("ghcr.io/o/app:v2@{d}"),
                Some(("ghcr.io/o/app:v2", format!("ghcr.io/o/app@{d}"))),
            ),
            (format!("nginx@{d}"), None),
            (format!("127.0.0.1:5000/app@{d}"), None),
            (
                format!("127.0.0.1:5000/app:1@{d}"),
                Some(("127.0.0.1:5000/app:1", format!("127.0.0.1:5000/app@{d}"))),
            ),
            ("nginx:1.27@sha256:abc".into(), None),
            ("nginx:1.27".into(), None),
            (format!("${{REG}}/app:1@{d}"), None),
        ];
        for (value, want) in cases {
            let got = split(&value);
            let want = want.map(|(t, p)| (t.to_owned(), p));
            assert_eq!(got, want, "{value}");
        }
    }
}
