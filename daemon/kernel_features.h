/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the BPF side needs of the running kernel, checked before loading it:
 * a kernel without something gets one line naming each missing feature and
 * the Linux version that brought it, not a verifier dump.
 */
#ifndef STEALTIMED_KERNEL_FEATURES_H
#define STEALTIMED_KERNEL_FEATURES_H

/* 0, or -EOPNOTSUPP after logging what is missing */
int kernel_features_check(void);

#endif
