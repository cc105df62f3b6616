//! The templates and recipes built into the binary: the repository's
//! `templates/` and `recipes/`, so an installed nubo needs no other files.
//! A test checks these lists against the directories.

/// `(file name, text)` of every built-in template.
pub const TEMPLATES: &[(&str, &str)] = &[
    ("demo.radl", include_str!("../../templates/demo.radl")),
    ("ec2.radl", include_str!("../../templates/ec2.radl")),
    ("local.radl", include_str!("../../templates/local.radl")),
    ("nfs.radl", include_str!("../../templates/nfs.radl")),
    (
        "opennebula.radl",
        include_str!("../../templates/opennebula.radl"),
    ),
    (
        "openports.radl",
        include_str!("../../templates/openports.radl"),
    ),
    (
        "openstack.radl",
        include_str!("../../templates/openstack.radl"),
    ),
    (
        "rabbitmq.radl",
        include_str!("../../templates/rabbitmq.radl"),
    ),
    ("sge.radl", include_str!("../../templates/sge.radl")),
    ("slurm.radl", include_str!("../../templates/slurm.radl")),
];

/// `(file name, text)` of every built-in recipe.
pub const RECIPES: &[(&str, &str)] = &[
    (
        "cluster-secrets.yaml",
        include_str!("../../recipes/cluster-secrets.yaml"),
    ),
    (
        "cluster-user.yaml",
        include_str!("../../recipes/cluster-user.yaml"),
    ),
    ("hosts.yaml", include_str!("../../recipes/hosts.yaml")),
    ("munge.yaml", include_str!("../../recipes/munge.yaml")),
    (
        "nfs-client.yaml",
        include_str!("../../recipes/nfs-client.yaml"),
    ),
    (
        "nfs-server.yaml",
        include_str!("../../recipes/nfs-server.yaml"),
    ),
    (
        "rabbitmq-client.yaml",
        include_str!("../../recipes/rabbitmq-client.yaml"),
    ),
    (
        "rabbitmq-front.yaml",
        include_str!("../../recipes/rabbitmq-front.yaml"),
    ),
    (
        "rabbitmq-worker.yaml",
        include_str!("../../recipes/rabbitmq-worker.yaml"),
    ),
    ("sge-cell.yaml", include_str!("../../recipes/sge-cell.yaml")),
    (
        "sge-front.yaml",
        include_str!("../../recipes/sge-front.yaml"),
    ),
    (
        "sge-worker.yaml",
        include_str!("../../recipes/sge-worker.yaml"),
    ),
    (
        "slurm-conf.yaml",
        include_str!("../../recipes/slurm-conf.yaml"),
    ),
    (
        "slurm-front.yaml",
        include_str!("../../recipes/slurm-front.yaml"),
    ),
    (
        "slurm-worker.yaml",
        include_str!("../../recipes/slurm-worker.yaml"),
    ),
    (
        "ssh-between-nodes.yaml",
        include_str!("../../recipes/ssh-between-nodes.yaml"),
    ),
];

pub fn template(file: &str) -> Option<&'static str> {
    TEMPLATES.iter().find(|(f, _)| *f == file).map(|(_, t)| *t)
}

pub fn recipe(file: &str) -> Option<&'static str> {
    RECIPES.iter().find(|(f, _)| *f == file).map(|(_, t)| *t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &str, exts: &[&str]) -> Vec<String> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        let mut out: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| exts.iter().any(|x| n.ends_with(x)))
            .collect();
        out.sort();
        out
    }

    #[test]
    fn every_shipped_template_and_recipe_is_built_in() {
        let mut t: Vec<String> = TEMPLATES.iter().map(|(f, _)| f.to_string()).collect();
        t.sort();
        assert_eq!(t, files("templates", &[".radl", ".yaml", ".yml"]));
        let mut r: Vec<String> = RECIPES.iter().map(|(f, _)| f.to_string()).collect();
        r.sort();
        assert_eq!(r, files("recipes", &[".yaml", ".yml"]));
    }
}
