//! What a VM request asks of any cloud beyond its size: the image and the
//! user nubo logs in as.

use crate::model::SystemSpec;
use crate::radl::features::FeatureSet;

/// IM's default login user on OpenStack and EC2 images.
pub const CLOUDADM: &str = "cloudadm";

/// The login user: `disk.0.os.credentials.username`, else `default`
/// (`cloudadm` on OpenStack and EC2, root on OpenNebula, as IM does).
pub fn login_user(features: &FeatureSet, default: &str) -> String {
    features
        .get_str("disk.0.os.credentials.username")
        .filter(|u| !u.is_empty())
        .unwrap_or(default)
        .to_string()
}

/// The system's `disk.0.image.url`; without one, the message says which
/// form `cloud` takes (`form`, e.g. `ost://HOST/IMAGE_ID`).
pub fn image_url<'a>(system: &'a SystemSpec, cloud: &str, form: &str) -> Result<&'a str, String> {
    system.image_url.as_deref().ok_or_else(|| {
        format!(
            "system `{}` has no `disk.0.image.url`; {cloud} needs '{form}'",
            system.name
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn system(radl_text: &str) -> SystemSpec {
        let v = crate::radl::validate(crate::source::FileId(0), radl_text);
        assert!(v.diagnostics().is_empty(), "{:?}", v.diagnostics());
        crate::model::lower(&v.document).0.systems[0].clone()
    }

    #[test]
    fn users_and_images() {
        let s = system(
            "system s (disk.0.image.url = 'ost://h/1' and disk.0.os.credentials.username = 'ubuntu')\ndeploy s 1\n",
        );
        assert_eq!(login_user(&s.features, CLOUDADM), "ubuntu");
        assert_eq!(
            image_url(&s, "OpenStack", "ost://HOST/IMAGE_ID"),
            Ok("ost://h/1")
        );
        let bare = system("system s ()\ndeploy s 1\n");
        assert_eq!(login_user(&bare.features, "root"), "root");
        let e = image_url(&bare, "EC2", "aws://REGION/ami-ID").unwrap_err();
        assert_eq!(
            e,
            "system `s` has no `disk.0.image.url`; EC2 needs 'aws://REGION/ami-ID'"
        );
    }
}
