//! Gives back the daemon's resident pages of nubo's own code, and its
//! heap's free pages.
//!
//! Most of an idle daemon's resident memory is not its data (a few MB)
//! but pages of the `nubo` executable's code and read-only data mapped
//! into it: everything the start and the last action ran (parsing the
//! description, a reconfigure with its provider and SSH code), each
//! fault mapping its neighbours too (the kernel's fault-around). Those
//! pages are clean copies of the file: after start-up and after each
//! action the daemon unmaps them from itself (`madvise(MADV_DONTNEED)` on
//! its executable's read-only mappings), and the few a round runs are
//! mapped again from the page cache on their next use, with no disk read.
//!
//! Only mappings of the executable that are not writable and hold no
//! private (copy-on-write) page are touched: for them the pages dropped
//! are exactly the file's, so nothing is lost. Linux only; elsewhere, or
//! when `/proc` cannot be read, nothing is done.

/// Unmaps the resident pages of the executable's clean read-only
/// mappings; the bytes given back (as `/proc/self/smaps` counted them).
pub fn drop_code_pages() -> u64 {
    let Ok(exe) = std::fs::read_link("/proc/self/exe") else {
        return 0;
    };
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
        return 0;
    };
    let exe = exe.to_string_lossy();
    let mut freed = 0;
    for m in clean_code_mappings(&smaps, &exe) {
        // SAFETY: the range is a whole mapping of this process, read-only
        // and file-backed with no private page (checked from smaps, and
        // nothing can write a read-only mapping without mprotect, which
        // nubo never calls), so MADV_DONTNEED only drops clean copies of
        // the file that the next access maps again.
        let r = unsafe {
            libc::madvise(
                m.start as *mut libc::c_void,
                (m.end - m.start) as libc::size_t,
                libc::MADV_DONTNEED,
            )
        };
        if r == 0 {
            freed += m.rss_kb * 1024;
        }
    }
    freed
}

/// Gives the heap's wholly free pages back to the system (glibc's
/// `malloc_trim`, over every arena: each thread that allocated has one,
/// and what a round or an action freed stays resident in it otherwise);
/// whether any was given back. Elsewhere than glibc, nothing is done.
pub fn trim_heap() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim only releases memory malloc holds free.
        unsafe { libc::malloc_trim(0) == 1 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

/// Makes every thread allocate from one malloc arena (glibc's
/// `M_ARENA_MAX` = 1). glibc gives each new thread an arena of its own
/// (up to eight per core), and an idle daemon's runtime and blocking
/// threads each keep a few hundred KB resident in theirs; the daemon
/// allocates little and rarely at once, so one arena costs it nothing.
/// Call it before the daemon's threads start. Elsewhere than glibc,
/// nothing is done.
pub fn one_malloc_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes malloc's settings; M_ARENA_MAX limits
    // the arenas made from now on.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

#[derive(Debug, PartialEq)]
struct Mapping {
    start: usize,
    end: usize,
    rss_kb: u64,
}

/// The mappings of `exe` in `smaps` that are not writable and have no
/// anonymous (copy-on-write) page.
fn clean_code_mappings(smaps: &str, exe: &str) -> Vec<Mapping> {
    let mut out = Vec::new();
    let mut current: Option<(Mapping, bool)> = None;
    let finish = |c: Option<(Mapping, bool)>, out: &mut Vec<Mapping>| {
        if let Some((m, true)) = c {
            out.push(m);
        }
    };
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let first = fields.next().unwrap_or("");
        if let Some((a, b)) = first.split_once('-')
            && let (Ok(start), Ok(end)) =
                (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
        {
            finish(current.take(), &mut out);
            let perms = fields.next().unwrap_or("");
            let path = fields.nth(3).unwrap_or("");
            let eligible = path == exe && perms.len() == 4 && !perms.contains('w');
            current = Some((
                Mapping {
                    start,
                    end,
                    rss_kb: 0,
                },
                eligible,
            ));
            continue;
        }
        let Some((m, eligible)) = current.as_mut() else {
            continue;
        };
        let kb = fields.next().and_then(|v| v.parse::<u64>().ok());
        match (first, kb) {
            ("Rss:", Some(kb)) => m.rss_kb = kb,
            ("Anonymous:", Some(kb)) if kb > 0 => *eligible = false,
            ("Anonymous:", None) => *eligible = false,
            _ => {}
        }
    }
    finish(current.take(), &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMAPS: &str = "\
55b4ec456000-55b4ed5f1000 r--p 00000000 fe:00 2167981                    /opt/nubo
Rss:                5800 kB
Anonymous:             0 kB
55b4ed5f1000-55b4efd27000 r-xp 0119a000 fe:00 2167981                    /opt/nubo
Rss:               25080 kB
Anonymous:             0 kB
55b4efd27000-55b4eff74000 r--p 038cf000 fe:00 2167981                    /opt/nubo
Rss:                2356 kB
Anonymous:          2356 kB
55b4eff74000-55b4eff76000 rw-p 03b1c000 fe:00 2167981                    /opt/nubo
Rss:                   8 kB
Anonymous:             8 kB
7f4b8ece8000-7f4b8ee3e000 r-xp 00026000 fe:00 326279                     /usr/lib/x86_64-linux-gnu/libc.so.6
Rss:                1048 kB
Anonymous:             0 kB
7ffd1000-7ffd2000 rw-p 00000000 00:00 0                          [stack]
Rss:                 132 kB
Anonymous:           132 kB
";

    #[test]
    fn only_the_executable_s_clean_read_only_mappings_are_chosen() {
        let m = clean_code_mappings(SMAPS, "/opt/nubo");
        assert_eq!(
            m,
            [
                Mapping {
                    start: 0x55b4ec456000,
                    end: 0x55b4ed5f1000,
                    rss_kb: 5800
                },
                Mapping {
                    start: 0x55b4ed5f1000,
                    end: 0x55b4efd27000,
                    rss_kb: 25080
                },
            ]
        );
        assert!(clean_code_mappings(SMAPS, "/other").is_empty());
        assert!(clean_code_mappings("garbage\n\n1-2\n", "/opt/nubo").is_empty());
    }

    #[test]
    fn dropping_code_pages_leaves_the_process_working() {
        // The test binary's own code: dropped (some of it was resident),
        // then run again.
        assert!(drop_code_pages() > 0);
        let v: Vec<u64> = (1..=10).collect();
        assert_eq!(v.iter().sum::<u64>(), 55);
        assert_eq!(format!("{:?}", clean_code_mappings("", "x")), "[]");
    }
}
