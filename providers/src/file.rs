//! The file provider: one file or a directory of .yml/.yaml/.toml, watched; each file keeps its
//! last good config when it breaks.
