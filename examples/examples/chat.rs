//! An OpenAI-style chat client over a pluggable transport.
//!
//! With no `OPENAI_BASE_URL` it starts an embedded mock LLM on 127.0.0.1, so
//! it runs with no network and no key:
//!
//! ```text
//! cargo run -p httpswap-examples --example chat
//! ```
//!
//! With `OPENAI_BASE_URL` (and `OPENAI_API_KEY`, `OPENAI_MODEL`) set it talks
//! to that server. `HTTPSWAP_BACKEND=reqwest` (or `isahc`, `hyper`) picks
//! one of the enabled backends at run time; without it the default one is
//! used, which the cargo features choose.

use std::io::Write;

use httpswap_examples::chat::{ChatClient, ChatRequest, Message};
use httpswap_examples::mock_llm::MockLlm;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut builder = ChatClient::builder_from_env();
    // kept alive until the end of main
    let _mock = if std::env::var_os("OPENAI_BASE_URL").is_none() {
        let mock = MockLlm::start().await?;
        println!(
            "no OPENAI_BASE_URL: using the embedded mock LLM at {}",
            mock.base_url()
        );
        builder = builder.base_url(&mock.base_url()).api_key("sk-mock");
        Some(mock)
    } else {
        None
    };
    // switching backend is this one line
    if let Ok(name) = std::env::var("HTTPSWAP_BACKEND") {
        builder = builder.transport(httpswap::transport_by_name(&name, Default::default())?);
    }
    let client = builder.build()?;
    println!("backend: {}", client.backend());

    let model = std::env::var("OPENAI_MODEL").unwrap_or_else(|_| "gpt-4o-mini".to_owned());
    let request = ChatRequest::new(model, vec![Message::user("Say hello in five words.")]);

    let completion = client.create(&request).await?;
    println!("completion: {}", completion.text());
    if let Some(usage) = completion.usage {
        println!("usage: {} tokens", usage.total_tokens);
    }

    print!("stream: ");
    let mut stream = client.create_stream(&request).await?;
    let mut chunks = 0;
    while let Some(chunk) = stream.next_chunk().await {
        print!("{}", chunk?.text());
        std::io::stdout().flush()?;
        chunks += 1;
    }
    println!("\n({chunks} chunks)");
    Ok(())
}
