//! The system's Apache httpd: where its pieces are, checking a configuration, running it.

pub mod check;
pub mod locate;
pub mod run;
