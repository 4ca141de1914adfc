//! The settings whose value is one of a few fixed words, as enums. Each variant is declared
//! with its word, so the settings table (`Kind::Choice`), the parse at load and
//! `cipug config` read one list. The first variant is the fallback of [`Default`].

/// Declares a choice enum: each variant with its word. Gives `WORDS` (in declaration
/// order), `as_str`, `from_word` (exact, as the settings table validated it), `Display`,
/// the JSON string, and a comparison with a word.
macro_rules! choice {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $(#[$first_meta:meta])* $first:ident = $first_word:literal,
            $($(#[$vmeta:meta])* $variant:ident = $word:literal,)*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
        pub enum $name {
            $(#[$first_meta])*
            #[default]
            $first,
            $($(#[$vmeta])* $variant,)*
        }

        impl $name {
            /// The words of the variants, in declaration order.
            pub const WORDS: &'static [&'static str] = &[$first_word, $($word),*];

            /// The word of this variant.
            pub fn as_str(self) -> &'static str {
                match self {
                    Self::$first => $first_word,
                    $(Self::$variant => $word,)*
                }
            }

            /// The variant of `word`, if it is one of [`Self::WORDS`].
            pub fn from_word(word: &str) -> Option<Self> {
                match word {
                    $first_word => Some(Self::$first),
                    $($word => Some(Self::$variant),)*
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl From<$name> for serde_json::Value {
            fn from(choice: $name) -> serde_json::Value {
                serde_json::Value::from(choice.as_str())
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, word: &&str) -> bool {
                self.as_str() == *word
            }
        }
    };
}

choice! {
    /// How a service is stopped and started again (`STOP_START_METHOD`).
    pub enum StopStartMethod {
        /// `<COMPOSE_TOOL> down` then `up -d` in the service folder.
        Compose = "compose",
        /// `systemctl restart <COMPOSE_TOOL>@<service>`.
        SystemdSystem = "systemd-system",
        /// `systemctl --user restart <COMPOSE_TOOL>@<service>`.
        SystemdUser = "systemd-user",
    }
}

choice! {
    /// Which containers a changed pin restarts (compose method; `RESTART_SCOPE`).
    pub enum RestartScope {
        /// Recreate only the compose services whose image variable changed.
        Services = "services",
        /// `down` and `up -d` the whole project.
        Project = "project",
    }
}

choice! {
    /// When the snapshot before an update is taken (`SNAPSHOT_WHEN`).
    pub enum SnapshotWhen {
        /// After the containers that change stopped: the data is at rest.
        Stopped = "stopped",
        /// While they run, before they stop.
        Running = "running",
    }
}

choice! {
    /// Which resolver turns tags into digests (`RESOLVER`).
    pub enum ResolverKind {
        /// The built-in registry client.
        Native = "native",
        /// `skopeo inspect`, one process per image.
        Skopeo = "skopeo",
    }
}

choice! {
    /// How far a version tag may move (`TAG_UPDATE`, and an entry's own
    /// `SERVICE_<X>_IMAGE_TAG_UPDATE`).
    pub enum TagUpdate {
        /// The tag stays.
        Off = "off",
        /// To the newest patch release of the same minor version.
        Patch = "patch",
        /// To the newest minor (or patch) release of the same major version.
        Minor = "minor",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_parses_back_to_its_variant() {
        for word in StopStartMethod::WORDS {
            let choice = StopStartMethod::from_word(word).unwrap();
            assert_eq!(choice.as_str(), *word);
            assert_eq!(choice.to_string(), *word);
            assert_eq!(
                serde_json::Value::from(choice),
                serde_json::Value::from(*word)
            );
        }
        assert_eq!(
            StopStartMethod::WORDS,
            ["compose", "systemd-system", "systemd-user"]
        );
        assert_eq!(TagUpdate::WORDS, ["off", "patch", "minor"]);
        assert_eq!(TagUpdate::from_word("minor"), Some(TagUpdate::Minor));
        assert_eq!(
            TagUpdate::from_word("Minor"),
            None,
            "exact: load lowercases first"
        );
        assert_eq!(TagUpdate::from_word(" patch"), None);
        assert_eq!(RestartScope::default(), RestartScope::Services);
        assert_eq!(SnapshotWhen::default(), SnapshotWhen::Stopped);
        assert_eq!(ResolverKind::default(), ResolverKind::Native);
        assert_eq!(TagUpdate::default(), "off");
        assert!(TagUpdate::Patch != "minor");
    }
}
