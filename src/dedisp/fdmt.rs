//! FDMT (placeholder while being written).
