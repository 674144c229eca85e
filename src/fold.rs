//! Folding and candidate optimisation. (in progress)
