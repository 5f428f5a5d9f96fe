use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = depot::cli::Cli::parse();
    match depot::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // One line, the whole cause chain: startup failures must be readable at a glance.
            eprintln!("depot: {err:#}");
            ExitCode::FAILURE
        }
    }
}
