//! The file formats: pure parsers and renderers over `&str`/`impl Read`, no other I/O.

pub mod adoption;
pub mod compose_file;
pub mod compose_limits;
pub mod compose_project;
pub mod compose_services;
pub mod compose_version;
pub mod container_version;
pub mod dialects;
pub mod env_keys;
pub mod envfile;
pub mod flow_reindent;
pub mod image_ref;
pub mod line_diff;
pub mod notify_url;
pub mod pinned_ref;
pub mod pins;
pub mod pins_file;
pub mod python_config;
pub mod registries_conf;
pub mod retag;
pub mod settings;
pub mod signature_policy;
pub mod update_window;
pub mod version_tag;
pub mod yaml;
