use std::time::Duration;
use futures_util::StreamExt;
use httpswap::{Client, ResponseExt};
use httpswap_reliability::{client_no_retry, config, nginx, squid};

const BODY: &str = "hello from behind the proxy";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn scratch_hyper_squid() {
    let origin = nginx(Duration::from_secs(60), 10_000, BODY).await;
    let forward = squid(1).await;
    let c: Client = client_no_retry("hyper", config().proxy(&forward.url("")).timeout_read(Duration::from_secs(8)));
    let url = origin.url("/wave");
    let mut rng = fastrand::Rng::with_seed(7);
    let mut fails = 0;
    for wave in 0..300 {
        let sends = (0..50).map(|i| { let (c, url) = (&c, &url); async move {
            let got = async { c.get(url).send().await?.bytes().await }.await;
            if let Err(e) = got { println!("wave {wave} GET {i}: {e:?}"); 1 } else { 0 }
        }});
        fails += futures_util::stream::iter(sends).buffer_unordered(50).collect::<Vec<_>>().await.iter().sum::<i32>();
        tokio::time::sleep(Duration::from_millis(rng.u64(800..=1300))).await;
        if wave % 20 == 0 { println!("wave {wave}: {fails} failures so far, {:?}", c.transport().pool_stats()); }
    }
    println!("{fails} failures");
}
