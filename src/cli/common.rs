//! What cluster commands share: where the state is, the runtime, how
//! errors and times are shown.

use super::error::CliError;
use crate::ops::env::{Env, EnvOptions};
use std::path::PathBuf;

#[derive(clap::Args, Clone, Debug)]
pub struct EnvArgs {
    /// The auth file (IM's format: `id = local; type = Local`, one
    /// credential per line, or its JSON form). Launch records it for the
    /// cluster (readable only by you), so later commands need it only to
    /// change credentials. Without it: the local provider.
    #[arg(short = 'a', long = "auth", global = true, value_name = "AUTH")]
    pub auth: Option<PathBuf>,
    /// The state directory [default: $NUBO_HOME, else ~/.local/share/nubo].
    #[arg(long, global = true, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Where the local provider keeps its nodes' files [default:
    /// $NUBO_LOCAL_ROOT, else /run/nubo/local].
    #[arg(long, global = true, value_name = "DIR")]
    pub local_root: Option<PathBuf>,
}

impl EnvArgs {
    pub fn open(&self) -> Result<Env, CliError> {
        let opts = EnvOptions {
            auth: self.auth.clone(),
            state_dir: self.state_dir.clone(),
            local_root: self.local_root.clone(),
        };
        Ok(Env::open(&opts)?)
    }

    /// [`EnvArgs::open`], with the cluster's recorded auth when `-a` is not
    /// given.
    pub fn open_for(&self, cluster: &str) -> Result<Env, CliError> {
        Ok(self.open()?.for_cluster(cluster)?)
    }
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the tokio runtime starts")
}

/// `YYYY-MM-DD HH:MM:SS` UTC of milliseconds since the epoch.
pub fn time(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_are_utc_civil_dates() {
        assert_eq!(super::time(0), "1970-01-01 00:00:00");
        assert_eq!(super::time(1_700_000_000_123), "2023-11-14 22:13:20");
        assert_eq!(super::time(951_782_400_000), "2000-02-29 00:00:00");
    }
}
