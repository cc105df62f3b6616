//! Providers: where a cluster's machines come from.
//!
//! A provider creates, stops, starts and destroys nodes; configuring them
//! happens over SSH, above this layer. Today there is one provider,
//! [`local`], whose nodes are Linux namespaces on the machine nubo runs on.

pub mod local;
