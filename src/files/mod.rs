//! Files root reads and writes with care: atomic replacement, folders others cannot
//! tamper with, output files written without following links, and the trust of service
//! folders.

pub mod atomic;
pub mod output;
pub mod private_dir;
pub mod space;
pub mod trust;
