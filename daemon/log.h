/* SPDX-License-Identifier: GPL-2.0 */
/* Logging to stderr with sd-daemon priority prefixes ("<3>"), which journald reads. */
#ifndef STEALTIMED_LOG_H
#define STEALTIMED_LOG_H

#include <systemd/sd-daemon.h>

/* LOG_ERR..LOG_DEBUG from <syslog.h>, default LOG_INFO; set on reload, read by every thread */
extern _Atomic int log_max_level;

void log_at(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* log_at(LOG_ERR, ...) and return err (a negative errno), in one statement */
int log_errno(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "debug", "info", "notice", "warning", "err"/"error" -> level, or -EINVAL */
int log_level_from_string(const char *s);

#define log_error(...) log_at(3, __VA_ARGS__)
#define log_warning(...) log_at(4, __VA_ARGS__)
#define log_notice(...) log_at(5, __VA_ARGS__)
#define log_info(...) log_at(6, __VA_ARGS__)
#define log_debug(...) log_at(7, __VA_ARGS__)

#endif
