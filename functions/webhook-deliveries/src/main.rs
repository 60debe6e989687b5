//! The deliveries queue's consumer: each message is one event for one webhook, sent
//! signed (Standard Webhooks) to the address checked at this moment, at most once
//! successfully, retried with backoff, recorded on the webhook (`shared::webhooks::deliverer`).
//! Up to 10 deliveries of a batch are sent at once; failed ones alone return to the queue.

use shared::{
    app::App,
    queue::{self, Received},
    webhooks::{deliverer::Deliverer, delivery::Delivery, sender::Sender},
};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let app = App::start().await?;
    let settings = &app.config.webhooks;
    let deliverer = Deliverer {
        store: app.store(),
        key: app.webhook_key(),
        sender: Sender::new(&settings.allowed_addresses, &settings.hosts)?,
        backoff: settings.retry.clone(),
        sqs: app.aws.sqs.clone(),
        queue_url: settings.deliveries_queue_url.clone(),
    };
    // Failed deliveries are held back for their retry delay by the deliverer itself.
    queue::serve(deliverer, 10, None, |deliverer, message: Received<Delivery>| async move {
        deliverer.handle(message).await
    })
    .await
}
