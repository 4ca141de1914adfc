//! The file formats: pure parsers and renderers over `&str`/`impl Read`, no other I/O.

pub mod compose;
pub mod container_version;
pub mod dialects;
pub mod env_keys;
pub mod envfile;
pub mod image;
pub mod line_diff;
pub mod notify_url;
pub mod pins;
pub mod pins_file;
pub mod registries_conf;
pub mod signature_policy;
pub mod update_window;
