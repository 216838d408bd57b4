/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Who is on the other end of a control connection, pinned at accept: a
 * pidfd of the process that connected and its start time, so that a pid
 * number reused by another process is never taken for the peer.
 *
 * - Linux 6.5 and later: the kernel hands out a pidfd of the connecting
 *   process itself (SO_PEERPIDFD).
 * - Before (5.3 to 6.4, or with STEALTIMED_WITHOUT=peerpidfd): pidfd_open()
 *   of SO_PEERCRED's pid, between two reads of the start time of the
 *   process with that pid (/proc/PID/stat field 22) and a second read of
 *   SO_PEERCRED: the pidfd is then the process /proc showed. A pid that was
 *   reused between connect() and accept() (the connecting process exited and
 *   was reaped, and the pid space wrapped round, in that window) cannot be
 *   told apart there; from accept on, the pidfd tells.
 *
 * A process is alive while its pidfd does not poll readable (the whole
 * thread group has not exited): two peers are the same process when both
 * are alive and have the same pid and start time.
 */
#ifndef STEALTIMED_PEER_IDENTITY_H
#define STEALTIMED_PEER_IDENTITY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "control.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77 /* Linux 6.5, asm-generic (x86) */
#endif

/*
 * Fills peer->pidfd and peer->start_time for the process that connected
 * sock, whose SO_PEERCRED pid is peer->pid. Returns 0, -ESRCH when that
 * process has exited (or its pid now names another process), or another
 * negative errno.
 */
int peer_identity_take(struct control_peer *peer, int sock);
/* The same without SO_PEERPIDFD: what kernels before 6.5 get. */
int peer_identity_take_fallback(struct control_peer *peer, int sock);
/* Closes peer->pidfd (if any). */
void peer_identity_release(struct control_peer *peer);

/* Start time of process pid in clock ticks after boot: 0, or a negative errno. */
int peer_start_time(pid_t pid, uint64_t *start);
/* The pid a pidfd names (/proc/self/fdinfo), -1 once reaped, or a negative errno. */
int peer_pidfd_pid(int pidfd);

/*
 * The process that connected has not exited. A peer without a pidfd (-1:
 * the fake peers of unit tests; the server gives every connection one) is
 * taken as alive.
 */
bool peer_alive(const struct control_peer *peer);
/* a and b are connections of one process, alive now (not merely one pid number). */
bool peer_same_process(const struct control_peer *a, const struct control_peer *b);

#endif
