//! Dedispersion: DM plans and algorithms behind one trait. (in progress)
