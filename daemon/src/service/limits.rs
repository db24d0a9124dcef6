//! The process's open-file limit, raised from the soft limit (often 1024)
//! to the hard one (systemd's default is 524288) at start.
//!
//! Every connection, HTTP or MQTT, costs a file descriptor, and so does
//! every picture being written. The HTTP edge and the broker cap their
//! connections (`crate::web::HttpLimits`, `crate::mqtt::broker`), but a
//! soft limit of 1024 is within reach of a burst of silent connections;
//! running out means no picture can be archived and no controller can
//! connect. Raising the soft limit is what the hard limit is for.

/// Raises the soft open-file limit to the hard one; returns the limit in
/// force afterwards (`None`: unlimited).
pub fn raise_open_files() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `rlimit` through a valid pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return None;
    }
    // `rlim_t` is 32 bits on some 32-bit boards' C libraries.
    #[allow(clippy::unnecessary_cast)]
    let shown = |v: libc::rlim_t| (v != libc::RLIM_INFINITY).then_some(v as u64);
    if limit.rlim_cur == limit.rlim_max {
        return shown(limit.rlim_cur);
    }
    let raised = libc::rlimit {
        rlim_cur: limit.rlim_max,
        rlim_max: limit.rlim_max,
    };
    // SAFETY: setrlimit reads one `rlimit` through a valid pointer.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
        let e = std::io::Error::last_os_error();
        tracing::warn!("cannot raise the open-file limit: {e}");
        return shown(limit.rlim_cur);
    }
    shown(limit.rlim_max)
}
