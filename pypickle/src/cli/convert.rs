//! `pypickle convert`: a thin wrapper over `pypickle::convert`.

use std::path::PathBuf;

use clap::Args;

use super::{PolicyArgs, EXIT_ERROR, EXIT_OK, EXIT_UNSAFE};

#[derive(Args, Debug)]
#[command(
    after_help = "Exit status: 0 converted, 1 refused as unsafe (no output written), \
    2 an error (no output written), 64 usage error."
)]
pub struct ConvertArgs {
    /// The file to convert.
    #[arg(value_name = "IN")]
    input: PathBuf,
    /// Where to write (refused if it exists, unless --overwrite).
    #[arg(value_name = "OUT")]
    output: PathBuf,
    /// The input's format, for bare files without a magic number (`msgpack`, `cbor`, `json`).
    #[arg(long, value_name = "FORMAT")]
    from: Option<String>,
    /// The output's format (default: from OUT's extension: .pkl/.pickle, .cbor, .msgpack/.mpk, .json).
    #[arg(long, value_name = "FORMAT")]
    to: Option<String>,
    #[command(flatten)]
    policy: PolicyArgs,
    /// Accept every global: only for files you trust as much as your own code.
    #[arg(long, conflicts_with = "strict")]
    no_validation: bool,
    /// Replace OUT if it exists.
    #[arg(long)]
    overwrite: bool,
    /// Allow a JSON export that loses information (tuples become arrays, ...).
    #[arg(long)]
    lossy: bool,
    /// Wrap the output in pypickle's envelope (default: the bare payload cbor2/msgpack/pickle open).
    #[arg(long)]
    envelope: bool,
}

pub fn convert(args: ConvertArgs) -> u8 {
    let mut options = pypickle::ConvertOptions::new()
        .policy_from(args.policy.policy())
        .overwrite(args.overwrite)
        .lossy(args.lossy)
        .envelope(args.envelope);
    if let Some(from) = &args.from {
        options = options.from(from);
    }
    if let Some(to) = &args.to {
        options = options.to(to);
    }
    if args.no_validation {
        options = options.no_validation();
    }
    match pypickle::convert(&args.input, &args.output, &options) {
        Ok(report) => {
            eprintln!(
                "{} -> {}: {report}",
                args.input.display(),
                args.output.display()
            );
            EXIT_OK
        }
        Err(e) => {
            eprintln!("pypickle convert: {e}");
            if e.is_unsafe() {
                EXIT_UNSAFE
            } else {
                EXIT_ERROR
            }
        }
    }
}
