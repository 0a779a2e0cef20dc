//! The `pypickle` command line: scan files for dangerous pickles, list what they import,
//! disassemble them and show their values, all without running them.

mod cli;

// The system allocator: records' values are packed into shared chunks (core::Rows), so a
// large load makes few allocations, and mimalloc, which this binary used before, was no
// quicker and held 2-10 MB more (docs/performance.md).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit status for usage errors (BSD's EX_USAGE).
const EXIT_USAGE: u8 = 64;

#[derive(Parser, Debug)]
#[command(
    name = "pypickle",
    version,
    about = "Read Python pickles without running them: scan, list imports, disassemble, show.",
    long_about = "Read Python pickles without running them.\n\n\
        Nothing in a scanned file is ever executed: pickles are read by a symbolic machine and \
        every global they would import is judged by policy.\n\n\
        Exit status: 0 all safe, 1 something unsafe, 2 an error (nothing unsafe), 64 usage error."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Scan files and folders for pickles that import dangerous globals.
    Scan(cli::ScanArgs),
    /// List the globals each file would import (`module.qualname`, sorted).
    Modules(cli::ModulesArgs),
    /// Disassemble every pickle of a file (members included) and summarise it.
    Inspect(cli::InspectArgs),
    /// Print a file's value in Python-literal style, with the load policy applied.
    Show(cli::ShowArgs),
    /// List the registered formats.
    Formats,
    /// Convert between pickle and CBOR, MessagePack or JSON, losslessly (JSON: with --lossy).
    Convert(cli::ConvertArgs),
}

fn main() -> ExitCode {
    let parsed = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp
                | clap::error::ErrorKind::DisplayVersion
                | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
                    if e.exit_code() == 0 =>
                {
                    ExitCode::SUCCESS
                }
                _ => ExitCode::from(EXIT_USAGE),
            };
        }
    };
    let code = match parsed.command {
        Command::Scan(args) => cli::scan(args),
        Command::Modules(args) => cli::modules(args),
        Command::Inspect(args) => cli::inspect(args),
        Command::Show(args) => cli::show(args),
        Command::Formats => cli::formats(),
        Command::Convert(args) => cli::convert(args),
    };
    ExitCode::from(code)
}
