//! Version tags (`1.27`, `v2.3.1`, `16-alpine`, `8.2.1-apache`, `1.2.3-rc1`) and the newest
//! patch, minor and major release among a repository's tags with the same shape: the same
//! `v` prefix, the same number of components and the same suffix. A pre-release (`-rc1`,
//! `-beta`, `-alpha.2`) is never chosen unless the current tag is one. Pure.

use std::cmp::Ordering;

use serde::Serialize;

/// Words that start a pre-release suffix.
const PRE_RELEASE: &[&str] = &["alpha", "beta", "rc", "pre", "preview", "dev", "snapshot"];

/// A tag that is a version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionTag {
    /// The tag as written.
    pub tag: String,
    v_prefix: bool,
    numbers: Vec<u64>,
    /// The pre-release part (`rc1`), if any.
    pre: Option<String>,
    /// The rest of the suffix (`alpine`, `apache`), empty if none.
    variant: String,
}

/// The newest releases newer than a tag, one per level.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Newer {
    /// Same major and minor, higher patch.
    pub patch: Option<String>,
    /// Same major, higher minor.
    pub minor: Option<String>,
    /// Higher major.
    pub major: Option<String>,
}

impl Newer {
    /// Whether anything newer exists.
    pub fn any(&self) -> bool {
        self.patch.is_some() || self.minor.is_some() || self.major.is_some()
    }

    /// `patch 1.2.5, minor 1.4.0, major 2.0.1`, the levels that exist.
    pub fn describe(&self) -> String {
        [
            ("patch", &self.patch),
            ("minor", &self.minor),
            ("major", &self.major),
        ]
        .iter()
        .filter_map(|(level, tag)| tag.as_ref().map(|t| format!("{level} {t}")))
        .collect::<Vec<_>>()
        .join(", ")
    }

    /// The tag `TAG_UPDATE` moves to: `patch` takes the newest patch, `minor` the newest
    /// release with the same major.
    pub fn target(&self, mode: &str) -> Option<&str> {
        match mode {
            "patch" => self.patch.as_deref(),
            "minor" => self.minor.as_deref().or(self.patch.as_deref()),
            _ => None,
        }
    }
}

impl VersionTag {
    /// Parses `tag`; `None` when it is not a version (`latest`, `stable`, `bookworm`).
    pub fn parse(tag: &str) -> Option<VersionTag> {
        let (v_prefix, rest) = match tag.strip_prefix('v') {
            Some(rest) => (true, rest),
            None => (false, tag),
        };
        let (version, suffix) = rest.split_once('-').unwrap_or((rest, ""));
        let numbers: Vec<u64> = version
            .split('.')
            .map(|n| {
                if n.is_empty() || n.len() > 9 || !n.bytes().all(|b| b.is_ascii_digit()) {
                    None
                } else {
                    n.parse().ok()
                }
            })
            .collect::<Option<_>>()?;
        if numbers.len() > 4 || (rest.contains('-') && suffix.is_empty()) {
            return None;
        }
        let (first, others) = suffix.split_once('-').unwrap_or((suffix, ""));
        let word = first.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
        let (pre, variant) = if PRE_RELEASE.contains(&word.to_ascii_lowercase().as_str()) {
            (Some(first.to_owned()), others.to_owned())
        } else {
            (None, suffix.to_owned())
        };
        Some(VersionTag {
            tag: tag.to_owned(),
            v_prefix,
            numbers,
            pre,
            variant,
        })
    }

    /// Whether this is a pre-release.
    pub fn is_pre_release(&self) -> bool {
        self.pre.is_some()
    }

    /// Whether `other` has this tag's shape (prefix, components, variant) and may be chosen.
    fn same_shape(&self, other: &VersionTag) -> bool {
        self.v_prefix == other.v_prefix
            && self.numbers.len() == other.numbers.len()
            && self.variant == other.variant
            && (other.pre.is_none() || self.pre.is_some())
    }

    /// Version order: numbers, then a release after its pre-releases, then the pre-release
    /// word and number.
    fn order(&self, other: &VersionTag) -> Ordering {
        self.numbers
            .cmp(&other.numbers)
            .then_with(|| match (&self.pre, &other.pre) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(a), Some(b)) => pre_key(a).cmp(&pre_key(b)),
            })
    }

    /// The newest patch, minor and major release among `tags`.
    pub fn newer<'t>(&self, tags: impl IntoIterator<Item = &'t str>) -> Newer {
        let mut newer = Newer::default();
        let mut best: [Option<VersionTag>; 3] = [None, None, None];
        for tag in tags {
            let Some(candidate) = VersionTag::parse(tag) else {
                continue;
            };
            if !self.same_shape(&candidate) || candidate.order(self) != Ordering::Greater {
                continue;
            }
            // The first component that differs names the level (patch when only the
            // pre-release part or a fourth component differs).
            let differs = (0..self.numbers.len())
                .find(|&i| candidate.numbers[i] != self.numbers[i])
                .unwrap_or(2)
                .min(2);
            let level = 2 - differs;
            let slot = &mut best[level];
            if slot
                .as_ref()
                .is_none_or(|b| candidate.order(b) == Ordering::Greater)
            {
                *slot = Some(candidate);
            }
        }
        let [patch, minor, major] = best.map(|b| b.map(|t| t.tag));
        newer.patch = patch;
        newer.minor = minor;
        newer.major = major;
        newer
    }
}

/// `rc10` -> ("rc", 10), `beta.2` -> ("beta", 2), `beta` -> ("beta", 0).
fn pre_key(pre: &str) -> (String, u64) {
    let word = pre.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
    let number = pre[word.len()..]
        .trim_start_matches('.')
        .parse()
        .unwrap_or(0);
    (word.to_ascii_lowercase(), number)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TAGS: &[&str] = &[
        "latest",
        "1",
        "1.2",
        "1.2.3",
        "1.2.4",
        "1.2.5",
        "1.2.6-rc1",
        "1.3.0",
        "1.4.1",
        "1.4.1-alpine",
        "1.5.0-alpine",
        "1.10.0-beta2",
        "2.0.0",
        "2.1.0",
        "3.0.0-rc1",
        "v1.2.9",
        "1.2.10-alpine",
        "1.2.4-alpine",
        "16",
        "17",
        "17-alpine",
        "18-alpine",
        "19-rc1-alpine",
        "8.2.1-apache",
        "8.2.2-apache",
        "8.3.0-fpm",
        "1.2.3-rc2",
        "1.2.3-rc10",
    ];

    fn newer(tag: &str) -> Newer {
        VersionTag::parse(tag).unwrap().newer(TAGS.iter().copied())
    }

    fn n(patch: Option<&str>, minor: Option<&str>, major: Option<&str>) -> Newer {
        Newer {
            patch: patch.map(str::to_owned),
            minor: minor.map(str::to_owned),
            major: major.map(str::to_owned),
        }
    }

    #[test]
    fn newest_of_each_level_with_the_same_shape() {
        let cases = [
            ("1.2.3", n(Some("1.2.5"), Some("1.4.1"), Some("2.1.0"))),
            (
                "1.2.4-alpine",
                n(Some("1.2.10-alpine"), Some("1.5.0-alpine"), None),
            ),
            ("1.2", n(None, None, None)),
            ("16", n(None, None, Some("17"))),
            ("17-alpine", n(None, None, Some("18-alpine"))),
            ("8.2.1-apache", n(Some("8.2.2-apache"), None, None)),
            ("v1.2.3", n(Some("v1.2.9"), None, None)),
            ("2.1.0", n(None, None, None)),
            // A pre-release may move to later pre-releases.
            (
                "1.2.3-rc2",
                n(Some("1.2.6-rc1"), Some("1.10.0-beta2"), Some("3.0.0-rc1")),
            ),
            ("2.1.0-rc1", n(Some("2.1.0"), None, Some("3.0.0-rc1"))),
        ];
        for (tag, want) in cases {
            assert_eq!(newer(tag), want, "{tag}");
        }
    }

    #[test]
    fn what_is_a_version() {
        for tag in [
            "latest",
            "stable",
            "bookworm",
            "1.2.3.4.5",
            "1..2",
            "-1",
            "1-",
            "v",
        ] {
            assert!(VersionTag::parse(tag).is_none(), "{tag}");
        }
        assert!(VersionTag::parse("1.2.3-rc.1").unwrap().is_pre_release());
        let rc = VersionTag::parse("1.2.3-rc2").unwrap();
        assert_eq!(
            rc.newer(["1.2.3-rc10", "1.2.3-rc1"]).patch.as_deref(),
            Some("1.2.3-rc10")
        );
        assert_eq!(
            rc.newer(["1.2.3-rc10", "1.2.3"]).patch.as_deref(),
            Some("1.2.3")
        );
        assert!(!VersionTag::parse("16-alpine3.20").unwrap().is_pre_release());
        assert_eq!(
            n(Some("1.2.5"), Some("1.4.1"), None).target("minor"),
            Some("1.4.1")
        );
        assert_eq!(n(Some("1.2.5"), None, None).target("minor"), Some("1.2.5"));
        assert_eq!(n(None, Some("1.4.1"), None).target("patch"), None);
        assert_eq!(
            n(Some("1.2.5"), None, Some("2")).describe(),
            "patch 1.2.5, major 2"
        );
    }
}
