//! The command-line front: one file per subcommand. No science here: each parses its
//! arguments, calls the library and prints.
pub mod accuracy;
pub mod candidates;
pub mod convert;
pub mod dedisperse;
pub mod demo;
pub mod fold;
pub mod header;
pub mod plan;
pub mod plot;
pub mod progress;
pub mod rfi;
pub mod search;
pub mod simulate;
