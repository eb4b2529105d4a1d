//! Process hardening for a process that holds the vault's keys in memory
//! (SECURITY.md "Threats and answers", the row "A process reads the key's memory").
//!
//! `RLIMIT_CORE = 0` stops the kernel from writing a core file, and
//! `PR_SET_DUMPABLE = 0` also keeps systemd-coredump/apport pipes out and
//! stops other processes of the same user from ptrace-attaching or reading
//! `/proc/PID/mem`. Both are inherited by nothing we spawn (we spawn nothing).

use rustix::process::{DumpableBehavior, Resource, Rlimit, set_dumpable_behavior, setrlimit};

/// Turns core dumps off for this process. Failure is reported, not fatal:
/// the key still works, and the caller decides whether to warn.
pub fn disable_core_dumps() -> Result<(), String> {
    setrlimit(
        Resource::Core,
        Rlimit {
            current: Some(0),
            maximum: Some(0),
        },
    )
    .map_err(|e| format!("setrlimit(RLIMIT_CORE, 0): {e}"))?;
    set_dumpable_behavior(DumpableBehavior::NotDumpable)
        .map_err(|e| format!("prctl(PR_SET_DUMPABLE, 0): {e}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::process::{dumpable_behavior, getrlimit};

    #[test]
    fn core_limit_zero_and_not_dumpable() {
        disable_core_dumps().unwrap();
        let limit = getrlimit(Resource::Core);
        assert_eq!(limit.current, Some(0));
        assert_eq!(limit.maximum, Some(0));
        assert_eq!(dumpable_behavior().unwrap(), DumpableBehavior::NotDumpable);
    }
}
