//! `monitor`: print the pfprof profile buffer (see `monitor --help`).

use clap::Parser;
use pfprof_tools::cli::MonitorCli;

fn main() -> std::process::ExitCode {
    let cli = MonitorCli::parse();
    pfprof_tools::main_with("monitor", || {
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::new(stdout.lock());
        pfprof_tools::monitor::run(&cli, &mut out, &mut std::io::stderr())
    })
}
