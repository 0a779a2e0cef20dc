//! What every input must satisfy. Shared by the cargo-fuzz target and the soak binary.

use pypickle_core::{Item, Target, Value};
use pypickle_pickle::analysis::{analyze_step_by_step, load_step_by_step};
use pypickle_pickle::{
    analyze, analyze_skipping, disasm, load, load_passing, validate_modules, Limits, Offer,
    Options, SkipAfterBuild,
};

/// Panics when the engine misbehaves on `data`.
pub fn check(data: &[u8]) {
    let analysis = analyze(data);
    let loaded = load(data, &Limits::default());
    // Both entry points run one machine: unless `load` stopped on a limit of built values,
    // they see the same globals, findings and error.
    if !loaded.error.as_ref().is_some_and(|e| e.limit) {
        assert_eq!(analysis.globals, loaded.globals, "globals differ");
        assert_eq!(analysis.findings, loaded.findings, "findings differ");
        assert_eq!(analysis.error, loaded.error, "errors differ");
    }
    // A load that says how far it has read builds the same value, and says it in order,
    // inside the input (Debug, so that NaNs compare equal).
    let told = std::cell::Cell::new(0usize);
    let passing = load_passing(data, &Options::default(), &|n| {
        assert!(n >= told.get() && n <= data.len(), "passed {n} after {}", told.get());
        told.set(n);
    });
    assert_eq!(
        format!("{passing:?}"),
        format!("{loaded:?}"),
        "load_passing differs from load"
    );
    // The machine's quick loop for plain data does what its general step does.
    let options = Options::default();
    assert_eq!(
        format!("{:?}", load_step_by_step(data, &options)),
        format!("{loaded:?}"),
        "the quick loop loads differently"
    );
    assert_eq!(
        analyze_step_by_step(data, &options),
        analysis,
        "the quick loop analyzes differently"
    );
    // Every reference of the value points into its arena.
    let items: Vec<Item> = loaded
        .roots
        .iter()
        .chain(&loaded.partial)
        .copied()
        .collect();
    let (objects, root) = loaded.value.into_parts();
    let n = objects.len();
    for item in items {
        if let Item::Ref(id) = item {
            assert!(id.index() < n, "root or stack item outside the arena");
        }
    }
    Value::from_parts(objects, root).expect("a value with dangling references");
    // Offsets are inside the input.
    for g in &analysis.globals {
        assert!(g.offset < data.len() as u64, "global offset past the end");
    }
    let names = validate_modules(data);
    assert!(
        names.windows(2).all(|w| w[0] < w[1]),
        "validate_modules not sorted and distinct"
    );
    let _ = disasm::disassembly(data);
    // Skipping bytes after the BUILDs of the first named class (as joblib's arrays are
    // skipped): resuming anywhere, even mid-opcode, must not panic or report outside the input.
    if let Some(Target::Named { module, name }) = analysis.globals.first().map(|g| &g.target) {
        let mut resume = |_: Offer<'_>, end: usize| -> Option<usize> {
            Some(end + data.get(end).map_or(0, |&b| b as usize % 8))
        };
        let options = Options::default();
        let class = format!("{module}.{name}");
        // The module segment watched for rebinding: the last of the global's module.
        let watched_module = module.rsplit('.').next().unwrap_or_default().to_string();
        let skipped = analyze_skipping(
            data,
            &options,
            SkipAfterBuild {
                class: &class,
                module: &watched_module,
                resume: &mut resume,
            },
        );
        for g in &skipped.globals {
            assert!(g.offset < data.len() as u64, "global offset past the end (skipping)");
        }
        // Watching a class but skipping nothing reads the same opcodes as `analyze`: the
        // array node a watched BUILD leaves on the stack must not change what is imported
        // or how it is used.
        let mut stay = |_: Offer<'_>, _: usize| -> Option<usize> { None };
        let watched = analyze_skipping(
            data,
            &options,
            SkipAfterBuild {
                class: &class,
                module: &watched_module,
                resume: &mut stay,
            },
        );
        if !watched.error.as_ref().is_some_and(|e| e.limit) {
            assert_eq!(watched.globals, analysis.globals, "globals differ when watching");
            assert_eq!(watched.error, analysis.error, "errors differ when watching");
        }
    }
}
