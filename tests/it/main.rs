//! The one integration-test crate: each module covers one capability.

mod architecture;
mod auth;
mod cli_validate;
mod cloud_cli;
#[cfg(feature = "ec2")]
mod ec2;
mod elastic;
mod elastic_simulate;
mod exit_codes;
mod launch;
mod launch_input;
mod local_host;
mod opennebula;
mod openstack;
mod plan_walk;
mod radl_corpus;
mod radl_ec3;
mod radl_invalid;
mod radl_reference;
mod radl_roundtrip;
mod recipe_corpus;
mod recipe_git;
mod recipe_invalid;
mod recipe_script;
mod slurm_cluster;
mod snapshots;
mod ssh;
mod state;
mod support;
mod testcloud;
mod tosca_conformance;
mod tosca_im;
mod tosca_inputs;
mod tosca_invalid;
