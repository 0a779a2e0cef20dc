//! Scan reports: human text, JSON and SARIF 2.1.0.

use std::fmt::Write;

use pypickle_core::{Judged, Risk, Target};
use serde_json::{json, Value as Json};

use super::{FileReport, FileVerdict};

/// Counts over a scan.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub scanned: usize,
    pub safe: usize,
    pub unsafe_: usize,
    pub error: usize,
    pub skipped: usize,
}

impl Summary {
    pub fn of(files: &[FileReport], skipped: usize) -> Self {
        let mut s = Summary {
            skipped,
            ..Summary::default()
        };
        for f in files {
            s.scanned += 1;
            match f.verdict {
                FileVerdict::Safe => s.safe += 1,
                FileVerdict::Unsafe => s.unsafe_ += 1,
                FileVerdict::Error => s.error += 1,
            }
        }
        s
    }

    /// 0 all safe, 1 any unsafe, 2 errors but nothing unsafe.
    pub fn exit_code(&self) -> i32 {
        if self.unsafe_ > 0 {
            1
        } else if self.error > 0 {
            2
        } else {
            0
        }
    }
}

fn module_name(target: &Target) -> (String, String) {
    match target {
        Target::Named { module, name } => (module.clone(), name.clone()),
        Target::Extension(code) => ("copyreg".to_string(), format!("<extension code {code}>")),
    }
}

fn global_json(g: &Judged) -> Json {
    let (module, name) = module_name(&g.global.target);
    json!({
        "module": module,
        "name": name,
        "target": g.global.target.to_string(),
        "risk": g.risk.to_string(),
        "accepted": g.accepted,
        "reason": format!("{}: {}", g.rule, g.rule.reason()),
        "member": g.global.member,
        "offset": g.global.offset,
        "opcode": g.global.opcode,
    })
}

/// The `--json` document.
pub fn json(files: &[FileReport], skipped: usize) -> Json {
    let s = Summary::of(files, skipped);
    json!({
        "files": files.iter().map(|f| json!({
            "path": f.path,
            "verdict": f.verdict.as_str(),
            "content": f.content.map(|c| c.to_string()),
            "globals": f.globals.iter().map(global_json).collect::<Vec<_>>(),
            "findings": f.findings,
            "error": f.error,
        })).collect::<Vec<_>>(),
        "summary": {
            "scanned": s.scanned,
            "safe": s.safe,
            "unsafe": s.unsafe_,
            "error": s.error,
            "skipped": s.skipped,
        }
    })
}

const RULE_DANGEROUS: &str = "PP001";
const RULE_REFUSED: &str = "PP002";
const RULE_ERROR: &str = "PP003";

/// The `--sarif` document (SARIF 2.1.0): one result per refused global, one per file error.
pub fn sarif(files: &[FileReport]) -> Json {
    let mut results = Vec::new();
    for f in files {
        for g in f.refused() {
            let rule = if g.risk == Risk::Dangerous {
                RULE_DANGEROUS
            } else {
                RULE_REFUSED
            };
            let mut text = format!("{} imports {}", f.path, g.global.target);
            if let Some(m) = &g.global.member {
                let _ = write!(text, " in {m}");
            }
            let _ = write!(text, " ({}: {})", g.rule, g.rule.reason());
            results.push(json!({
                "ruleId": rule,
                "level": "error",
                "message": {"text": text},
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": {"uri": uri(&f.path)},
                        "region": if g.global.member.is_none() {
                            json!({"byteOffset": g.global.offset, "byteLength": 1})
                        } else {
                            json!({"startLine": 1})
                        },
                    },
                    "logicalLocations": g.global.member.as_ref().map(|m| vec![json!({"fullyQualifiedName": m, "kind": "member"})]).unwrap_or_default(),
                }],
                "properties": {"member": g.global.member, "offset": g.global.offset, "risk": g.risk.to_string()},
            }));
        }
        if f.verdict == FileVerdict::Error {
            results.push(json!({
                "ruleId": RULE_ERROR,
                "level": "warning",
                "message": {"text": format!("{}: {}", f.path, f.error.as_deref().unwrap_or("unreadable"))},
                "locations": [{"physicalLocation": {"artifactLocation": {"uri": uri(&f.path)}}}],
            }));
        }
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "pypickle",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://example.invalid/pypickle",
                "rules": [
                    {"id": RULE_DANGEROUS, "name": "DangerousGlobal",
                     "shortDescription": {"text": "A pickle imports a global that can run code or reach the system"},
                     "defaultConfiguration": {"level": "error"}},
                    {"id": RULE_REFUSED, "name": "RefusedGlobal",
                     "shortDescription": {"text": "A pickle imports a global the policy does not accept (strict mode)"},
                     "defaultConfiguration": {"level": "error"}},
                    {"id": RULE_ERROR, "name": "ScanError",
                     "shortDescription": {"text": "A file could not be read to its end"},
                     "defaultConfiguration": {"level": "warning"}},
                ],
            }},
            "results": results,
        }],
    })
}

fn uri(path: &str) -> String {
    let mut out = String::new();
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// One file in human form: `UNSAFE  path (content)` and the refused globals under it.
pub fn human_file(f: &FileReport, out: &mut String) {
    let tag = match f.verdict {
        FileVerdict::Safe => "SAFE  ",
        FileVerdict::Unsafe => "UNSAFE",
        FileVerdict::Error => "ERROR ",
    };
    let _ = write!(out, "{tag}  {}", f.path);
    if let Some(c) = f.content {
        let _ = write!(out, "  [{c}]");
    }
    out.push('\n');
    for g in f.refused() {
        let _ = writeln!(out, "    {g}");
    }
    if let Some(e) = &f.error {
        if f.verdict != FileVerdict::Safe {
            let _ = writeln!(out, "    error: {e}");
        }
    }
    if f.verdict == FileVerdict::Unsafe {
        for finding in f.findings.iter().filter(|x| x.contains("zip:")) {
            let _ = writeln!(out, "    note: {finding}");
        }
    }
}

/// The summary line.
pub fn human_summary(s: &Summary) -> String {
    format!(
        "{} scanned: {} safe, {} unsafe, {} error{}",
        s.scanned,
        s.safe,
        s.unsafe_,
        s.error,
        if s.skipped > 0 {
            format!(" ({} skipped: no pickle)", s.skipped)
        } else {
            String::new()
        }
    )
}
