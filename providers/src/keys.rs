//! Schema-guided key canonicalization shared by every configuration source (static file, CLI
//! flags, environment, dynamic files, Docker labels): matches keys case-insensitively against the
//! target type's JSON schema, names unknown keys with the nearest valid one, and coerces strings
//! (from flags, env and labels) to the scalar types the schema wants. Owner: static-config work.
