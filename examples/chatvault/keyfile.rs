//! The key file `demo` keeps beside a store: 32 random bytes, mode 0600.

use std::io::Write;
use std::path::{Path, PathBuf};

use chatvault::StoreKey;

use crate::AnyResult;

/// `<store>.key`.
pub fn beside(store: &Path) -> PathBuf {
    let mut s = store.as_os_str().to_owned();
    s.push(".key");
    PathBuf::from(s)
}

/// Writes 32 fresh random bytes to `path`, readable only by the owner, and
/// returns the key.
pub fn create(path: &Path) -> AnyResult<StoreKey> {
    let mut bytes = [0u8; 32];
    getrandom(&mut bytes)?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(&bytes)?;
    f.sync_all()?;
    Ok(StoreKey::raw(bytes))
}

/// Reads a key file: 32 raw bytes, or 64 hex characters.
pub fn read(path: &Path) -> AnyResult<StoreKey> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read key file {}: {e}", path.display()))?;
    if bytes.len() == 32 {
        return Ok(StoreKey::raw_from_slice(&bytes)?);
    }
    let text = String::from_utf8_lossy(&bytes);
    let hex = text.trim();
    if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        let raw: Vec<u8> =
            (0..32).map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)).collect::<Result<_, _>>()?;
        return Ok(StoreKey::raw_from_slice(&raw)?);
    }
    Err(format!("key file {} must hold 32 raw bytes or 64 hex characters", path.display()).into())
}

/// The key for `store`: `--key-file` if given, else the file beside it.
pub fn load(store: &Path, key_file: Option<&Path>) -> AnyResult<StoreKey> {
    match key_file {
        Some(p) => read(p),
        None => {
            let p = beside(store);
            if p.exists() {
                read(&p)
            } else {
                Err(format!(
                    "no key for {}: pass --key-file (run `demo` first to build the demo store)",
                    store.display()
                )
                .into())
            }
        }
    }
}

fn getrandom(out: &mut [u8]) -> AnyResult<()> {
    use ring::rand::{SecureRandom, SystemRandom};
    SystemRandom::new().fill(out).map_err(|_| "the system random generator failed".into())
}
