//! What `Client::request(..).build()` costs: the URL's resolution and the
//! request's making, no I/O. For callgrind, whose count per call is the
//! difference of two runs' (`N` calls of `URL`, under `BASE` if set):
//!
//! ```text
//! cargo build --release -p httpswap-benches --example client_build
//! URL=http://127.0.0.1:8080/v1/chat/completions N=10000 \
//!   valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/client_build
//! # then N=20000; and with BASE=https://api.openai.com/v1 URL=chat/completions
//! ```

use httpswap::Client;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut builder = Client::builder();
    if let Ok(base) = std::env::var("BASE") {
        builder = builder.base_url(&base);
    }
    let client = builder.build()?;
    let url = std::env::var("URL")?;
    let n: usize = std::env::var("N")?.parse()?;
    // the paths' lengths summed and printed, so that no call is left out
    let mut total = 0;
    for _ in 0..n {
        total += client.get(&url).build()?.uri().path().len();
    }
    println!("{total}");
    Ok(())
}
