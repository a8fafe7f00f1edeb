//! Cityscapes loader (placeholder).
