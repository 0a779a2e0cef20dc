//! A reference a file makes to a Python global (a module attribute the loader would import).
//! The pickle machine produces these; the policy engine judges them.

use std::fmt;

/// What a reference points at.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    /// `module` and `name` as CPython's `find_class` would import them: after the
    /// `fix_imports` remapping (protocol < 3); `name` may be dotted (protocol >= 4 walks it).
    Named { module: String, name: String },
    /// An EXT1/EXT2/EXT4 code of the `copyreg` extension registry: not resolvable from the file.
    Extension(i32),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Named { module, name } => write!(f, "{module}.{name}"),
            Target::Extension(code) => write!(f, "<extension code {code}>"),
        }
    }
}

/// How the file uses a global: imported always, and possibly called or given state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Usage {
    /// Called by REDUCE, INST, OBJ, NEWOBJ or NEWOBJ_EX (directly or through the memo).
    pub called: bool,
    /// Given state by BUILD.
    pub built: bool,
    /// Set by the pickle machine on a `builtins.getattr` imported by GLOBAL or STACK_GLOBAL
    /// when every use the stream makes of it is a proven attribute walk: a REDUCE of it with
    /// exactly the arguments `(G, 'name')`, where `G` is a global the stream imports by
    /// GLOBAL or STACK_GLOBAL and `'name'` a literal str that is a plain attribute name (ASCII
    /// identifier, not starting with `__`). Each such call is recorded as a global of its own,
    /// `G.name` (opcode REDUCE), and judged on its own; the policy then accepts this
    /// reference (see docs/security.md, "builtins.getattr").
    pub attribute_walk: bool,
}

/// One global reference found in a file.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GlobalRef {
    pub target: Target,
    /// Byte offset of the opcode that imports it (GLOBAL, STACK_GLOBAL, INST, EXT*), from the
    /// start of the bytes analysed.
    pub offset: u64,
    /// The name of that opcode.
    pub opcode: &'static str,
    /// The protocol in force (the last PROTO seen in this pickle; 0 when none).
    pub protocol: u8,
    /// Which pickle of a stacked file (0 for the first).
    pub pickle: usize,
    pub usage: Usage,
    /// Where inside a container the pickle was found (`archive/data.pkl`), if anywhere.
    pub member: Option<String>,
}
