//! Image references: parsing them, pins by digest, version tags and tag moves.

pub mod pinned;
pub mod reference;
pub mod retag;
pub mod version_tag;
