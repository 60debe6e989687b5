//! Converts `infra/openapi.yaml` to the JSON the function serves, so the document is
//! checked (valid YAML) at build time and costs nothing at cold start.

fn main() {
    let source = concat!(env!("CARGO_MANIFEST_DIR"), "/../../infra/openapi.yaml");
    println!("cargo:rerun-if-changed={source}");
    let text = std::fs::read_to_string(source).expect("infra/openapi.yaml is readable");
    let document: serde_json::Value = serde_norway::from_str(&text).expect("infra/openapi.yaml is valid YAML");
    let out = std::path::Path::new(&std::env::var("OUT_DIR").unwrap()).join("openapi.json");
    std::fs::write(out, serde_json::to_string(&document).unwrap()).expect("OUT_DIR is writable");
}
