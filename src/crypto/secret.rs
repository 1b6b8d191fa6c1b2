//! Key material that is wiped from memory when dropped.

use std::fmt;

use ring::rand::SystemRandom;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::Result;

/// A 256-bit key. Zeroized on drop; its `Debug` output never shows the bytes.
#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct Key32([u8; 32]);

impl Key32 {
    pub(crate) const LEN: usize = 32;

    pub(crate) fn from_bytes(bytes: [u8; 32]) -> Self {
        Key32(bytes)
    }

    /// Copies a key out of a slice of exactly 32 bytes.
    pub(crate) fn from_slice(bytes: &[u8]) -> Option<Self> {
        let mut k = Key32([0; 32]);
        if bytes.len() != Self::LEN {
            return None;
        }
        k.0.copy_from_slice(bytes);
        Some(k)
    }

    pub(crate) fn random(rng: &SystemRandom) -> Result<Self> {
        let mut k = Key32([0; 32]);
        super::fill_random(rng, &mut k.0)?;
        Ok(k)
    }

    pub(crate) fn expose(&self) -> &[u8; 32] {
        &self.0
    }

    pub(crate) fn expose_mut(&mut self) -> &mut [u8; 32] {
        &mut self.0
    }
}

impl fmt::Debug for Key32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key32(<redacted>)")
    }
}
