//! The `spherectl` binary: everything lives in the library.

use std::process::ExitCode;

fn main() -> ExitCode {
    spherectl::main(std::env::args_os())
}
