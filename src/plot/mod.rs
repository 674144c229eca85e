//! PNG diagnostics. (in progress)
