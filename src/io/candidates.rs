//! HDF5 candidate file: the contract with users (see DESIGN.md). (in progress)
