//! aggregate: merges the providers' views into one config with qualified `name@provider` names
//! and default entry points, before compile.
