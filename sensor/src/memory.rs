//! Process-wide memory settings, applied once at start by the programs that
//! run the sensor (`mekong-sensor`, the benchmark).

/// Turns transparent huge pages off for this process (Linux
/// `PR_SET_THP_DISABLE`; other systems: nothing). Returns whether the flag
/// was set.
///
/// The allocator asks the kernel for huge pages on its arenas; each first
/// touch of one then zeroes 2 MiB at once. The sensor's heap is mostly
/// short-lived batches (the writer's column buffers, rule loading), so those
/// faults cost more than the fewer TLB misses save: on the 2-million-packet
/// benchmark with ET Open they were about a tenth of the process's CPU time
/// (`clear_page_erms` under `do_huge_pmd_anonymous_page` in `perf`). The
/// setting covers mappings made before it, as the kernel checks it at each
/// fault.
#[allow(unsafe_code)]
pub fn no_transparent_huge_pages() -> bool {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) takes plain integers,
        // touches no memory of ours and only sets a flag of this process.
        let rc = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
        rc == 0
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn flag_is_set_and_read_back() {
        assert!(no_transparent_huge_pages());
        // SAFETY: PR_GET_THP_DISABLE takes no pointers; it returns the flag.
        #[allow(unsafe_code)]
        let flag = unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) };
        assert_eq!(flag, 1);
    }
}
