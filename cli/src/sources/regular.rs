//! Reading a file that must be a regular file, with a size cap, without ever blocking.
//!
//! A path in a manifest can name anything: a FIFO (opening it for reading waits for a writer,
//! for ever), a device (`/dev/zero` never ends), a directory or a socket. The file's type is
//! checked before it is opened, it is opened with `O_NONBLOCK` (so a FIFO swapped in meanwhile
//! cannot block the open), the opened file's own type is checked again, and at most `cap + 1`
//! bytes are read, so a file over the cap is refused without being read whole.

use std::fs::{File, Metadata, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// Why a file could not be read as a regular file.
#[derive(Debug, thiserror::Error)]
pub enum RegularError {
    /// No such file.
    #[error("it does not exist")]
    Missing,
    /// Not a regular file.
    #[error("it is {0}, not a regular file")]
    NotRegular(&'static str),
    /// Larger than allowed.
    #[error("it is over {cap} bytes (at least {size})")]
    TooLarge {
        /// Its size (or a lower bound, when it grew while being read).
        size: u64,
        /// The cap.
        cap: u64,
    },
    /// Reading failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// What a non-regular file is, for messages; `None` for a regular file.
pub fn non_regular_kind(meta: &Metadata) -> Option<&'static str> {
    let t = meta.file_type();
    if t.is_file() {
        None
    } else if t.is_dir() {
        Some("a directory")
    } else if t.is_fifo() {
        Some("a FIFO (named pipe)")
    } else if t.is_char_device() {
        Some("a character device")
    } else if t.is_block_device() {
        Some("a block device")
    } else if t.is_socket() {
        Some("a socket")
    } else {
        Some("not a regular file")
    }
}

fn check(meta: &Metadata, cap: u64) -> Result<(), RegularError> {
    if let Some(kind) = non_regular_kind(meta) {
        return Err(RegularError::NotRegular(kind));
    }
    if meta.len() > cap {
        return Err(RegularError::TooLarge {
            size: meta.len(),
            cap,
        });
    }
    Ok(())
}

/// Reads `path` (symlinks followed) when it is a regular file of at most `cap` bytes.
pub fn read_regular(path: &Path, cap: u64) -> Result<Vec<u8>, RegularError> {
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => RegularError::Missing,
        _ => RegularError::Io(e),
    })?;
    check(&meta, cap)?;
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => RegularError::Missing,
            _ => RegularError::Io(e),
        })?;
    // The path may have been swapped between the stat and the open: check what was opened.
    let meta = file.metadata()?;
    check(&meta, cap)?;
    read_capped(file, meta.len(), cap)
}

fn read_capped(file: File, expected: u64, cap: u64) -> Result<Vec<u8>, RegularError> {
    let mut bytes = Vec::with_capacity(expected.min(cap) as usize);
    file.take(cap.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        return Err(RegularError::TooLarge {
            size: bytes.len() as u64,
            cap,
        });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    fn reads_regular_files_under_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a");
        std::fs::write(&path, b"12345").unwrap();
        assert_eq!(read_regular(&path, 5).unwrap(), b"12345");
        assert!(matches!(
            read_regular(&path, 4),
            Err(RegularError::TooLarge { size: 5, cap: 4 })
        ));
        assert!(matches!(
            read_regular(&dir.path().join("none"), 4),
            Err(RegularError::Missing)
        ));
    }

    #[test]
    fn refuses_devices_directories_and_fifos_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let c = CString::new(fifo.as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let started = Instant::now();
        for (path, kind) in [
            (Path::new("/dev/zero"), "a character device"),
            (dir.path(), "a directory"),
            (fifo.as_path(), "a FIFO (named pipe)"),
        ] {
            match read_regular(path, 1 << 20) {
                Err(RegularError::NotRegular(k)) => assert_eq!(k, kind, "{}", path.display()),
                other => panic!("{}: {other:?}", path.display()),
            }
        }
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_file_that_grows_past_the_cap_is_cut_at_cap_plus_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a");
        std::fs::write(&path, vec![0u8; 100]).unwrap();
        let file = File::open(&path).unwrap();
        // As if the file had been 10 bytes at the stat and grew to 100 since.
        assert!(matches!(
            read_capped(file, 10, 10),
            Err(RegularError::TooLarge { size: 11, cap: 10 })
        ));
    }
}
