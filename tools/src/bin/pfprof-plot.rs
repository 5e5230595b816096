//! `pfprof-plot`: charts of profile files (see `pfprof-plot --help`).

use clap::Parser;
use pfprof_tools::cli::PlotCli;

fn main() -> std::process::ExitCode {
    let cli = PlotCli::parse();
    pfprof_tools::main_with("pfprof-plot", || {
        pfprof_tools::plot::run(&cli, &mut std::io::stdout().lock())
    })
}
