//! How a command fails, and the exit code each failure maps to: 1 for the user's mistakes
//! (bad manifest, missing file, Apache refusing the config), 2 for internal errors.

/// A failed command.
#[derive(Debug)]
pub enum CliError {
    /// The user's mistake; the report, or `None` when the diagnostics were already printed.
    User(Option<miette::Report>),
    /// Something broke that the user could not have prevented.
    Internal(miette::Report),
}

impl CliError {
    /// A user error from anything miette can render.
    pub fn user(report: impl Into<miette::Report>) -> CliError {
        CliError::User(Some(report.into()))
    }

    /// An internal error.
    pub fn internal(report: impl Into<miette::Report>) -> CliError {
        CliError::Internal(report.into())
    }

    /// The process exit code.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::User(_) => 1,
            CliError::Internal(_) => 2,
        }
    }
}

/// Exit code of success.
pub const SUCCESS: i32 = 0;
