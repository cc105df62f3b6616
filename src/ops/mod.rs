//! Library operations behind the CLI commands. Each takes an options struct
//! and returns a result the CLI renders; none prints.

pub mod ansible;
pub mod ansible_install;
pub mod ansible_roles;
pub mod builtin;
pub mod context;
pub mod crash;
pub mod db;
pub mod destroy;
pub mod elastic;
pub mod env;
pub mod executor;
pub mod export;
pub mod fetch;
pub mod git;
pub mod graph;
pub mod info;
pub mod keys;
pub mod launch;
pub mod lifecycle;
pub mod observer;
pub mod outputs;
pub mod plan;
pub mod play_batch;
pub mod power;
pub mod prepare;
pub mod radl_file;
pub mod reach;
pub mod recipes;
pub mod reconcile;
pub mod templates;
pub mod tosca_artifacts;
pub mod validate;
