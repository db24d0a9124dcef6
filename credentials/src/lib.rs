//! Content Credentials for easel's pictures: a C2PA manifest, signed and
//! embedded in every archived PNG, that says in the standard every
//! provenance tool reads (the CAI's Verify site, c2patool, Adobe's and
//! camera makers' software) that the picture was made by a trained model,
//! which one, and how. The tEXt/XMP provenance stays beside it; this adds
//! what those cannot give: a signature that breaks when a single pixel or
//! word of it changes.
//!
//! - [`manifest`]: what the manifest says (pure).
//! - [`sign`]: signing a PNG with a loaded credential (the CAI's `c2pa`
//!   SDK, Rust crypto, no network).
//! - [`issue`]: making a local CA and signing certificates with the key
//!   usages C2PA validators demand (pure, `rcgen`).
//! - [`store`]: credential folders on disk (`easel keygen --c2pa`, the
//!   daemon's per-installation credential), keys mode 0600.
//! - [`verify`]: reading a picture's manifest back (`easel verify`).
//! - [`certs`]: who a certificate names, until when.

pub mod certs;
pub mod issue;
pub mod manifest;
pub mod sign;
pub mod store;
pub mod verify;

pub use manifest::{Made, Origin};
pub use sign::{PictureSigner, SignError};
pub use verify::{State, Verdict};
