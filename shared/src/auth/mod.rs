//! Identity and access, in one implementation for the authorizer and every function:
//! (roles and the route table are `ballot_core::access`), the signing key set ([`keys`]) and access
//! tokens ([`token`]).

pub mod accounts;
pub mod authorizer;
#[cfg(feature = "federation")]
pub mod federation;
pub mod issuer;
pub mod key_rotation;
pub mod keys;
pub mod password;
pub mod token;
pub mod verifier;

pub use ballot_core::access::Role;
