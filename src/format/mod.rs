//! The store's on-disk layout, as specified in docs/DESIGN.md: the sealed
//! envelope and its associated data, the plaintext records inside, and the
//! SQL schema. Pure byte and text layouts; no keys and no I/O.

pub(crate) mod archive;
pub(crate) mod attachment;
pub(crate) mod envelope;
pub(crate) mod frame;
pub(crate) mod records;
pub(crate) mod schema;

/// The store format this build writes, and the newest it reads.
pub const FORMAT_VERSION: u32 = 6;

/// The oldest store format this build opens (and upgrades).
pub(crate) const OLDEST_FORMAT_VERSION: u32 = 1;
