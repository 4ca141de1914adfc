//! Files root reads and writes with care: atomic replacement, folders others cannot
//! tamper with, output files written without following links, the trust of service
//! folders, and whether an env file lies inside its folder's snapshots.

pub mod atomic;
pub mod env_place;
pub mod output;
pub mod private_dir;
pub mod space;
pub mod trust;
