//! `pfprof`: the control CLI (see `pfprof --help`).

use clap::Parser;
use pfprof_tools::cli::PfprofCli;

fn main() -> std::process::ExitCode {
    let cli = PfprofCli::parse();
    pfprof_tools::main_with("pfprof", || {
        pfprof_tools::ctl::run(cli, &mut std::io::stdout().lock(), &mut std::io::stderr())
    })
}
