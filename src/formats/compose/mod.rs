//! Compose files: size and nesting limits, the one YAML reader, the project model's
//! values, adopt's byte ranges and edits, the tool's version.

pub mod adoption;
pub mod file;
pub mod flow_reindent;
pub mod limits;
pub mod project;
pub mod services;
pub mod version;
pub mod yaml;
