//! One adapter per external tool, each behind the one [`runner`] seam: it owns the
//! tool's command lines and the parsing of its output.

pub mod btrfs;
pub mod compose;
pub mod compose_flavour;
pub mod container;
pub mod hooks;
pub mod notify;
pub mod recording;
pub mod runner;
pub mod snapper;
