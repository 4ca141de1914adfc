//! How long each kind of external command may run before the runner stops it (and every
//! process it started): one setting per kind of tool, so a hung pull, compose tool, snapper
//! or notification hook cannot hold the run lock for ever.

use std::time::Duration;

/// The kinds of external commands, each with its own time limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ToolKind {
    /// Compose tool, container tool and systemctl commands other than pulls (the default
    /// for any command that names no kind).
    #[default]
    Compose,
    /// Pulling images.
    Pull,
    /// snapper.
    Snapper,
    /// NOTIFY_COMMAND (and the NOTIFY_URL request).
    Notify,
    /// Commands that talk to a registry: credential helpers, skopeo.
    Registry,
}

impl ToolKind {
    /// The setting that bounds this kind, for messages.
    pub fn setting(self) -> &'static str {
        match self {
            ToolKind::Compose => "COMPOSE_TIMEOUT",
            ToolKind::Pull => "PULL_TIMEOUT",
            ToolKind::Snapper => "SNAPPER_TIMEOUT",
            ToolKind::Notify => "NOTIFY_TIMEOUT",
            ToolKind::Registry => "REGISTRY_TIMEOUT",
        }
    }
}

/// The time limit of each kind of command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// [`ToolKind::Compose`].
    pub compose: Duration,
    /// [`ToolKind::Pull`].
    pub pull: Duration,
    /// [`ToolKind::Snapper`].
    pub snapper: Duration,
    /// [`ToolKind::Notify`].
    pub notify: Duration,
    /// [`ToolKind::Registry`].
    pub registry: Duration,
}

impl Default for Timeouts {
    /// The defaults of the settings.
    fn default() -> Self {
        Timeouts {
            compose: Duration::from_secs(300),
            pull: Duration::from_secs(1800),
            snapper: Duration::from_secs(600),
            notify: Duration::from_secs(30),
            registry: Duration::from_secs(30),
        }
    }
}

impl Timeouts {
    /// The limit for `kind`.
    pub fn of(&self, kind: ToolKind) -> Duration {
        match kind {
            ToolKind::Compose => self.compose,
            ToolKind::Pull => self.pull,
            ToolKind::Snapper => self.snapper,
            ToolKind::Notify => self.notify,
            ToolKind::Registry => self.registry,
        }
    }
}
