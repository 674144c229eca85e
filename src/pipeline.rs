//! The main job: read → dedisperse → search → sift → candidates. (in progress)
