//! The table of keys cipug reads in a service's `.env`: per image entry
//! (`SERVICE_<X>_IMAGE_TAGGED`, `_HASHED`, `_UPDATE`, ...) and per service (its update
//! commands, the compose tool's own `COMPOSE_PROJECT_NAME` and `COMPOSE_FILE`). The code that
//! reads a key names it through this table, and the man page lists the table, so a key cannot
//! be read without being documented.

/// Whether a key belongs to one image entry or to the whole service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applies {
    /// `SERVICE_<X>_IMAGE_<name>`, one per image entry `<X>`.
    PerEntry,
    /// The key as named, once per service.
    PerService,
}

/// One key of a service's `.env`.
#[derive(Debug, Clone, Copy)]
pub struct EnvKey {
    /// For a per-entry key the part after `SERVICE_<X>_IMAGE_` (`TAGGED`); else the key.
    pub name: &'static str,
    /// Per entry or per service.
    pub applies: Applies,
    /// Its default as text, if it has one of its own.
    pub default: Option<&'static str>,
    /// What it means, for the man page.
    pub help: &'static str,
}

/// What every per-entry key starts with.
pub const ENTRY_PREFIX: &str = "SERVICE_";
/// What follows the entry's name in a per-entry key.
pub const ENTRY_INFIX: &str = "_IMAGE_";

impl EnvKey {
    /// The key of entry `x` (`SERVICE_<x>_IMAGE_TAGGED`); a per-service key is itself.
    pub fn key(&self, x: &str) -> String {
        match self.applies {
            Applies::PerEntry => format!("{ENTRY_PREFIX}{x}{ENTRY_INFIX}{}", self.name),
            Applies::PerService => self.name.to_owned(),
        }
    }

    /// What a per-entry key ends with after the entry's name: `_IMAGE_TAGGED`.
    pub fn suffix(&self) -> String {
        format!("{ENTRY_INFIX}{}", self.name)
    }

    /// The key as documented: `SERVICE_<X>_IMAGE_TAGGED`, `PRE_UPDATE_COMMAND`.
    pub fn shown(&self) -> String {
        self.key("<X>")
    }

    /// The entry `<X>` whose key this is, when `key` is this per-entry key of some entry.
    pub fn entry_in<'k>(&self, key: &'k str) -> Option<&'k str> {
        if self.applies == Applies::PerService {
            return None;
        }
        let rest = key.strip_prefix(ENTRY_PREFIX)?;
        let x = rest.strip_suffix(self.name)?.strip_suffix(ENTRY_INFIX)?;
        Some(x).filter(|x| !x.is_empty())
    }
}

/// Every per-entry key of entry `x` at once, for messages: `SERVICE_<x>_IMAGE_*`.
pub fn entry_keys(x: &str) -> String {
    format!("{ENTRY_PREFIX}{x}{ENTRY_INFIX}*")
}

const fn entry(name: &'static str, default: Option<&'static str>, help: &'static str) -> EnvKey {
    EnvKey {
        name,
        applies: Applies::PerEntry,
        default,
        help,
    }
}

const fn service(name: &'static str, default: Option<&'static str>, help: &'static str) -> EnvKey {
    EnvKey {
        name,
        applies: Applies::PerService,
        default,
        help,
    }
}

/// The image reference an entry follows.
pub const TAGGED: EnvKey = entry(
    "TAGGED",
    None,
    "the image reference to follow (`name:tag`; `${VAR}` of lines above it is expanded); one \
     such line makes an image entry, <X> being its name in upper case",
);
/// The pin cipug writes.
pub const HASHED: EnvKey = entry(
    "HASHED",
    None,
    "the pin cipug writes (`name@sha256:<digest>`), which the compose file names as \
     `image: ${SERVICE_<X>_IMAGE_HASHED}`; added after the TAGGED line when missing",
);
/// What to do when an entry's digest moved.
pub const UPDATE: EnvKey = entry(
    "UPDATE",
    Some("auto"),
    "auto (pin, snapshot, pull, restart, health gate), notify (report and notify a new \
     digest on every run, change nothing) or off (not resolved, not reported)",
);
/// An entry's own cool-down.
pub const MIN_AGE: EnvKey = entry(
    "MIN_AGE",
    None,
    "hours a new digest of this entry must have been seen behind its tag before it is \
     adopted, instead of the MIN_AGE setting",
);
/// How far an entry's version tag may move.
pub const TAG_UPDATE: EnvKey = entry(
    "TAG_UPDATE",
    None,
    "off, patch or minor: how far this entry's version tag may move, instead of the \
     TAG_UPDATE setting",
);
/// The command run before a service's update.
pub const PRE_UPDATE_COMMAND: EnvKey = service(
    "PRE_UPDATE_COMMAND",
    None,
    "command run with `sh -c` in the service folder before its update, before the snapshot \
     (a database dump it writes is in the snapshot); when it fails or runs out of time the \
     service's update is cancelled (exit 30); CIPUG_SERVICE and CIPUG_HOOK=pre in its \
     environment",
);
/// The command run after a service's update passed its health gate.
pub const POST_UPDATE_COMMAND: EnvKey = service(
    "POST_UPDATE_COMMAND",
    None,
    "command run the same way after the health gate passed (CIPUG_HOOK=post); its failure is \
     reported (exit 30) and undoes nothing",
);
/// The seconds each update command may take.
pub const UPDATE_COMMAND_TIMEOUT: EnvKey = service(
    "UPDATE_COMMAND_TIMEOUT",
    Some("300"),
    "seconds PRE_UPDATE_COMMAND and POST_UPDATE_COMMAND may each take (then SIGTERM, and \
     SIGKILL 10 s later)",
);
/// The compose tool's project name, read as the tool reads it.
pub const COMPOSE_PROJECT_NAME: EnvKey = service(
    "COMPOSE_PROJECT_NAME",
    None,
    "the compose project's name, read as the compose tool reads it (podman-compose 1.1 and \
     later, docker compose; podman-compose 1.0 takes the folder's name): cipug finds the \
     service's containers by it; else the compose file's name:, else the folder's name",
);
/// The compose tool's list of compose files.
pub const COMPOSE_FILE: EnvKey = service(
    "COMPOSE_FILE",
    None,
    "compose files to read (cipug's own environment first), separated by \
     COMPOSE_PATH_SEPARATOR (default :); not every compose tool reads it from the .env, so \
     cipug reads them too and restarts the whole project",
);

/// Every key cipug reads in a service's `.env`, in the order the man page lists them.
pub const ENV_KEYS: &[EnvKey] = &[
    TAGGED,
    HASHED,
    UPDATE,
    MIN_AGE,
    TAG_UPDATE,
    PRE_UPDATE_COMMAND,
    POST_UPDATE_COMMAND,
    UPDATE_COMMAND_TIMEOUT,
    COMPOSE_PROJECT_NAME,
    COMPOSE_FILE,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_entries_and_services() {
        assert_eq!(TAGGED.key("APP"), "SERVICE_APP_IMAGE_TAGGED");
        assert_eq!(TAG_UPDATE.shown(), "SERVICE_<X>_IMAGE_TAG_UPDATE");
        assert_eq!(HASHED.suffix(), "_IMAGE_HASHED");
        assert_eq!(entry_keys("APP"), "SERVICE_APP_IMAGE_*");
        assert_eq!(PRE_UPDATE_COMMAND.key("APP"), "PRE_UPDATE_COMMAND");
        let table = [
            (TAGGED, "SERVICE_APP_IMAGE_TAGGED", Some("APP")),
            (TAGGED, "SERVICE_MY_APP_IMAGE_TAGGED", Some("MY_APP")),
            (UPDATE, "SERVICE_APP_IMAGE_TAG_UPDATE", None),
            (TAG_UPDATE, "SERVICE_APP_IMAGE_TAG_UPDATE", Some("APP")),
            (TAGGED, "SERVICE__IMAGE_TAGGED", None),
            (TAGGED, "SERVICE_APP_IMAGE_HASHED", None),
            (TAGGED, "APP_IMAGE_TAGGED", None),
            (HASHED, "SERVICE_APPIMAGE_HASHED", None),
            (PRE_UPDATE_COMMAND, "PRE_UPDATE_COMMAND", None),
        ];
        for (key, text, x) in table {
            assert_eq!(key.entry_in(text), x, "{text}");
        }
    }

    #[test]
    fn every_key_is_listed_once() {
        let mut shown: Vec<String> = ENV_KEYS.iter().map(EnvKey::shown).collect();
        shown.sort();
        shown.dedup();
        assert_eq!(shown.len(), ENV_KEYS.len());
        assert!(ENV_KEYS.iter().all(|k| !k.help.is_empty()));
    }
}
