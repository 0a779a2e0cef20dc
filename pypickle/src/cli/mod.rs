//! The commands of the `pypickle` binary.

mod convert;
mod show;

pub use convert::{convert, ConvertArgs};

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::Args;
use globset::{Glob, GlobSet, GlobSetBuilder};
use pypickle::scan::{self, report, FileReport, FileVerdict, ScanOptions};
use pypickle::Policy;
use pypickle_core::value::{Object, Value};
use pypickle_core::Target;
use rayon::prelude::*;

const EXIT_OK: u8 = 0;
const EXIT_UNSAFE: u8 = 1;
const EXIT_ERROR: u8 = 2;
const EXIT_USAGE: u8 = 64;

/// The policy options shared by `scan` and `show`.
#[derive(Args, Debug, Clone)]
pub struct PolicyArgs {
    /// Count globals that are not known to be safe data as unsafe (default: only dangerous ones).
    #[arg(long)]
    strict: bool,
    /// Accept this global (`module.name`) or module (`module`, covering its submodules);
    /// repeatable. Dangerous globals are only accepted when named exactly.
    #[arg(long = "allow", value_name = "ENTRY")]
    allow: Vec<String>,
}

impl PolicyArgs {
    fn policy(&self) -> Policy {
        let mut policy = if self.strict {
            Policy::strict()
        } else {
            Policy::default()
        };
        policy.allow.extend(self.allow.iter().cloned());
        policy
    }
}

#[derive(Args, Debug)]
#[command(after_help = "Exit status: 0 every file safe, 1 at least one unsafe, \
    2 errors but nothing unsafe, 64 usage error.")]
pub struct ScanArgs {
    /// Files and folders to scan (folders recursively).
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    #[command(flatten)]
    policy: PolicyArgs,
    /// In folders, scan only files whose path matches this glob (repeatable), e.g. '*.pt'.
    #[arg(long, value_name = "GLOB")]
    include: Vec<String>,
    /// In folders, skip files whose path matches this glob (repeatable), e.g. '**/.git/**'.
    #[arg(long, value_name = "GLOB")]
    exclude: Vec<String>,
    /// Write one JSON document to stdout.
    #[arg(long, conflicts_with = "sarif")]
    json: bool,
    /// Write a SARIF 2.1.0 log to stdout (for code-scanning dashboards).
    #[arg(long)]
    sarif: bool,
    /// Print only unsafe and failed files, no summary.
    #[arg(short, long)]
    quiet: bool,
    /// How many containers deep pickles are looked for.
    #[arg(long, default_value_t = 8, value_name = "N")]
    max_depth: usize,
}

#[derive(Args, Debug)]
pub struct ModulesArgs {
    /// Files to list (containers included).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// The file to disassemble.
    #[arg(value_name = "FILE")]
    file: PathBuf,
}

#[derive(Args, Debug)]
pub struct ShowArgs {
    /// The file to show.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Containers deeper than this are shown as `...`.
    #[arg(long, default_value_t = 6, value_name = "N")]
    depth: usize,
    /// At most this many items of each container are shown.
    #[arg(long, default_value_t = 20, value_name = "N")]
    width: usize,
    #[command(flatten)]
    policy: PolicyArgs,
}

fn globs(patterns: &[String]) -> Result<Option<GlobSet>, String> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut builder = GlobSetBuilder::new();
    for p in patterns {
        builder.add(Glob::new(p).map_err(|e| format!("bad glob {p:?}: {e}"))?);
    }
    builder.build().map(Some).map_err(|e| e.to_string())
}

fn matches(set: &GlobSet, root: &Path, path: &Path) -> bool {
    let relative = path.strip_prefix(root).unwrap_or(path);
    set.is_match(path)
        || set.is_match(relative)
        || path.file_name().is_some_and(|n| set.is_match(n))
}

/// Files to scan: (path, named on the command line).
fn collect(args: &ScanArgs) -> Result<Vec<(PathBuf, bool)>, String> {
    let include = globs(&args.include)?;
    let exclude = globs(&args.exclude)?;
    let mut files = Vec::new();
    for root in &args.paths {
        if !root.is_dir() {
            files.push((root.clone(), true));
            continue;
        }
        let walk = walkdir::WalkDir::new(root)
            .follow_links(false)
            .sort_by_file_name();
        for entry in walk {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    let path = e.path().map(Path::to_path_buf).unwrap_or(root.clone());
                    files.push((path, true));
                    continue;
                }
            };
            if !entry.file_type().is_file() {
                continue;
            }
            let path = entry.path();
            if let Some(set) = &include {
                if !matches(set, root, path) {
                    continue;
                }
            }
            if let Some(set) = &exclude {
                if matches(set, root, path) {
                    continue;
                }
            }
            files.push((path.to_path_buf(), false));
        }
    }
    Ok(files)
}

fn out(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

pub fn scan(args: ScanArgs) -> u8 {
    let files = match collect(&args) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("pypickle scan: {e}");
            return EXIT_USAGE;
        }
    };
    let options = ScanOptions {
        policy: args.policy.policy(),
        max_depth: args.max_depth,
        ..ScanOptions::default()
    };
    for entry in options.policy.invalid_allow_entries() {
        eprintln!("pypickle scan: ignoring invalid --allow entry {entry:?}");
    }
    let machine = args.json || args.sarif;
    let bar = if !machine && !args.quiet && files.len() > 1 && std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(files.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} files {elapsed}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Some(bar)
    } else {
        None
    };
    let reports: Vec<Option<FileReport>> = files
        .par_iter()
        .map(|(path, named)| {
            let report = scan::scan_file(path, &options);
            if let Some(bar) = &bar {
                bar.inc(1);
            }
            if !named && report.unrecognised() {
                None
            } else {
                Some(report)
            }
        })
        .collect();
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let skipped = reports.iter().filter(|r| r.is_none()).count();
    let reports: Vec<FileReport> = reports.into_iter().flatten().collect();
    let summary = report::Summary::of(&reports, skipped);
    if args.json {
        let doc = report::json(&reports, skipped);
        out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&doc).unwrap_or_default()
        ));
    } else if args.sarif {
        let doc = report::sarif(&reports);
        out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&doc).unwrap_or_default()
        ));
    } else {
        let mut text = String::new();
        for r in &reports {
            if args.quiet && r.verdict == FileVerdict::Safe {
                continue;
            }
            report::human_file(r, &mut text);
        }
        if !args.quiet {
            text.push_str(&report::human_summary(&summary));
            text.push('\n');
        }
        out(&text);
    }
    summary.exit_code() as u8
}

/// The names `pypickle::validate_modules` would list: a `builtins.getattr` used only as
/// proven attribute walks is left out (the walks are listed as the globals they reach).
fn names(report: &FileReport) -> Vec<String> {
    let set: BTreeSet<String> = report
        .globals
        .iter()
        .filter(|g| !g.global.usage.attribute_walk)
        .filter_map(|g| match &g.global.target {
            Target::Named { module, name } => Some(format!("{module}.{name}")),
            Target::Extension(_) => None,
        })
        .collect();
    set.into_iter().collect()
}

pub fn modules(args: ModulesArgs) -> u8 {
    let options = ScanOptions {
        policy: Policy::no_validation(),
        ..ScanOptions::default()
    };
    let many = args.files.len() > 1;
    let mut code = EXIT_OK;
    let mut text = String::new();
    for path in &args.files {
        let report = scan::scan_file(path, &options);
        if many {
            let _ = writeln!(text, "{}:", path.display());
        }
        if report.unrecognised() || (report.globals.is_empty() && report.error.is_some()) {
            out(&text);
            text.clear();
            eprintln!(
                "pypickle modules: {}: {}",
                path.display(),
                report.error.as_deref().unwrap_or("no pickle")
            );
            code = EXIT_ERROR;
            continue;
        }
        for name in names(&report) {
            let _ = writeln!(text, "{name}");
        }
        if let Some(e) = &report.error {
            eprintln!(
                "pypickle modules: {}: {e} (globals before it listed)",
                path.display()
            );
            code = EXIT_ERROR;
        }
    }
    out(&text);
    code
}

pub fn inspect(args: InspectArgs) -> u8 {
    let options = ScanOptions {
        keep_pickles: true,
        ..ScanOptions::default()
    };
    let report = scan::scan_file(&args.file, &options);
    if report.unrecognised() {
        eprintln!(
            "pypickle inspect: {}: {}",
            args.file.display(),
            report.error.as_deref().unwrap_or("no pickle")
        );
        return EXIT_ERROR;
    }
    let mut text = String::new();
    let _ = writeln!(text, "file: {}", report.path);
    if let Some(c) = report.content {
        let _ = writeln!(text, "content: {c}");
    }
    if let Some(env) = &report.envelope {
        let _ = writeln!(text, "envelope: {env}");
    }
    let mut protocols = BTreeSet::new();
    let mut pickles = 0usize;
    let mut calls = Vec::new();
    let count = report.pickles.len();
    for (i, stream) in report.pickles.iter().enumerate() {
        let _ = writeln!(
            text,
            "\n== stream {} of {count}: {} ({}) ==",
            i + 1,
            stream.member.as_deref().unwrap_or("the file"),
            stream.kind
        );
        text.push_str(&pypickle_pickle::disasm::disassembly(&stream.bytes));
        let analysis = pypickle_pickle::analyze(&stream.bytes);
        protocols.extend(analysis.protocols.iter().copied());
        pickles += analysis.roots + usize::from(analysis.error.is_some());
        let loaded = pypickle_pickle::load(&stream.bytes, &pypickle_pickle::Limits::default());
        collect_calls(&loaded.value, stream.member.as_deref(), &mut calls);
    }
    let _ = writeln!(text, "\nsummary:");
    let _ = writeln!(
        text,
        "  protocols: {}",
        if protocols.is_empty() {
            "-".to_string()
        } else {
            protocols
                .iter()
                .map(u8::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    let _ = writeln!(text, "  pickles: {pickles}");
    let _ = writeln!(text, "  globals: {}", report.globals.len());
    for g in &report.globals {
        let mut line = format!(
            "    {:<9} {} at offset {}",
            g.risk.to_string(),
            g.global.target,
            g.global.offset
        );
        if let Some(m) = &g.global.member {
            let _ = write!(line, " in {m}");
        }
        let _ = write!(line, " ({}: {})", g.rule, g.rule.reason());
        let _ = writeln!(text, "{line}");
    }
    let _ = writeln!(text, "  calls: {}", calls.len());
    const MAX_CALLS: usize = 40;
    for c in calls.iter().take(MAX_CALLS) {
        let _ = writeln!(text, "    {c}");
    }
    if calls.len() > MAX_CALLS {
        let _ = writeln!(text, "    ... ({} more)", calls.len() - MAX_CALLS);
    }
    let _ = writeln!(text, "  findings: {}", report.findings.len());
    for f in &report.findings {
        let _ = writeln!(text, "    {f}");
    }
    if let Some(e) = &report.error {
        let _ = writeln!(text, "  error: {e}");
    }
    let _ = writeln!(text, "  verdict: {}", report.verdict);
    out(&text);
    verdict_code(report.verdict)
}

fn collect_calls(value: &Value, member: Option<&str>, calls: &mut Vec<String>) {
    for object in value.objects() {
        let Object::Instance(inst) = object else {
            continue;
        };
        let Some(Object::Global(g)) = value.object(inst.callable) else {
            continue;
        };
        let (module, name) = (&g.module, &g.name);
        let mut args = match value.object(inst.args) {
            Some(Object::Tuple(items)) => {
                let mut shown: Vec<String> = items
                    .iter()
                    .take(4)
                    .map(|a| show::render_item(value, *a, 2, 4))
                    .collect();
                if items.len() > 4 {
                    shown.push(format!("... ({} more)", items.len() - 4));
                }
                shown.join(", ")
            }
            _ => format!("*{}", show::render_item(value, inst.args, 2, 4)),
        };
        if args.len() > 160 {
            let cut = (0..=160)
                .rev()
                .find(|&i| args.is_char_boundary(i))
                .unwrap_or(0);
            args.truncate(cut);
            args.push_str("...");
        }
        let mut line = format!("{module}.{name}({args})");
        if let Some(m) = member {
            let _ = write!(line, "  [in {m}]");
        }
        calls.push(line);
    }
}

fn verdict_code(v: FileVerdict) -> u8 {
    match v {
        FileVerdict::Safe => EXIT_OK,
        FileVerdict::Unsafe => EXIT_UNSAFE,
        FileVerdict::Error => EXIT_ERROR,
    }
}

pub fn show(args: ShowArgs) -> u8 {
    let policy = args.policy.policy();
    let options = ScanOptions {
        keep_pickles: true,
        policy: policy.clone(),
        ..ScanOptions::default()
    };
    let report = scan::scan_file(&args.file, &options);
    let name = args.file.display();
    let value = match report.pickles.first() {
        Some(stream) => {
            if report.verdict == FileVerdict::Unsafe {
                let mut msg = format!("pypickle show: {name}: refused by the policy:");
                for g in report.refused() {
                    let _ = write!(msg, "\n  {g}");
                }
                eprintln!("{msg}");
                return EXIT_UNSAFE;
            }
            match pypickle_pickle::load_value(&stream.bytes, &policy) {
                Ok(v) => v,
                Err(e) => {
                    eprintln!("pypickle show: {name}: {e}");
                    return if e.is_unsafe() {
                        EXIT_UNSAFE
                    } else {
                        EXIT_ERROR
                    };
                }
            }
        }
        None => {
            let mut load = pypickle::LoadOptions::new().allow(policy.allow.iter().cloned());
            if args.policy.strict {
                load = load.strict();
            }
            match pypickle::load_value(&args.file, &load) {
                Ok(v) => v,
                Err(e) => {
                    // Formats without a Python value model: their serde data model instead.
                    if report.content.is_some() {
                        if let Ok(v) = pypickle::load::<serde_json::Value>(&args.file, &load) {
                            out(&format!(
                                "{}\n",
                                show::render_json(&v, args.depth, args.width)
                            ));
                            return EXIT_OK;
                        }
                    }
                    eprintln!("pypickle show: {e}");
                    return if e.is_unsafe() {
                        EXIT_UNSAFE
                    } else {
                        EXIT_ERROR
                    };
                }
            }
        }
    };
    out(&format!(
        "{}\n",
        show::render(&value, args.depth, args.width)
    ));
    EXIT_OK
}

pub fn formats() -> u8 {
    let mut text = String::new();
    for name in pypickle::formats() {
        let _ = writeln!(text, "{name}");
    }
    out(&text);
    EXIT_OK
}
