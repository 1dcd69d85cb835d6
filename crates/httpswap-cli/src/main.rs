//! The `httpswap` command.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use httpswap_cli::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { body_size } => httpswap_cli::process::serve_main(body_size),
        Command::Worker {
            backend,
            layer,
            ca_file,
        } => httpswap_cli::process::worker_main(&backend, layer, ca_file),
        Command::Bench(args) => {
            let exe = match std::env::current_exe() {
                Ok(exe) => exe,
                Err(e) => {
                    eprintln!("httpswap bench: cannot find its own binary: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let report = match httpswap_cli::bench(&args, &exe) {
                Ok(r) => r,
                Err(msg) => {
                    eprintln!("httpswap bench: {msg}");
                    return ExitCode::from(2);
                }
            };
            if args.json {
                match serde_json::to_string_pretty(&report) {
                    Ok(j) => println!("{j}"),
                    Err(e) => {
                        eprintln!("httpswap bench: cannot write JSON: {e}");
                        return ExitCode::FAILURE;
                    }
                }
            } else {
                print!("{}", httpswap_cli::report::table(&report));
            }
            if let Some(path) = &args.plot {
                if let Err(e) = std::fs::write(path, httpswap_cli::report::svg(&report)) {
                    eprintln!("httpswap bench: cannot write {}: {e}", path.display());
                    return ExitCode::FAILURE;
                }
            }
            // the flaky scenario measures failures: they are its result
            let failed: u64 = report
                .scenarios
                .iter()
                .filter(|s| s.scenario.name != httpswap_cli::cli::ScenarioName::Flaky)
                .flat_map(|s| &s.results)
                .map(|r| r.errors)
                .sum();
            if failed > 0 {
                eprintln!("httpswap bench: {failed} requests failed (see the errors column)");
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
    }
}
