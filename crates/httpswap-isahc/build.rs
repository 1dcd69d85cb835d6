//! Tells the crate whether libcurl was built with `poll()`.
//!
//! curl-sys 0.4.90 builds libcurl without `HAVE_POLL` (it still defines
//! the older `HAVE_POLL_FINE`), so curl waits on sockets with `select()`,
//! which cannot watch a file descriptor past 1023: in a process with that
//! many files open every new connection fails. Only the C flags of the
//! build can change that, and a dependency cannot set them for another
//! crate's build script; this workspace sets `-DHAVE_POLL` in its
//! `.cargo/config.toml`. This script reads the same variables the `cc`
//! crate reads for curl-sys's build (the first of `CFLAGS_<target>`,
//! `CFLAGS_<target_with_underscores>`, `TARGET_CFLAGS`, `CFLAGS`) and sets
//! `cfg(curl_poll)` when they define `HAVE_POLL`: the transport then says
//! so in its capabilities, and otherwise explains the failure in its error.

use std::env;

fn main() {
    println!("cargo:rustc-check-cfg=cfg(curl_poll)");
    let target = env::var("TARGET").unwrap_or_default();
    let names = [
        format!("CFLAGS_{target}"),
        format!("CFLAGS_{}", target.replace('-', "_")),
        "TARGET_CFLAGS".to_owned(),
        "CFLAGS".to_owned(),
    ];
    for name in &names {
        println!("cargo:rerun-if-env-changed={name}");
    }
    let flags = names
        .iter()
        .find_map(|n| env::var(n).ok())
        .unwrap_or_default();
    if flags
        .split_whitespace()
        .any(|f| f == "-DHAVE_POLL" || f.starts_with("-DHAVE_POLL="))
    {
        println!("cargo:rustc-cfg=curl_poll");
    }
}
