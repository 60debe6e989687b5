//! `{"action": "ping"}` → `{"type": "pong"}`. API Gateway closes a connection idle for
//! 10 minutes; a client that pings more often than that keeps watching a quiet poll.
//! No AWS call.

use ballot_core::live::Frame;
use shared::live::RouteAnswer;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    shared::live::serve((), |_, _| async { RouteAnswer::frame(Frame::Pong) }).await
}
