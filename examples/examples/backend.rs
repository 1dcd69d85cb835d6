//! Prints the backend `Client::new()` picked. Which one is a cargo feature:
//!
//! ```text
//! cargo run -p httpswap-examples --example backend
//! cargo run -p httpswap-examples --example backend --no-default-features --features reqwest
//! cargo run -p httpswap-examples --example backend --no-default-features --features isahc
//! ```

fn main() {
    println!("backend: {}", httpswap_examples::backend_name());
    println!("enabled: {}", httpswap::enabled_backends().join(", "));
}
