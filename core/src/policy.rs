//! The risk-policy engine: decides, without importing anything, whether the globals a file
//! references may be loaded.
//!
//! Judging happens in two steps:
//!
//! 1. [`classify`] puts each global in a [`Risk`] class using static tables (see `policy/tables.rs`
//!    and `docs/security.md`), and names the [`Rule`] that decided. Only the target matters here.
//! 2. A [`Policy`] (a [`Mode`] and allow entries) accepts or refuses each classified global, and
//!    [`Policy::judge`] returns a [`Verdict`] listing every global of the file, in file order.
//!
//! Classification of `module.name` (CPython imports `module`, then walks `name` attribute by
//! attribute when the protocol is at least 4), first rule that applies:
//!
//! - `Extension(code)`: **dangerous**: the extension registry lives in the loading process.
//! - an empty module or step, or a `<locals>` step: **dangerous** (malformed; CPython cannot
//!   import it, so refusing costs nothing and guessing could).
//! - the full path is an entry of [`SAFE`]: **safe**; an entry of [`REVIEWED`]: **unknown**.
//!   Both tables match exactly, never by prefix.
//! - the full path, or any prefix of it at a dot boundary, is an entry of [`DANGEROUS`]:
//!   **dangerous** (a dangerous module makes its submodules dangerous; a dangerous global makes
//!   whatever is walked from it dangerous). The longest entry names the rule.
//! - the attribute walk (`name`'s steps) is dangerous when a step
//!   - is a dunder (`__globals__`, `__builtins__`, `__class__`, `__subclasses__`, `__import__`),
//!     or, after the first step, starts with `__` at all;
//!   - names a module in [`ATTRIBUTE_MODULES`] (`os`, `_os`, `sys`, `builtins`, `subprocess`...):
//!     reached as an attribute, it is taken to be that module (`posixpath.os`);
//!   - is a name in [`DANGEROUS_NAMES`] (`system`, `popen`, `exec*`, `spawn*`, `eval`, `getattr`,
//!     `open`...), whatever the module: `from os import system` re-exports reach the same function;
//!   - after the first step, is a method in [`DANGEROUS_METHODS`] (`tofile`, `to_pickle`,
//!     `write_text`, `load`...);
//!   - is walked through (another step follows it) and, read as a top-level path, the rest of
//!     the walk matches [`DANGEROUS`]: `Foo.types.FunctionType` walks into `types.FunctionType`.
//! - otherwise: **unknown**.
//!
//! Allow entries are matched against the full string `module + "." + name`: an entry matches when
//! it equals it, or is a prefix of it ending at a dot (`numpy` matches `numpy.x.y`, not `numpyx`).
//! A dangerous global is accepted only by an entry equal to its full path.

mod tables;

pub use tables::{
    ATTRIBUTE_MODULES, DANGEROUS, DANGEROUS_METHODS, DANGEROUS_NAMES, REVIEWED, SAFE,
};

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

use crate::global::{GlobalRef, Target};

/// How strictly globals are judged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Dangerous globals refused (unless an allow entry names them exactly); safe and unknown
    /// accepted. The Python library's semantics, with its defects fixed.
    #[default]
    Default,
    /// Only safe globals and globals matched by an allow entry accepted (dangerous ones still need
    /// an exact entry).
    Strict,
    /// Everything accepted: for files you trust (you made them, or checked a signature). Globals
    /// are still classified, so reports show what the file references.
    NoValidation,
}

impl Mode {
    /// The name used in messages and accepted by [`Mode::from_str`].
    pub fn name(self) -> &'static str {
        match self {
            Mode::Default => "default",
            Mode::Strict => "strict",
            Mode::NoValidation => "no-validation",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Mode {
    type Err = String;

    /// `default`, `strict` or `no-validation` (also `no_validation`, `novalidation`, `none`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "default" => Ok(Mode::Default),
            "strict" => Ok(Mode::Strict),
            "no-validation" | "no_validation" | "novalidation" | "none" => Ok(Mode::NoValidation),
            _ => Err(format!(
                "unknown policy mode {s:?}; expected default, strict or no-validation"
            )),
        }
    }
}

/// The risk class of a global.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Risk {
    /// Runs code, processes, imports, I/O or reaches interpreter internals (or cannot be known).
    Dangerous,
    /// In no table: not known to be data, not known to be a gadget (numpy, sklearn, user classes).
    Unknown,
    /// A data constructor: loading it cannot do anything but build data.
    Safe,
}

impl fmt::Display for Risk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Risk::Dangerous => "dangerous",
            Risk::Unknown => "unknown",
            Risk::Safe => "safe",
        })
    }
}

/// Whether a table entry names a module (and its submodules) or a global.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Module,
    Global,
}

/// One entry of [`DANGEROUS`], [`SAFE`] or [`REVIEWED`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Entry {
    /// `module` or `module.qualname`.
    pub path: &'static str,
    pub kind: Kind,
    /// Why the entry is in its table.
    pub reason: &'static str,
}

/// One entry of [`ATTRIBUTE_MODULES`], [`DANGEROUS_NAMES`] or [`DANGEROUS_METHODS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NameEntry {
    /// An attribute name (one step of a dotted name).
    pub name: &'static str,
    /// For [`ATTRIBUTE_MODULES`]: the [`DANGEROUS`] module the attribute stands for; else empty.
    pub module: &'static str,
    /// For the name tables: why the name is dangerous; else empty.
    pub reason: &'static str,
}

/// The rule that decided a global's class (or, in a [`Verdict`], its acceptance).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Rule {
    /// An entry of [`SAFE`].
    Safe(&'static Entry),
    /// An entry of [`REVIEWED`] (risk unknown).
    Reviewed(&'static Entry),
    /// The path or one of its prefixes is an entry of [`DANGEROUS`].
    Dangerous(&'static Entry),
    /// The attribute walk reaches a [`DANGEROUS`] entry; `via` is the attribute step that led there.
    WalkInto {
        entry: &'static Entry,
        via: &'static str,
    },
    /// A step is in [`DANGEROUS_NAMES`].
    DangerousName(&'static NameEntry),
    /// A step after the first is in [`DANGEROUS_METHODS`].
    DangerousMethod(&'static NameEntry),
    /// A step is a dunder (or, after the first step, starts with `__`).
    Dunder(Box<str>),
    /// An empty module or step, or a `<locals>` step.
    Malformed,
    /// An EXT1/EXT2/EXT4 code.
    Extension,
    /// In no table.
    Unknown,
    /// Accepted by this allow entry of the policy.
    Allowed(Arc<str>),
    /// `builtins.getattr` used only as proven attribute walks (see
    /// [`crate::Usage::attribute_walk`]): accepted, since each walk is judged as the global
    /// it reaches.
    AttributeWalk,
}

const DUNDER_REASON: &str =
    "reaches interpreter internals: globals, builtins, classes, subclasses, the import machinery";
const MALFORMED_REASON: &str =
    "CPython cannot import it (empty step or <locals>): refused rather than guessed";
const EXTENSION_REASON: &str =
    "the copyreg extension registry lives in the loading process, so the global cannot be known";
const UNKNOWN_REASON: &str = "not known to be data, not known to be a gadget";
const ALLOWED_REASON: &str = "named by the policy's allow list";
const ATTRIBUTE_WALK_REASON: &str =
    "used only as getattr(global, 'name') with a literal name: each \
     use is judged as the global it reaches";

/// The global whose proven attribute walks the policy accepts ([`Rule::AttributeWalk`]).
const GETATTR_MODULE: &str = "builtins";
const GETATTR_NAME: &str = "getattr";

impl Rule {
    /// Why the rule applies: one short phrase.
    pub fn reason(&self) -> &'static str {
        match self {
            Rule::Safe(e) | Rule::Reviewed(e) | Rule::Dangerous(e) => e.reason,
            Rule::WalkInto { entry, .. } => entry.reason,
            Rule::DangerousName(n) | Rule::DangerousMethod(n) => n.reason,
            Rule::Dunder(_) => DUNDER_REASON,
            Rule::Malformed => MALFORMED_REASON,
            Rule::Extension => EXTENSION_REASON,
            Rule::Unknown => UNKNOWN_REASON,
            Rule::Allowed(_) => ALLOWED_REASON,
            Rule::AttributeWalk => ATTRIBUTE_WALK_REASON,
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::Safe(e) => write!(f, "safe constructor {}", e.path),
            Rule::Reviewed(e) => write!(f, "reviewed global {}", e.path),
            Rule::Dangerous(e) => match e.kind {
                Kind::Module => write!(f, "dangerous module {}", e.path),
                Kind::Global => write!(f, "dangerous global {}", e.path),
            },
            Rule::WalkInto { entry, via } => {
                write!(f, "dotted name walks into {}", entry.path)?;
                if *via != first_step(entry.path) {
                    write!(f, " (attribute {via})")?;
                }
                Ok(())
            }
            Rule::DangerousName(n) => write!(f, "dangerous name {}", n.name),
            Rule::DangerousMethod(n) => write!(f, "dotted name walks to method {}", n.name),
            Rule::Dunder(step) => write!(f, "dotted name walks through {step}"),
            Rule::Malformed => f.write_str("malformed name"),
            Rule::Extension => f.write_str("extension codes cannot be resolved"),
            Rule::Unknown => f.write_str("unknown (not in any table)"),
            Rule::Allowed(entry) => write!(f, "allow entry {entry}"),
            Rule::AttributeWalk => f.write_str("attribute walks of imported globals only"),
        }
    }
}

/// A global's risk class and the table rule that decided it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Classification {
    pub risk: Risk,
    pub rule: Rule,
    /// Why: the deciding entry's reason (the same as `rule.reason()`).
    pub reason: &'static str,
}

impl Classification {
    fn new(risk: Risk, rule: Rule) -> Self {
        let reason = rule.reason();
        Classification { risk, rule, reason }
    }
}

/// Classifies one global by the tables alone (no policy).
pub fn classify(target: &Target) -> Classification {
    classify_with(&mut String::new(), target)
}

/// [`classify`] for a `(module, name)` pair.
pub fn classify_name(module: &str, name: &str) -> Classification {
    let mut path = String::with_capacity(module.len() + 1 + name.len());
    path.push_str(module);
    path.push('.');
    path.push_str(name);
    classify_path(&path, module.len())
}

/// Classifies `target`, leaving `module.name` in `buf` (empty for an extension code).
fn classify_with(buf: &mut String, target: &Target) -> Classification {
    buf.clear();
    match target {
        Target::Extension(_) => Classification::new(Risk::Dangerous, Rule::Extension),
        Target::Named { module, name } => {
            buf.push_str(module);
            buf.push('.');
            buf.push_str(name);
            classify_path(buf, module.len())
        }
    }
}

/// `path` is `module.name`, with the module `module_len` bytes long.
fn classify_path(path: &str, module_len: usize) -> Classification {
    let module = &path[..module_len];
    let name = &path[module_len + 1..];
    if malformed(module) || malformed(name) {
        return Classification::new(Risk::Dangerous, Rule::Malformed);
    }
    let index = index();
    match index.paths.get(path) {
        Some(PathClass::Safe(e)) => return Classification::new(Risk::Safe, Rule::Safe(e)),
        Some(PathClass::Reviewed(e)) => {
            return Classification::new(Risk::Unknown, Rule::Reviewed(e))
        }
        Some(PathClass::Dangerous(e)) => {
            return Classification::new(Risk::Dangerous, Rule::Dangerous(e))
        }
        None => {}
    }
    if let Some(e) = index.dangerous_prefix(path) {
        return Classification::new(Risk::Dangerous, Rule::Dangerous(e));
    }
    if let Some(rule) = index.walk_rule(name) {
        return Classification::new(Risk::Dangerous, rule);
    }
    Classification::new(Risk::Unknown, Rule::Unknown)
}

/// An empty step (empty string, leading, trailing or doubled dot) or a `<locals>` step.
fn malformed(dotted: &str) -> bool {
    dotted.is_empty()
        || dotted.starts_with('.')
        || dotted.ends_with('.')
        || dotted.contains("..")
        || (dotted.contains("<locals>") && dotted.split('.').any(|s| s == "<locals>"))
}

fn first_step(path: &str) -> &str {
    path.split('.').next().unwrap_or(path)
}

/// Binary search of a sorted table (the tables' own lookup; judging uses [`Index`]).
#[cfg(test)]
fn find_entry(table: &'static [Entry], path: &str) -> Option<&'static Entry> {
    table
        .binary_search_by(|e| e.path.cmp(path))
        .ok()
        .map(|i| &table[i])
}

#[cfg(test)]
fn find_name(table: &'static [NameEntry], name: &str) -> Option<&'static NameEntry> {
    table
        .binary_search_by(|e| e.name.cmp(name))
        .ok()
        .map(|i| &table[i])
}

/// A small, fast hasher for the index (FxHash). Lookups never insert, so hostile keys cannot
/// lengthen the fixed index's chains.
#[derive(Clone, Copy, Default)]
struct FxHasher(u64);

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.add(u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

type FxBuild = BuildHasherDefault<FxHasher>;

/// What a full path names in the tables (the three tables are disjoint; a test checks it).
#[derive(Clone, Copy)]
enum PathClass {
    Safe(&'static Entry),
    Reviewed(&'static Entry),
    Dangerous(&'static Entry),
}

/// What one attribute step names in the name tables.
#[derive(Clone, Copy, Default)]
struct StepInfo {
    /// In [`ATTRIBUTE_MODULES`]: the module entry it stands for.
    module: Option<(&'static NameEntry, &'static Entry)>,
    name: Option<&'static NameEntry>,
    method: Option<&'static NameEntry>,
    /// The first step of some [`DANGEROUS`] entry (`os`, `numpy`, `code`...).
    root: bool,
}

/// Hash maps over the static tables, built once.
struct Index {
    paths: HashMap<&'static str, PathClass, FxBuild>,
    steps: HashMap<&'static str, StepInfo, FxBuild>,
}

fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(Index::build)
}

impl Index {
    fn build() -> Index {
        let mut paths = HashMap::with_capacity_and_hasher(
            DANGEROUS.len() + SAFE.len() + REVIEWED.len(),
            FxBuild::default(),
        );
        for e in &DANGEROUS {
            paths.insert(e.path, PathClass::Dangerous(e));
        }
        for e in &SAFE {
            paths.insert(e.path, PathClass::Safe(e));
        }
        for e in &REVIEWED {
            paths.insert(e.path, PathClass::Reviewed(e));
        }
        let mut steps: HashMap<&'static str, StepInfo, FxBuild> = HashMap::default();
        for a in &ATTRIBUTE_MODULES {
            let module = DANGEROUS
                .iter()
                .find(|e| e.path == a.module)
                .expect("every ATTRIBUTE_MODULES module is a DANGEROUS entry");
            steps.entry(a.name).or_default().module = Some((a, module));
        }
        for n in &DANGEROUS_NAMES {
            steps.entry(n.name).or_default().name = Some(n);
        }
        for n in &DANGEROUS_METHODS {
            steps.entry(n.name).or_default().method = Some(n);
        }
        for e in &DANGEROUS {
            steps.entry(first_step(e.path)).or_default().root = true;
        }
        Index { paths, steps }
    }

    /// The longest [`DANGEROUS`] entry equal to `path` or a prefix of it ending at a dot.
    fn dangerous_prefix(&self, path: &str) -> Option<&'static Entry> {
        if !self.steps.get(first_step(path)).is_some_and(|s| s.root) {
            return None;
        }
        let longest = std::iter::once(path.len()).chain(path.rmatch_indices('.').map(|(i, _)| i));
        longest
            .filter_map(|end| self.paths.get(&path[..end]))
            .find_map(|class| match class {
                PathClass::Dangerous(e) => Some(*e),
                _ => None,
            })
    }

    /// The rules on the attribute walk `name` (see the module documentation).
    fn walk_rule(&self, name: &str) -> Option<Rule> {
        let mut start = 0;
        for (i, step) in name.split('.').enumerate() {
            let first = i == 0;
            if step.starts_with("__") && (!first || (step.len() >= 4 && step.ends_with("__"))) {
                return Some(Rule::Dunder(step.into()));
            }
            if let Some(info) = self.steps.get(step) {
                if let Some((a, entry)) = info.module {
                    return Some(Rule::WalkInto { entry, via: a.name });
                }
                if let Some(n) = info.name {
                    return Some(Rule::DangerousName(n));
                }
                if let (false, Some(n)) = (first, info.method) {
                    return Some(Rule::DangerousMethod(n));
                }
                // Walked through (a step follows): read the rest of the walk as a top-level path.
                let rest = &name[start..];
                if info.root && rest.len() > step.len() {
                    if let Some(entry) = self.dangerous_prefix(rest) {
                        return Some(Rule::WalkInto {
                            entry,
                            via: first_step(entry.path),
                        });
                    }
                }
            }
            start += step.len() + 1;
        }
        None
    }
}

/// A policy: a mode and allow entries.
///
/// An allow entry is `module.qualname` (`numpy._core.multiarray._reconstruct`) or a module or
/// package (`numpy`), matched against the full string `module + "." + name` exactly or as a prefix
/// ending at a dot. Safe and unknown globals are accepted by any matching entry; a dangerous
/// global only by an entry equal to its full path (allowing `numpy` does not let
/// `numpy.testing._private.utils.runstring` through; allowing `os` does not allow `os.system`, but
/// allowing `os.system` does). Extension codes cannot be allowed. Entries that can never match
/// (empty, leading or trailing dot, empty step) are ignored; [`Policy::invalid_allow_entries`]
/// lists them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    pub mode: Mode,
    pub allow: Vec<String>,
}

impl Policy {
    /// `Mode::Strict`, no allow entries.
    pub fn strict() -> Self {
        Policy {
            mode: Mode::Strict,
            allow: Vec::new(),
        }
    }

    /// `Mode::NoValidation`: everything accepted (for files you trust).
    pub fn no_validation() -> Self {
        Policy {
            mode: Mode::NoValidation,
            allow: Vec::new(),
        }
    }

    /// `Mode::Default` with these allow entries.
    pub fn allowing<I, S>(entries: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Policy {
            mode: Mode::Default,
            allow: entries.into_iter().map(Into::into).collect(),
        }
    }

    /// This policy with another mode.
    pub fn with_mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// This policy with more allow entries.
    pub fn with_allow<I, S>(mut self, entries: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.allow.extend(entries.into_iter().map(Into::into));
        self
    }

    /// Allow entries that can never match anything (empty, a leading or trailing dot, an empty
    /// step, or whitespace).
    pub fn invalid_allow_entries(&self) -> impl Iterator<Item = &str> {
        self.allow
            .iter()
            .map(String::as_str)
            .filter(|e| malformed(e) || e.chars().any(char::is_whitespace))
    }

    /// Precomputes the allow entries, for judging many files with one policy.
    pub fn compile(&self) -> CompiledPolicy {
        CompiledPolicy {
            mode: self.mode,
            allow: self
                .allow
                .iter()
                .filter(|e| !e.is_empty())
                .map(|e| Arc::from(e.as_str()))
                .collect(),
        }
    }

    /// Judges every global of a file (in file order).
    pub fn judge(&self, globals: &[GlobalRef]) -> Verdict {
        self.compile().judge(globals)
    }

    /// Judges one target.
    pub fn judge_target(&self, target: &Target) -> (Classification, bool) {
        let compiled = self.compile();
        let mut buf = String::new();
        let class = classify_with(&mut buf, target);
        let decision = compiled.decide(&buf, target, &class);
        (class, decision.accepted)
    }
}

/// A [`Policy`] ready to judge: allow entries hashed.
#[derive(Clone, Debug)]
pub struct CompiledPolicy {
    mode: Mode,
    allow: HashSet<Arc<str>, FxBuild>,
}

struct Decision {
    accepted: bool,
    allowed_by: Option<Arc<str>>,
    unused_allow: Option<Arc<str>>,
}

impl CompiledPolicy {
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Judges every global of a file (in file order).
    pub fn judge(&self, globals: &[GlobalRef]) -> Verdict {
        let mut buf = String::new();
        let mut judged = Vec::with_capacity(globals.len());
        for global in globals {
            let class = classify_with(&mut buf, &global.target);
            let decision = self.decide(&buf, &global.target, &class);
            let (rule, accepted) = match decision.allowed_by {
                Some(entry) => (Rule::Allowed(entry), decision.accepted),
                None if !decision.accepted && is_attribute_walk(global) => {
                    (Rule::AttributeWalk, true)
                }
                None => (class.rule, decision.accepted),
            };
            judged.push(Judged {
                global: global.clone(),
                risk: class.risk,
                rule,
                accepted,
                unused_allow: decision.unused_allow.filter(|_| !accepted),
            });
        }
        Verdict {
            mode: self.mode,
            globals: judged,
        }
    }

    /// The allow entries matching `path`: the one equal to it, and the longest prefix entry.
    fn matching(&self, path: &str) -> (Option<&Arc<str>>, Option<&Arc<str>>) {
        if self.allow.is_empty() || path.is_empty() {
            return (None, None);
        }
        let exact = self.allow.get(path);
        let prefix = path
            .rmatch_indices('.')
            .find_map(|(dot, _)| self.allow.get(&path[..dot]));
        (exact, prefix)
    }

    fn decide(&self, path: &str, target: &Target, class: &Classification) -> Decision {
        let (exact, prefix) = match target {
            Target::Named { .. } => self.matching(path),
            Target::Extension(_) => (None, None),
        };
        let any = exact.or(prefix).cloned();
        let (accepted, allowed_by, unused_allow) = match (self.mode, class.risk) {
            (Mode::NoValidation, _) => (true, None, None),
            (_, Risk::Dangerous) => match exact {
                Some(e) => (true, Some(e.clone()), None),
                None => (false, None, prefix.cloned()),
            },
            (_, Risk::Safe) => (true, None, None),
            (Mode::Default, Risk::Unknown) => (true, any, None),
            (Mode::Strict, Risk::Unknown) => (any.is_some(), any, None),
        };
        Decision {
            accepted,
            allowed_by,
            unused_allow,
        }
    }
}

/// Whether `global` is `builtins.getattr` used only as proven attribute walks, each of which
/// the file's globals hold as the global it reaches ([`crate::Usage::attribute_walk`]): the
/// pickle machine sets the flag, the policy checks the target again.
fn is_attribute_walk(global: &GlobalRef) -> bool {
    global.usage.attribute_walk
        && matches!(&global.target, Target::Named { module, name }
            if module == GETATTR_MODULE && name == GETATTR_NAME)
}

/// One global of a file, judged.
#[derive(Clone, Debug, PartialEq)]
pub struct Judged {
    /// The reference: target, offset, opcode, member, protocol, pickle index, usage.
    pub global: GlobalRef,
    pub risk: Risk,
    /// The allow entry that accepted it, else the table rule that classified it.
    pub rule: Rule,
    pub accepted: bool,
    /// An allow entry that matched by prefix but cannot accept a dangerous global.
    pub unused_allow: Option<Arc<str>>,
}

impl Judged {
    /// Why the rule applies.
    pub fn reason(&self) -> &'static str {
        self.rule.reason()
    }
}

impl fmt::Display for Judged {
    /// `posix.system at offset 12 in archive/data.pkl (dangerous module posix: runs processes...)`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let g = &self.global;
        write!(f, "{} at offset {}", g.target, g.offset)?;
        if let Some(member) = &g.member {
            write!(f, " in {member}")?;
        }
        if g.pickle > 0 {
            write!(f, ", pickle {}", g.pickle + 1)?;
        }
        write!(f, " ({}: {}", self.rule, self.rule.reason())?;
        if !self.accepted {
            if let Some(entry) = &self.unused_allow {
                write!(
                    f,
                    "; allow entry {entry} covers only safe and unknown globals: \
                     allow {} itself to accept it",
                    g.target
                )?;
            } else if self.risk == Risk::Unknown {
                f.write_str("; strict mode accepts only safe globals and allow entries")?;
            }
        } else if self.risk == Risk::Dangerous {
            f.write_str("; accepted")?;
        }
        f.write_str(")")
    }
}

/// The policy's decision about a file: every global, in file order, and whether it was accepted.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Verdict {
    /// The mode that judged.
    pub mode: Mode,
    pub globals: Vec<Judged>,
}

impl Verdict {
    /// True iff every global was accepted.
    pub fn accepted(&self) -> bool {
        self.globals.iter().all(|g| g.accepted)
    }

    /// The refused globals, in file order.
    pub fn refused(&self) -> impl Iterator<Item = &Judged> {
        self.globals.iter().filter(|g| !g.accepted)
    }

    /// Every judged global, in file order.
    pub fn globals(&self) -> &[Judged] {
        &self.globals
    }

    /// The riskiest class present (`None` for a file without globals).
    pub fn worst_risk(&self) -> Option<Risk> {
        self.globals.iter().map(|g| g.risk).min()
    }

    /// `Ok(self)` when accepted, else the error [`crate::Error::unsafe_content`] carrying it.
    pub fn into_result(self) -> crate::Result<Verdict> {
        if self.accepted() {
            Ok(self)
        } else {
            Err(crate::Error::unsafe_content(self))
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        "global"
    } else {
        "globals"
    }
}

impl fmt::Display for Verdict {
    /// Accepted: `accepted 3 globals (default mode)`. Refused: a line naming the count, then one
    /// line per refused global.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let refused = self.refused().count();
        let total = self.globals.len();
        if refused == 0 {
            return write!(f, "accepted {total} {} ({} mode)", plural(total), self.mode);
        }
        write!(f, "refused {refused} {}", plural(refused))?;
        if refused != total {
            write!(f, " of {total}")?;
        }
        write!(f, " ({} mode):", self.mode)?;
        for (i, judged) in self.refused().enumerate() {
            let sep = if i + 1 < refused { ";" } else { "" };
            write!(f, "\n  {judged}{sep}")?;
        }
        Ok(())
    }
}

/// The tables as the Markdown section of `docs/security.md` (a unit test keeps them equal).
#[doc(hidden)]
pub fn tables_markdown() -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let entries = |out: &mut String, title: &str, intro: &str, table: &[Entry], scope: bool| {
        let _ = writeln!(out, "### {title} ({} entries)\n\n{intro}\n", table.len());
        if scope {
            out.push_str("| entry | covers | why |\n|---|---|---|\n");
        } else {
            out.push_str("| entry | why |\n|---|---|\n");
        }
        for e in table {
            if scope {
                let covers = match e.kind {
                    Kind::Module => "module and submodules",
                    Kind::Global => "global and attributes",
                };
                let _ = writeln!(out, "| `{}` | {covers} | {} |", e.path, e.reason);
            } else {
                let _ = writeln!(out, "| `{}` | {} |", e.path, e.reason);
            }
        }
        out.push('\n');
    };
    entries(
        &mut out,
        "Dangerous",
        "Each entry covers its path and everything under it at a dot boundary.",
        &DANGEROUS,
        true,
    );
    entries(
        &mut out,
        "Safe",
        "Exact matches only: `builtins.set` is safe, `builtins.set.x` is not.",
        &SAFE,
        false,
    );
    entries(
        &mut out,
        "Reviewed (unknown)",
        "Exact matches inside dangerous modules, classified unknown: accepted by the default \
         mode, refused by strict mode unless allowed.",
        &REVIEWED,
        false,
    );
    let _ = writeln!(
        out,
        "### Attribute steps that stand for a dangerous module ({} entries)\n",
        ATTRIBUTE_MODULES.len()
    );
    out.push_str("| attribute | taken to be |\n|---|---|\n");
    for a in &ATTRIBUTE_MODULES {
        let _ = writeln!(out, "| `{}` | `{}` |", a.name, a.module);
    }
    out.push('\n');
    let names = |out: &mut String, title: &str, table: &[NameEntry]| {
        let _ = writeln!(out, "### {title} ({} entries)\n", table.len());
        out.push_str("| name | why |\n|---|---|\n");
        for n in table {
            let _ = writeln!(out, "| `{}` | {} |", n.name, n.reason);
        }
        out.push('\n');
    };
    names(
        &mut out,
        "Names dangerous at any step of a name",
        &DANGEROUS_NAMES,
    );
    names(
        &mut out,
        "Method names dangerous after the first step",
        &DANGEROUS_METHODS,
    );
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests;
