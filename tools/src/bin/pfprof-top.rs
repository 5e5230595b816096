//! `pfprof-top`: a live table of the profiled processes (see `--help`).

use clap::Parser;
use pfprof_tools::cli::TopCli;

fn main() -> std::process::ExitCode {
    let cli = TopCli::parse();
    pfprof_tools::main_with("pfprof-top", || {
        pfprof_tools::top::run(&cli, &mut std::io::stdout().lock())
    })
}
