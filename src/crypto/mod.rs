//! Cryptographic primitives, each a thin layer over ring or argon2.
//!
//! Nothing here knows about conversations or SQLite: it seals and opens
//! byte strings, derives keys from keys, and hashes identifiers.

mod aead;
mod kdf;
mod secret;
mod stream;

pub(crate) use aead::Aead;
pub(crate) use kdf::{Hmac16, argon2id, hkdf_sha256, hmac_sha256, hmac_sha256_verify};
pub(crate) use secret::Key32;
pub(crate) use stream::StreamKey;

use ring::rand::{SecureRandom, SystemRandom};

use crate::error::{Error, Result};

/// Fills `out` from the operating system's CSPRNG.
pub(crate) fn fill_random(rng: &SystemRandom, out: &mut [u8]) -> Result<()> {
    rng.fill(out).map_err(|_| Error::Random)
}
