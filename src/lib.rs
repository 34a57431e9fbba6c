//! `spherectl` manages a DataSphere organization as code.
//!
//! Data flows one way: manifest → model → graph → plan (with platform reads) → policy → apply
//! (with platform writes). Each stage is a module; the CLI in [`cli`] wires them together.

pub mod apply;
pub(crate) mod cli;
pub mod diagnostics;
pub mod fields;
pub mod graph;
pub mod import;
pub mod manifest;
pub mod plan;
pub mod platform;
pub mod policy;
pub(crate) mod printer;
pub mod rules;
pub mod schema;
pub mod server;

use std::{ffi::OsString, process::ExitCode};

/// The process exit status: the contract of DESIGN.md section 7.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// Success, or no changes.
    Success,
    /// An error: manifest, policy deny, platform.
    Failure,
    /// Changes present (`plan --detailed-exitcode`, `drift`).
    Changes,
    /// A usage error.
    Usage,
    /// Interrupted (Ctrl-C, SIGTERM): 130, as a shell reports a process stopped by SIGINT.
    Interrupted,
}

impl ExitStatus {
    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::Failure => 1,
            ExitStatus::Changes => 2,
            ExitStatus::Usage => 64,
            ExitStatus::Interrupted => 130,
        }
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> Self {
        ExitCode::from(status.code())
    }
}

/// Runs the command line and returns the exit code.
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    cli::run(args).into()
}
