//! A loaded value in Python-literal style.

use pypickle_core::value::{Instance, Item, Object, ObjectId, Value};
use pypickle_pickle::disasm::{py_float_repr, py_str_repr};
use pypickle_pickle::reader::bytes_repr;

/// Prints `value`'s root: containers at most `depth` levels deep and `width` items wide.
pub fn render(value: &Value, depth: usize, width: usize) -> String {
    let mut p = Printer {
        value,
        depth,
        width,
        visiting: Vec::new(),
        out: String::new(),
    };
    p.item(value.root(), 0);
    p.out
}

/// One item, for call summaries.
pub fn render_item(value: &Value, item: Item, depth: usize, width: usize) -> String {
    let mut p = Printer {
        value,
        depth,
        width,
        visiting: Vec::new(),
        out: String::new(),
    };
    p.item(item, 0);
    p.out
}

struct Printer<'v> {
    value: &'v Value,
    depth: usize,
    width: usize,
    visiting: Vec<ObjectId>,
    out: String,
}

const RECONSTRUCT: [&str; 3] = [
    "numpy.core.multiarray._reconstruct",
    "numpy._core.multiarray._reconstruct",
    "numpy.core._multiarray_umath._reconstruct",
];

const SCALAR: [&str; 3] = [
    "numpy.core.multiarray.scalar",
    "numpy._core.multiarray.scalar",
    "numpy.core._multiarray_umath.scalar",
];

impl Printer<'_> {
    /// `numpy.float64(150.0)` from `scalar(dtype, raw bytes)` for the common numeric dtypes.
    fn scalar(&self, inst: &Instance) -> Option<String> {
        let value = self.value;
        let Some(Object::Tuple(args)) = value.object(inst.args) else {
            return None;
        };
        let dtype = *args.first()?;
        let Some(Object::Bytes(raw)) = value.object(*args.get(1)?) else {
            return None;
        };
        let name = dtype_name(value, dtype, None);
        let big = matches!(value.object(dtype), Some(Object::Instance(d))
            if d.state.last().and_then(|s| match value.object(*s) {
                Some(Object::Tuple(t)) => t.get(1).and_then(|b| value.as_str(*b)),
                _ => None,
            }) == Some(">"));
        let mut bytes = raw.clone();
        if big {
            bytes.reverse();
        }
        let text = match (name.as_str(), bytes.len()) {
            ("float64", 8) => py_float_repr(f64::from_le_bytes(bytes[..].try_into().ok()?)),
            ("float32", 4) => py_float_repr(f32::from_le_bytes(bytes[..].try_into().ok()?) as f64),
            ("int64", 8) => i64::from_le_bytes(bytes[..].try_into().ok()?).to_string(),
            ("int32", 4) => i32::from_le_bytes(bytes[..].try_into().ok()?).to_string(),
            ("int16", 2) => i16::from_le_bytes(bytes[..].try_into().ok()?).to_string(),
            ("int8", 1) => (bytes[0] as i8).to_string(),
            ("uint64", 8) => u64::from_le_bytes(bytes[..].try_into().ok()?).to_string(),
            ("uint32", 4) => u32::from_le_bytes(bytes[..].try_into().ok()?).to_string(),
            ("uint16", 2) => u16::from_le_bytes(bytes[..].try_into().ok()?).to_string(),
            ("uint8", 1) => bytes[0].to_string(),
            ("bool", 1) => (if bytes[0] != 0 { "True" } else { "False" }).to_string(),
            _ => return None,
        };
        Some(format!("numpy.{name}({text})"))
    }

    fn global_name(&self, item: Item) -> Option<String> {
        match self.value.object(item)? {
            Object::Global(g) => Some(format!("{}.{}", g.module, g.name)),
            _ => None,
        }
    }

    fn item(&mut self, item: Item, level: usize) {
        match item {
            Item::None => self.out.push_str("None"),
            Item::Bool(b) => self.out.push_str(if b { "True" } else { "False" }),
            Item::Int(i) => self.out.push_str(&i.to_string()),
            Item::Float(f) => self.out.push_str(&py_float_repr(f)),
            Item::Ref(id) => self.object(id, level),
        }
    }

    /// Before entry `i` of `len`: the separator, or the count of what is cut off past the
    /// width (then true: stop).
    fn next_entry(&mut self, i: usize, len: usize) -> bool {
        if i > 0 {
            self.out.push_str(", ");
        }
        if i >= self.width {
            self.out
                .push_str(&format!("... ({} more)", len - self.width));
            return true;
        }
        false
    }

    fn seq(&mut self, open: &str, items: &[Item], close: &str, level: usize, tuple: bool) {
        self.out.push_str(open);
        if level >= self.depth && !items.is_empty() {
            self.out.push_str("...");
        } else {
            for (i, it) in items.iter().enumerate() {
                if self.next_entry(i, items.len()) {
                    break;
                }
                self.item(*it, level + 1);
            }
            if tuple && items.len() == 1 {
                self.out.push(',');
            }
        }
        self.out.push_str(close);
    }

    fn pairs(
        &mut self,
        pairs: impl ExactSizeIterator<Item = (Item, Item)>,
        level: usize,
        sep: &str,
        keys_bare: bool,
    ) {
        let len = pairs.len();
        if level >= self.depth && len > 0 {
            self.out.push_str("...");
            return;
        }
        for (i, (k, v)) in pairs.enumerate() {
            if self.next_entry(i, len) {
                break;
            }
            match (keys_bare, self.value.as_str(k)) {
                (true, Some(name)) => self.out.push_str(name),
                _ => self.item(k, level + 1),
            }
            self.out.push_str(sep);
            self.item(v, level + 1);
        }
    }

    fn object(&mut self, id: ObjectId, level: usize) {
        if self.visiting.contains(&id) {
            self.out.push_str("...");
            return;
        }
        self.visiting.push(id);
        let value = self.value;
        match value.get(id) {
            Object::BigInt(b) => self.out.push_str(&b.to_string()),
            Object::Complex { re, im } => self.out.push_str(&format!(
                "({}{}{}j)",
                py_float_repr(*re),
                if *im >= 0.0 { "+" } else { "" },
                py_float_repr(*im)
            )),
            Object::Str(s) => self.out.push_str(&py_str_repr(s)),
            Object::Bytes(b) => self.out.push_str(&short_bytes(b)),
            Object::ByteArray(b) => self.out.push_str(&format!("bytearray({})", short_bytes(b))),
            Object::List(items) => self.seq("[", items, "]", level, false),
            Object::Tuple(items) => self.seq("(", items, ")", level, true),
            Object::Dict(pairs) => {
                self.out.push('{');
                self.pairs(pairs.iter(), level, ": ", false);
                self.out.push('}');
            }
            Object::Set(items) if items.is_empty() => self.out.push_str("set()"),
            Object::Set(items) => self.seq("{", items, "}", level, false),
            Object::FrozenSet(items) if items.is_empty() => self.out.push_str("frozenset()"),
            Object::FrozenSet(items) => self.seq("frozenset({", items, "})", level, false),
            Object::Global(g) => self.out.push_str(&format!("{}.{}", g.module, g.name)),
            Object::Extension(code) => self.out.push_str(&format!("<extension code {code}>")),
            Object::PersistentId(pid) => {
                self.out.push_str("persistent_load(");
                self.item(*pid, level + 1);
                self.out.push(')');
            }
            Object::Buffer { index, readonly } => self.out.push_str(&format!(
                "<out-of-band buffer {index}{}>",
                if *readonly { ", read-only" } else { "" }
            )),
            Object::Instance(inst) => self.instance(inst, level),
        }
        self.visiting.pop();
    }

    fn instance(&mut self, inst: &Instance, level: usize) {
        let callable = self.global_name(inst.callable);
        if let Some(name) = &callable {
            if RECONSTRUCT.contains(&name.as_str()) {
                if let Some(text) = self.ndarray(inst) {
                    self.out.push_str(&text);
                    return;
                }
            }
        }
        if let Some(name) = &callable {
            if name == "numpy.dtype" {
                let text = format!(
                    "numpy.dtype({})",
                    py_str_repr(&dtype_name(self.value, Item::None, Some(inst)))
                );
                self.out.push_str(&text);
                return;
            }
            if SCALAR.contains(&name.as_str()) {
                if let Some(text) = self.scalar(inst) {
                    self.out.push_str(&text);
                    return;
                }
            }
        }
        let value = self.value;
        let mut args: Vec<Item> = match value.object(inst.args) {
            Some(Object::Tuple(items)) => items.clone(),
            _ => vec![inst.args],
        };
        // copyreg._reconstructor(cls, base, state): the class is what the reader cares about.
        let shown_callable = match callable.as_deref() {
            Some("copyreg._reconstructor") if !args.is_empty() => {
                let cls = args[0];
                args.clear();
                self.global_name(cls)
            }
            Some("copyreg.__newobj__") if !args.is_empty() => {
                let cls = args.remove(0);
                self.global_name(cls)
            }
            _ => callable.clone(),
        };
        match shown_callable {
            Some(name) => self.out.push_str(&name),
            None => {
                self.out.push('(');
                self.item(inst.callable, level + 1);
                self.out.push(')');
            }
        }
        self.out.push('(');
        if level >= self.depth {
            self.out.push_str("...)");
            return;
        }
        let mut first = true;
        let mut sep = |out: &mut String| {
            if !first {
                out.push_str(", ");
            }
            first = false;
        };
        for (i, a) in args.iter().enumerate() {
            sep(&mut self.out);
            if i >= self.width {
                self.out.push_str("...");
                break;
            }
            self.item(*a, level + 1);
        }
        if let Some(kw) = inst.kwargs {
            if let Some(Object::Dict(pairs)) = value.object(kw) {
                if !pairs.is_empty() {
                    sep(&mut self.out);
                    self.pairs(pairs.iter(), level, "=", true);
                }
            }
        }
        for state in &inst.state {
            sep(&mut self.out);
            match value.object(*state) {
                Some(Object::Dict(pairs))
                    if pairs
                        .iter()
                        .all(|(k, _)| value.as_str(k).is_some_and(is_identifier)) =>
                {
                    if pairs.is_empty() {
                        self.out.push_str("state={}");
                    } else {
                        self.pairs(pairs.iter(), level, "=", true);
                    }
                }
                _ => {
                    self.out.push_str("state=");
                    self.item(*state, level + 1);
                }
            }
        }
        if !inst.list_items.is_empty() {
            sep(&mut self.out);
            let items = inst.list_items.clone();
            self.seq("items=[", &items, "]", level, false);
        }
        if !inst.dict_items.is_empty() {
            sep(&mut self.out);
            self.out.push_str("items={");
            self.pairs(inst.dict_items.iter().copied(), level, ": ", false);
            self.out.push('}');
        }
        if !inst.set_items.is_empty() {
            sep(&mut self.out);
            let items = inst.set_items.clone();
            self.seq("items={", &items, "}", level, false);
        }
        self.out.push(')');
    }

    /// `numpy.ndarray(shape=(2, 3), dtype=float64)` from `_reconstruct` + BUILD state.
    fn ndarray(&mut self, inst: &Instance) -> Option<String> {
        let value = self.value;
        let state = *inst.state.last()?;
        let Some(Object::Tuple(items)) = value.object(state) else {
            return None;
        };
        let shape = render_item(value, *items.get(1)?, 1, 8);
        let dtype = dtype_name(value, *items.get(2)?, None);
        Some(format!("numpy.ndarray(shape={shape}, dtype={dtype})"))
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_alphabetic())
        && chars.all(|c| c == '_' || c.is_alphanumeric())
}

fn short_bytes(b: &[u8]) -> String {
    if b.len() <= 64 {
        bytes_repr(b)
    } else {
        format!("{}...({} bytes)", &bytes_repr(&b[..48])[..], b.len())
    }
}

/// numpy's name for a pickled dtype (`float64`, `<U5`, ...).
pub fn dtype_name(value: &Value, dtype: Item, inst: Option<&Instance>) -> String {
    let inst = match inst {
        Some(inst) => inst,
        None => match value.object(dtype) {
            Some(Object::Instance(inst)) => inst,
            _ => return render_item(value, dtype, 1, 4),
        },
    };
    let code = match value.object(inst.args) {
        Some(Object::Tuple(args)) => args.first().and_then(|a| value.as_str(*a)),
        _ => None,
    };
    let Some(code) = code else {
        return "dtype(?)".to_string();
    };
    let letter = code.chars().next().unwrap_or('?');
    let n: u32 = code[letter.len_utf8()..].parse().unwrap_or(0);
    match (letter, n) {
        ('f', n) if n > 0 => format!("float{}", 8 * n),
        ('i', n) if n > 0 => format!("int{}", 8 * n),
        ('u', n) if n > 0 => format!("uint{}", 8 * n),
        ('c', n) if n > 0 => format!("complex{}", 8 * n),
        ('b', 1) => "bool".to_string(),
        ('O', _) => "object".to_string(),
        ('U', n) => format!("<U{n}"),
        ('S', n) => format!("|S{n}"),
        _ => py_str_repr(code),
    }
}

/// A serde data-model value (formats without a Python value model) in the same style.
pub fn render_json(value: &serde_json::Value, depth: usize, width: usize) -> String {
    use serde_json::Value as J;
    fn go(v: &J, level: usize, depth: usize, width: usize, out: &mut String) {
        match v {
            J::Null => out.push_str("None"),
            J::Bool(b) => out.push_str(if *b { "True" } else { "False" }),
            J::Number(n) => match n.as_f64() {
                Some(f) if n.is_f64() => out.push_str(&py_float_repr(f)),
                _ => out.push_str(&n.to_string()),
            },
            J::String(s) => out.push_str(&py_str_repr(s)),
            J::Array(items) => {
                out.push('[');
                if level >= depth && !items.is_empty() {
                    out.push_str("...");
                } else {
                    for (i, it) in items.iter().enumerate() {
                        if i > 0 {
                            out.push_str(", ");
                        }
                        if i >= width {
                            out.push_str(&format!("... ({} more)", items.len() - width));
                            break;
                        }
                        go(it, level + 1, depth, width, out);
                    }
                }
                out.push(']');
            }
            J::Object(map) => {
                out.push('{');
                if level >= depth && !map.is_empty() {
                    out.push_str("...");
                } else {
                    for (i, (k, it)) in map.iter().enumerate() {
                        if i > 0 {
                            out.push_str(", ");
                        }
                        if i >= width {
                            out.push_str(&format!("... ({} more)", map.len() - width));
                            break;
                        }
                        out.push_str(&py_str_repr(k));
                        out.push_str(": ");
                        go(it, level + 1, depth, width, out);
                    }
                }
                out.push('}');
            }
        }
    }
    let mut out = String::new();
    go(value, 0, depth, width, &mut out);
    out
}
