//! The master key file: 32 random bytes, base64, one key per line. The first line seals new
//! secrets; further lines are older keys that still open what they sealed (rotation: put a new
//! key first, keep the old one below it).
//!
//! Without `SECMAT_MASTER_KEY_FILE`, the key lives in `DATA_DIR/master.key` and is generated on
//! first start with mode 0600. Keep it apart from database backups: whoever has both has the
//! secrets.

use std::io::Write as _;
use std::path::Path;

use anyhow::{Context, bail};
use secmat_core::{Keyring, MasterKey};

/// Reads a key file; `Ok(None)` when it does not exist.
pub fn load(path: &Path) -> anyhow::Result<Option<Keyring>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => zeroize::Zeroizing::new(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(e)
                .with_context(|| format!("cannot read master key file {}", path.display()));
        }
    };
    warn_if_readable_by_others(path);
    let mut keys = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .enumerate()
        .map(|(i, line)| {
            MasterKey::from_base64(line)
                .with_context(|| format!("master key file {}, key {}", path.display(), i + 1))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    if keys.is_empty() {
        bail!("master key file {} holds no key", path.display());
    }
    let active = keys.remove(0);
    Ok(Some(Keyring::new(active, keys)))
}

/// Generates a new key file at `path` (mode 0600; fails if the file exists).
pub fn create(path: &Path) -> anyhow::Result<Keyring> {
    let (key, text) = MasterKey::generate()?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create master key file {}", path.display()))?;
    file.write_all(format!("{}\n", text.as_str()).as_bytes())?;
    file.sync_all()?;
    Ok(Keyring::new(key, Vec::new()))
}

fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    if let Ok(meta) = std::fs::metadata(path) {
        use std::os::unix::fs::PermissionsExt as _;
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(file = %path.display(), "master key file is readable by other users; chmod 600 it");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_key_files_are_private_and_load_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/master.key");
        assert!(load(&path).unwrap().is_none());
        let created = create(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let loaded = load(&path).unwrap().unwrap();
        assert_eq!(created.active_key_id(), loaded.active_key_id());
        assert!(create(&path).is_err(), "never overwrites a key");
    }

    #[test]
    fn second_line_is_a_retired_key_that_still_opens() {
        let dir = tempfile::tempdir().unwrap();
        let old_path = dir.path().join("old.key");
        let old = create(&old_path).unwrap();
        let sealed = old.seal(b"secret", b"aad").unwrap();
        let (_, new_text) = MasterKey::generate().unwrap();
        let both = dir.path().join("both.key");
        std::fs::write(
            &both,
            format!(
                "{}\n# older key\n{}",
                new_text.as_str(),
                std::fs::read_to_string(&old_path).unwrap()
            ),
        )
        .unwrap();
        let ring = load(&both).unwrap().unwrap();
        assert_ne!(ring.active_key_id(), old.active_key_id());
        assert_eq!(ring.open(&sealed, b"aad").unwrap().as_slice(), b"secret");
    }

    #[test]
    fn bad_key_files_are_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.key");
        std::fs::write(&path, "not base64!").unwrap();
        let err = format!("{:#}", load(&path).unwrap_err());
        assert!(err.contains("bad.key") && err.contains("key 1"), "{err}");
        std::fs::write(&path, "\n# nothing\n").unwrap();
        assert!(load(&path).is_err());
    }
}
