//! The `lbounds` command line: parse, dispatch, map errors to exit codes.
//!
//! Exit codes: 0 success (also when stdout is closed early, e.g. by `head`), 2 bad input
//! (one line on stderr naming the problem), 1 any other failure.

mod cli;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = match cli::Cli::try_parse() {
        Ok(args) => args,
        Err(e) => return cli::report_clap_error(&e),
    };
    match cli::dispatch(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => cli::report_error(&e),
    }
}
