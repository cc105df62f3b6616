//! Downloading TOSCA URL imports into the cache, for the front end's
//! [`Fetcher`]: an HTTP(S) GET (30 s, at most 8 MiB, status 200), the body
//! written atomically to the cache path the front end reads
//! (`CACHE/host/path`), so the next run works offline.

use crate::tosca::imports::{Fetcher, url_candidates};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(30);
const MAX_BYTES: usize = 8 << 20;

/// A fetcher that caches into `cache` (none: fetch without caching).
pub fn http_fetcher(cache: Option<PathBuf>) -> Fetcher {
    Fetcher(Arc::new(move |url: &str| {
        let url = url.to_string();
        let cache = cache.clone();
        // Its own thread and runtime: callers may be sync or inside tokio.
        std::thread::spawn(move || fetch(&url, cache.as_deref()))
            .join()
            .unwrap_or_else(|_| Err("the download thread failed".into()))
    }))
}

fn fetch(url: &str, cache: Option<&Path>) -> Result<String, String> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err("only http:// and https:// imports can be downloaded".into());
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let text = rt.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .build()
            .map_err(|e| e.to_string())?;
        let resp = client.get(url).send().await.map_err(|e| e.to_string())?;
        let status = resp.status();
        if !status.is_success() {
            return Err(format!("HTTP {status}"));
        }
        let body = resp.bytes().await.map_err(|e| e.to_string())?;
        if body.len() > MAX_BYTES {
            return Err(format!("larger than {} MiB", MAX_BYTES >> 20));
        }
        String::from_utf8(body.to_vec()).map_err(|_| "not UTF-8 text".to_string())
    })?;
    if let Some(path) = cache.and_then(|c| url_candidates(url, c).into_iter().next()) {
        // A cache that cannot be written costs only the next download.
        if let Err(e) = store(&path, &text) {
            tracing::warn!(path = %path.display(), error = %e, "cannot cache a TOSCA import");
        }
    }
    Ok(text)
}

fn store(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

/// Import options with the user's cache, downloading what is missing
/// unless `offline` (or `NUBO_OFFLINE=1`).
pub fn import_options(import_dirs: Vec<PathBuf>, offline: bool) -> crate::tosca::ImportOptions {
    let cache_dir = crate::tosca::ImportOptions::default_cache_dir();
    let offline = offline || std::env::var_os("NUBO_OFFLINE").is_some_and(|v| v == "1");
    crate::tosca::ImportOptions {
        import_dirs,
        fetch: (!offline).then(|| http_fetcher(cache_dir.clone())),
        cache_dir,
    }
}
