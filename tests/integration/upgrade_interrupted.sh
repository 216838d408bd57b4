#!/usr/bin/env bash
# cost: 160 (seconds in a VM under TCG; building the older release counts when it is not built yet)
# upgrade_layout.sh, with the upgrade killed twice on the way: once after
# its flip and its copy of the bindings, before renaming them over the old
# ones (3 s after the flip, while the new programs count); then the daemon
# that resumes it, after renaming the bindings, before renaming its links
# and writing the layout. The third daemon finishes. The same checks hold:
# steal equals the kernel's run_delay (what was counted since the first
# flip is not counted again from the old bindings), the guest's record
# never goes back, the VM keeps its id and its region.
source "$(dirname "$0")/../lib.sh"
need_root; need_kvm; need_btf # those of upgrade_layout.sh, where tests/run.sh reads them
rm -rf "$TMP"
UPGRADE_INTERRUPTED=1 exec bash "$(dirname "$0")/upgrade_layout.sh"
