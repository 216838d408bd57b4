// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "term.h"

#define ALT_SCREEN_ON "\x1b[?1049h\x1b[?25l"
#define ALT_SCREEN_OFF "\x1b[?25h\x1b[?1049l"

volatile sig_atomic_t term_quit_signal;
volatile sig_atomic_t term_resized;

static struct termios saved;
static bool active;

static void on_signal(int sig)
{
	if (sig == SIGWINCH)
		term_resized = 1;
	else
		term_quit_signal = sig;
}

/* Without SA_RESTART, so that poll() returns at once. */
static void catch_signals(void (*handler)(int))
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGWINCH };
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handler;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
}

static void write_all(const char *s)
{
	size_t n = strlen(s);

	while (n) {
		ssize_t w = write(STDOUT_FILENO, s, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

int term_enter(void)
{
	struct termios raw;

	if (tcgetattr(STDIN_FILENO, &saved))
		return -errno;
	raw = saved;
	/* keys one by one, unechoed; ^C and ^\ still signal, ^Z does nothing */
	raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO | IEXTEN);
	raw.c_iflag &= ~(tcflag_t)(IXON | ICRNL);
	raw.c_cc[VMIN] = 1;
	raw.c_cc[VTIME] = 0;
	raw.c_cc[VSUSP] = _POSIX_VDISABLE;
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw))
		return -errno;
	active = true;
	catch_signals(on_signal);
	write_all(ALT_SCREEN_ON);
	return 0;
}

void term_leave(void)
{
	if (!active)
		return;
	write_all(ALT_SCREEN_OFF);
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
	catch_signals(SIG_DFL);
	active = false;
}

void term_size(unsigned int *cols, unsigned int *rows)
{
	struct winsize ws;

	*cols = 80;
	*rows = 24;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) || !ws.ws_col || !ws.ws_row)
		return;
	*cols = ws.ws_col;
	*rows = ws.ws_row;
}

int term_read_key(int timeout_ms)
{
	struct pollfd p = { .fd = STDIN_FILENO, .events = POLLIN };
	unsigned char c;
	ssize_t n;
	int rc = poll(&p, 1, timeout_ms < 0 ? 0 : timeout_ms);

	if (rc < 0)
		return errno == EINTR ? -EINTR : -errno;
	if (rc == 0)
		return 0;
	n = read(STDIN_FILENO, &c, 1);
	if (n < 0)
		return errno == EINTR ? -EINTR : -errno;
	if (n == 0) /* the terminal hung up */
		return -EIO;
	return c;
}

void term_reraise(void)
{
	int sig = term_quit_signal;

	if (!sig)
		return;
	signal(sig, SIG_DFL);
	raise(sig);
}
