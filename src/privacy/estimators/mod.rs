//! DP mean estimation (filled below).
