//! `include/bprwire.h` is what cbindgen makes of `src/` with
//! `cbindgen.toml`: the checked-in header cannot drift from the code.
//! `BPRWIRE_BLESS=1 cargo test -p bprwire-capi --test header` rewrites it.

#[test]
fn the_checked_in_header_is_what_cbindgen_makes_of_the_code() {
    let dir = env!("CARGO_MANIFEST_DIR");
    let config = cbindgen::Config::from_file(format!("{dir}/cbindgen.toml")).expect("cbindgen.toml");
    let mut made = Vec::new();
    cbindgen::Builder::new()
        .with_crate(dir)
        .with_config(config)
        .generate()
        .expect("cbindgen reads src/")
        .write(&mut made);
    let path = format!("{dir}/include/bprwire.h");
    if std::env::var_os("BPRWIRE_BLESS").is_some() {
        std::fs::write(&path, &made).unwrap();
    }
    let checked_in = std::fs::read(&path).unwrap_or_default();
    assert!(
        checked_in == made,
        "include/bprwire.h differs from what cbindgen makes of src/ (BPRWIRE_BLESS=1 rewrites it):\n{}",
        String::from_utf8_lossy(&made)
    );
}
