//! Saves one value in every registered format, shows what each file starts with, and loads it
//! back through the header (never the name): `cargo run --example tour`.
//! Pass a folder to keep the files there; by default they go to a temporary folder.

use std::collections::BTreeMap;

use pypickle::{envelope, formats, load, save, LoadOptions, SaveOptions};
use serde::{Deserialize, Serialize};

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Experiment {
    name: String,
    seed: u64,
    learning_rate: f64,
    layers: Vec<u32>,
    notes: Option<String>,
    metrics: BTreeMap<String, f64>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let value = Experiment {
        name: "résumé-classifier".into(),
        seed: u64::MAX,
        learning_rate: 3e-4,
        layers: vec![768, 256, 10],
        notes: Some("saved by pypickle's tour".into()),
        metrics: [("accuracy".to_string(), 0.931), ("loss".to_string(), 0.2)].into(),
    };
    let keep = std::env::args().nth(1);
    let temp = tempfile::tempdir()?;
    let folder = keep
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| temp.path().to_path_buf());
    std::fs::create_dir_all(&folder)?;

    println!("registered formats: {}", formats().join(", "));
    for format in formats() {
        // A deliberately unhelpful name: loading reads the header, not the extension.
        let path = folder.join(format!("experiment-{format}.data"));
        if let Err(e) = save(
            &path,
            &value,
            &SaveOptions::new().format(format).overwrite(true),
        ) {
            println!("{format:>8}: cannot save this value: {e}");
            continue;
        }
        let bytes = std::fs::read(&path)?;
        let header = envelope::read_header(&bytes)?;
        let back: Experiment = load(&path, &LoadOptions::new())?;
        assert_eq!(back, value, "{format} changed the value");
        println!(
            "{format:>8}: {:>4} bytes ({} header + {} payload), envelope v{}, loaded back equal: {}",
            bytes.len(),
            envelope::HEADER_LEN,
            header.payload_len,
            header.version,
            path.display()
        );
    }
    Ok(())
}
