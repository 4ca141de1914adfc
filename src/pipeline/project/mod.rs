//! The compose project of a service folder: its model as the compose tool reads it, what a
//! change of pins restarts, and the containers of other folders that depend on it.

pub mod compose_model;
pub mod dependents;
pub mod restart;
