//! Identity and access, in one implementation for the authorizer and every function:
//! roles and the route table ([`routes`]), the signing key set ([`keys`]) and access
//! tokens ([`token`]).

pub mod accounts;
pub mod authorizer;
#[cfg(feature = "federation")]
pub mod federation;
pub mod keys;
pub mod password;
pub mod routes;
pub mod token;

pub use routes::Role;
