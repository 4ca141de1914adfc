//! What a container tool's `--version` says: `podman version 5.4.2`,
//! `Docker version 20.10.24+dfsg1, build 297e128`. doctor names the tool and version, so a
//! report tells which podman (4.3 on Debian 12, 5.4 on Debian 13) ran.

/// `"<tool> <version>"` in lower case from the first line of `--version`, or `None` when it
/// is not `<name> version <number>...`.
pub fn parse(text: &str) -> Option<String> {
    let mut words = text.lines().next()?.split_whitespace();
    let name = words.next()?.to_lowercase();
    if words.next()? != "version" {
        return None;
    }
    let version = words.next()?.trim_end_matches(',');
    version
        .starts_with(|c: char| c.is_ascii_digit())
        .then(|| format!("{name} {version}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn podman_and_docker() {
        let cases = [
            ("podman version 5.4.2\n", Some("podman 5.4.2")),
            ("podman version 4.3.1\n", Some("podman 4.3.1")),
            (
                "Docker version 20.10.24+dfsg1, build 297e128\n",
                Some("docker 20.10.24+dfsg1"),
            ),
            (
                "Docker version 26.1.5+dfsg1, build a72d7cd\n",
                Some("docker 26.1.5+dfsg1"),
            ),
            ("podman version\n", None),
            ("usage: podman [options]\n", None),
            ("", None),
        ];
        for (text, expected) in cases {
            assert_eq!(parse(text).as_deref(), expected, "{text:?}");
        }
    }
}
