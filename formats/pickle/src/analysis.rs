//! The entry points: what a pickle imports ([`analyze`]), what it builds ([`load`]), and the
//! module list `pypickle.validate_modules` should have returned ([`validate_modules`]).
//!
//! All three run the one machine of [`crate::machine`]; `analyze` just tells it not to keep
//! container contents, so large payloads are skipped over, never copied.

use pypickle_core::{GlobalRef, Item, Target, Value};

use crate::machine::{
    export, Finding, Limits, Machine, Options, Outcome, PickleError, SkipAfterBuild,
};

/// What a pickle imports and how, without its value.
#[derive(Clone, Debug, PartialEq)]
pub struct Analysis {
    /// Every global reference, in stream order.
    pub globals: Vec<GlobalRef>,
    pub findings: Vec<Finding>,
    /// Why the machine stopped early, if it did; everything before it is reported. Set when
    /// the first pickle breaks (CPython's `pickle.load` fails there too) or a limit is hit; a
    /// later stacked pickle that breaks is a `TrailingData` finding instead.
    pub error: Option<PickleError>,
    /// The protocol in force at the end of each pickle run (0 when no PROTO).
    pub protocols: Vec<u8>,
    /// How many pickles ran to their STOP.
    pub roots: usize,
    /// Opcodes executed.
    pub opcodes: u64,
}

/// A pickle's value and everything [`Analysis`] says.
#[derive(Clone, Debug, PartialEq)]
pub struct Loaded {
    /// The object graph of every pickle; its root is the first pickle's value (None if none).
    pub value: Value,
    /// The value of each pickle that ran to its STOP, as items of `value`.
    pub roots: Vec<Item>,
    /// The stack when the machine stopped on an error: the partial value.
    pub partial: Vec<Item>,
    pub globals: Vec<GlobalRef>,
    pub findings: Vec<Finding>,
    pub error: Option<PickleError>,
    pub protocols: Vec<u8>,
    pub opcodes: u64,
}

/// The globals, findings and error of a pickle (every pickle of a stacked input), with
/// CPython's defaults (ASCII for Python 2 strs, `fix_imports` on) and the default limits.
pub fn analyze(bytes: &[u8]) -> Analysis {
    analyze_with(bytes, &Options::default())
}

pub fn analyze_with(bytes: &[u8], options: &Options) -> Analysis {
    Analysis::of(Machine::new(bytes, options, false).run())
}

/// [`analyze_with`] for streams with raw bytes after the BUILDs of one class (joblib's
/// arrays): `skip` says where the opcodes resume after each. Values are built (to show the
/// instances to `skip`), so `options.limits` bound the work as for [`load_with`].
pub fn analyze_skipping<'o>(
    bytes: &[u8],
    options: &'o Options,
    skip: SkipAfterBuild<'o>,
) -> Analysis {
    Analysis::of(Machine::new(bytes, options, true).skipping(skip).run())
}

impl Analysis {
    pub(crate) fn of(outcome: Outcome<'_>) -> Self {
        Analysis {
            roots: outcome.roots.len(),
            globals: outcome.globals,
            findings: outcome.findings,
            error: outcome.error,
            protocols: outcome.protocols,
            opcodes: outcome.opcodes,
        }
    }
}

/// The value of a pickle, as a graph, with its globals and findings.
pub fn load(bytes: &[u8], limits: &Limits) -> Loaded {
    load_with(
        bytes,
        &Options {
            limits: limits.clone(),
            ..Options::default()
        },
    )
}

pub fn load_with(bytes: &[u8], options: &Options) -> Loaded {
    exported(Machine::new(bytes, options, true).run(), options)
}

/// [`load_with`] with every opcode run by the machine's general step, none by its quick loop
/// for plain data: the same result, slower. For tests and fuzzing, which compare the two.
#[doc(hidden)]
pub fn load_step_by_step(bytes: &[u8], options: &Options) -> Loaded {
    exported(
        Machine::new(bytes, options, true).step_by_step().run(),
        options,
    )
}

/// [`analyze_with`] with every opcode run by the general step (see [`load_step_by_step`]).
#[doc(hidden)]
pub fn analyze_step_by_step(bytes: &[u8], options: &Options) -> Analysis {
    Analysis::of(Machine::new(bytes, options, false).step_by_step().run())
}

/// [`load_with`] for a caller that can let go of the input behind the machine (a mapped file):
/// every MiB or so, `passed(n)` says the machine has read the first `n` bytes and that nothing
/// it keeps borrows them (what it would have borrowed, it copies). The value is the same.
pub fn load_passing(bytes: &[u8], options: &Options, passed: &dyn Fn(usize)) -> Loaded {
    exported(
        Machine::new(bytes, options, true).releasing(passed).run(),
        options,
    )
}

pub(crate) fn exported(mut outcome: Outcome<'_>, options: &Options) -> Loaded {
    let nodes = std::mem::take(&mut outcome.nodes);
    let rows = std::mem::take(&mut outcome.rows);
    let mut error = outcome.error;
    let (value, roots, partial) = match export(
        nodes,
        rows,
        &outcome.globals,
        &outcome.roots,
        &outcome.partial,
        (!outcome.depths_exact).then_some(options.limits.max_depth),
        outcome.all_reachable,
    ) {
        Ok(exported) => exported,
        Err(message) => {
            // A value nested too deeply for its consumers is not handed out at all.
            error.get_or_insert(PickleError {
                offset: 0,
                message,
                limit: true,
            });
            (Value::new(), Vec::new(), Vec::new())
        }
    };
    Loaded {
        value,
        roots,
        partial,
        globals: outcome.globals,
        findings: outcome.findings,
        error,
        protocols: outcome.protocols,
        opcodes: outcome.opcodes,
    }
}

/// The sorted, distinct `module.name` of every named global of every pickle in `bytes`
/// (what the Python library's `validate_modules` means to list). Never fails: a damaged
/// stream lists what its readable prefix imports. STACK_GLOBALs with non-str operands appear
/// as `<unresolved>.<unresolved>`, so that an allowlist built from this list refuses them;
/// EXT codes have no name and are left out.
///
/// A proven attribute walk `getattr(G, 'name')` is listed as the global it reaches,
/// `G.name` (`zoneinfo.ZoneInfo._unpickle`); a `builtins.getattr` used only so
/// ([`pypickle_core::Usage::attribute_walk`]) is left out, since every policy accepts it once
/// the walks are accepted. Any other `getattr` is listed.
pub fn validate_modules(bytes: &[u8]) -> Vec<String> {
    let mut names: Vec<String> = analyze(bytes)
        .globals
        .into_iter()
        .filter(|g| !g.usage.attribute_walk)
        .filter_map(|g| match g.target {
            Target::Named { module, name } => Some(format!("{module}.{name}")),
            Target::Extension(_) => None,
        })
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}
