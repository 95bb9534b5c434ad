//! The `contrada` command line: parses arguments, sets up logging, runs a command and turns any
//! error into one message and an exit code (0 ok, 2 bad usage/configuration/input, 75 locked, 1 other).

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = match cli::Cli::try_parse() {
        Ok(args) => args,
        Err(e) => {
            // clap prints help/version to stdout (exit 0) and usage errors to stderr (exit 2).
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { contrada::error::EXIT_BAD_INPUT as u8 } else { 0 });
        }
    };
    cli::init_logging(args.verbose, args.quiet);
    match cli::execute(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
