/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The terminal of the interactive top: the alternate screen, keys without
 * echo or line buffering (termios), and the signals that end or resize it.
 */
#ifndef STEALTIMECTL_TERM_H
#define STEALTIMECTL_TERM_H

#include <signal.h>

/* Set by the handlers term_enter installs: SIGINT or SIGTERM received, window resized. */
extern volatile sig_atomic_t term_quit_signal;
extern volatile sig_atomic_t term_resized;

/*
 * Switches standard input to non-canonical mode without echo, standard
 * output to the alternate screen with the cursor hidden, and catches
 * SIGINT, SIGTERM and SIGWINCH. Returns 0 or a negative errno (nothing
 * changed then).
 */
int term_enter(void);
/* Undoes term_enter (does nothing when it is not in effect). */
void term_leave(void);
/* Columns and rows of standard output's terminal; 80 x 24 when unknown. */
void term_size(unsigned int *cols, unsigned int *rows);
/*
 * Waits up to timeout_ms for a key on standard input. Returns its byte,
 * 0 when the time ran out, -EINTR when a signal came first, another
 * negative errno when the terminal is gone (-EIO: hung up).
 */
int term_read_key(int timeout_ms);
/* After term_leave: dies of the SIGINT or SIGTERM that ended top, if one did. */
void term_reraise(void);

#endif
