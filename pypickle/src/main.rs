//! The `pypickle` command line (placeholder: issue 4).

fn main() {
    println!("registered formats: {}", pypickle::formats().join(", "));
}
