use std::process::ExitCode;

use clap::Parser;

/// mimalloc rather than glibc's allocator: a server under load spent a sixth
/// of its CPU in glibc's malloc and free and on the locks of its arenas
/// (docs/benchmarks.md, "Audited reads").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
