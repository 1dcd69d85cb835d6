//! A streaming reverse proxy in front of an LLM API, with `/__stats`.
//!
//! ```text
//! cargo run -p httpswap-examples --example proxy
//! ```
//!
//! runs a demo: the proxy in front of the embedded mock LLM, the example
//! chat client sending a few requests through it, then the proxy's
//! `/__stats`. With `PROXY_UPSTREAM=https://api.openai.com` (and optionally
//! `PROXY_ADDR=127.0.0.1:8080`) it serves until Ctrl-C instead.
//! `HTTPSWAP_BACKEND` picks the upstream transport, as in the chat example.

use httpswap::ResponseExt;
use httpswap_examples::chat::{ChatClient, ChatRequest, Message};
use httpswap_examples::mock_llm::MockLlm;
use httpswap_examples::proxy::ReverseProxy;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let transport = match std::env::var("HTTPSWAP_BACKEND") {
        Ok(name) => httpswap::transport_by_name(&name, Default::default())?,
        Err(_) => httpswap::default_transport(Default::default())?,
    };
    let addr = std::env::var("PROXY_ADDR").unwrap_or_else(|_| "127.0.0.1:0".to_owned());
    if let Ok(upstream) = std::env::var("PROXY_UPSTREAM") {
        let running = ReverseProxy::new(&upstream, transport)?
            .start(addr.parse()?)
            .await?;
        println!(
            "proxy on http://{} -> {upstream} (Ctrl-C stops it)",
            running.addr()
        );
        tokio::signal::ctrl_c().await?;
        return Ok(());
    }

    let llm = MockLlm::start().await?;
    let upstream = llm.base_url().trim_end_matches("/v1").to_owned();
    let running = ReverseProxy::new(&upstream, transport)?
        .start(addr.parse()?)
        .await?;
    let base = format!("http://{}", running.addr());
    println!("proxy on {base} -> mock LLM at {upstream}");

    let chat = ChatClient::builder()
        .base_url(&format!("{base}/v1"))
        .api_key("sk-mock")
        .build()?;
    let request = ChatRequest::new("gpt-4o-mini", vec![Message::user("hi")]);
    for i in 1..=3 {
        println!("completion {i}: {}", chat.create(&request).await?.text());
    }
    println!(
        "streamed: {}",
        chat.create_stream(&request).await?.text().await?
    );

    let client = httpswap::Client::new();
    let stats = client
        .get(&format!("{base}/__stats"))
        .send()
        .await?
        .text()
        .await?;
    println!("GET /__stats: {stats}");
    Ok(())
}
