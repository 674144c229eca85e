//! The synthetic sky and telescope. (in progress)
