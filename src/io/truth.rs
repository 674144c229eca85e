//! The truth file (`OUT.truth.json`) written beside every simulated observation. (in progress)
