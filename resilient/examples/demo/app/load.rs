//! The service's clients: a steady load of `GET /price/{id}`, so many a second whatever the
//! answers take, as real clients keep coming while a service struggles.

use super::web::Client;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;

/// Requests a second, in all.
pub(crate) const RATE: u32 = 80;

/// Clients sending them, each at `RATE / CLIENTS` a second.
const CLIENTS: u32 = 4;

/// Sends the load to the service at `url` until dropped.
pub(crate) async fn run(url: String) {
    let client = Client::new();
    let mut clients = JoinSet::new();
    for _ in 0..CLIENTS {
        clients.spawn(send(client.clone(), url.clone()));
    }
    while clients.join_next().await.is_some() {}
}

/// One client: a request every `CLIENTS / RATE` seconds, each in its own task so that a slow
/// answer does not hold the next request back.
async fn send(client: Client, url: String) {
    let mut every = tokio::time::interval(Duration::from_secs(1) * CLIENTS / RATE);
    every.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut requests = JoinSet::new();
    loop {
        every.tick().await;
        let (client, url) = (
            client.clone(),
            format!("{url}/price/{}", fastrand::u32(1..=50)),
        );
        // The service counts its answers itself; a client only sends.
        requests.spawn(async move {
            let _ = client.get(&url).await;
        });
        while requests.try_join_next().is_some() {}
    }
}
