//! Key material for local secrets: the signing key set is made as the deploy makes it
//! (`shared::auth::key_rotation`).

pub use ballot_core::ids::random_token;
pub use shared::auth::key_rotation::new_key_set;
