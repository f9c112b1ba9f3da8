//! DP-SGD (filled below).
