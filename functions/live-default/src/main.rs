//! `$default` of the WebSocket API: a message whose `action` no route takes gets an
//! `error` frame (`bad-request`) saying what to send. No AWS call.

use shared::live::RouteAnswer;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    shared::live::serve((), |_, route| async move {
        let unknown = match route.request() {
            Ok(_) => shared::ApiError::BadRequest("Unknown action.".into()),
            Err(err) => err,
        };
        RouteAnswer::frame(route.error(None, unknown))
    })
    .await
}
