//! `ROOT/deploy.lock`: one deploy at a time per root, held with `flock(2)` so the kernel frees it
//! when the holder dies (even by `kill -9`). The holder writes who it is into the file, so a
//! second deploy can say what it is waiting for.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

/// A held deploy lock; dropping it releases the lock.
pub struct DeployLock {
    file: File,
}

/// Why the lock could not be taken.
#[derive(Debug)]
pub enum LockError {
    /// Another deploy holds it (its own description of itself).
    Busy(String),
    /// The lock file could not be opened.
    Io(std::io::Error),
}

impl DeployLock {
    /// Takes the lock on `path`, waiting up to `wait` for a holder to finish; then records
    /// `holder` (pid, user, what) in the file.
    pub fn acquire(path: &Path, wait: Duration, holder: &str) -> Result<DeployLock, LockError> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(LockError::Io)?;
        let deadline = Instant::now() + wait;
        loop {
            // SAFETY: a valid fd; LOCK_NB never blocks.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
                break;
            }
            if Instant::now() >= deadline {
                let mut who = String::new();
                let _ = file.read_to_string(&mut who);
                let who = who.trim();
                return Err(LockError::Busy(if who.is_empty() {
                    "another deploy (it did not say who it is)".into()
                } else {
                    who.to_string()
                }));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = file.set_len(0);
        let _ = file.rewind();
        let _ = writeln!(file, "{holder}");
        let _ = file.sync_all();
        Ok(DeployLock { file })
    }
}

impl Drop for DeployLock {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        // SAFETY: a valid fd.
        unsafe { libc::flock(self.file.as_raw_fd(), libc::LOCK_UN) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_taker_waits_then_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deploy.lock");
        let first = DeployLock::acquire(&path, Duration::ZERO, "pid 1 (alice): deploy v1").unwrap();
        match DeployLock::acquire(&path, Duration::from_millis(300), "pid 2") {
            Err(LockError::Busy(who)) => assert!(who.contains("alice"), "{who}"),
            _ => panic!("two deploys held the lock"),
        }
        drop(first);
        assert!(DeployLock::acquire(&path, Duration::ZERO, "pid 2").is_ok());
    }
}
