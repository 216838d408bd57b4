// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "log.h"
#include "rescan_reads.h"
#include "rescan_walker.h"
#include "vm_table.h"

struct rescan_walker {
	struct vm_table *table; /* its bpf, and what vm_table_read_walk reads */
	rescan_walked_fn walked;
	void *ctx;
	sd_event_source *src;
	int efd;
	pthread_t thread;
	pthread_mutex_t mu; /* everything below */
	pthread_cond_t cv;
	bool want;  /* a walk asked for, not started */
	bool busy;  /* a walk under way, or its records not taken yet */
	bool again; /* asked for while busy */
	bool stop;
	struct st_disc *d; /* the records of the walk that ended */
	size_t n;
	struct rescan_reads *reads; /* and what was read of them */
	int err;
	uint64_t started_ns;
};

static void *walk_loop(void *arg)
{
	struct rescan_walker *w = arg;
	uint64_t one = 1, started;
	struct rescan_reads *reads;
	struct st_disc *d;
	size_t n;
	int err;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->want && !w->stop)
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->stop)
			break;
		w->want = false;
		pthread_mutex_unlock(&w->mu);
		started = vm_table_clock_ns();
		err = bpf_engine_discover(w->table->bpf, &d, &n);
		reads = err ? NULL : vm_table_read_walk(w->table, d, n);
		pthread_mutex_lock(&w->mu);
		w->d = d;
		w->n = n;
		w->reads = reads;
		w->err = err;
		w->started_ns = started;
		if (write(w->efd, &one, sizeof(one)) != sizeof(one))
			log_warning("rescan: cannot wake the event loop: %m");
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* Event loop: a walk ended; its records go to the table, and a walk asked for meanwhile starts */
static int on_walked(sd_event_source *s, int fd, uint32_t revents, void *arg)
{
	struct rescan_walker *w = arg;
	uint64_t v, started;
	struct rescan_reads *reads;
	struct st_disc *d;
	size_t n;
	int err;

	(void)s;
	(void)revents;
	if (read(fd, &v, sizeof(v)) != sizeof(v))
		return 0;
	pthread_mutex_lock(&w->mu);
	d = w->d;
	n = w->n;
	reads = w->reads;
	err = w->err;
	started = w->started_ns;
	w->d = NULL;
	w->reads = NULL;
	w->busy = w->again;
	w->want = w->again;
	w->again = false;
	if (w->want)
		pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	w->walked(w->ctx, d, n, reads, err, started);
	return 0;
}

int rescan_walker_start(struct rescan_walker **out, sd_event *ev, struct vm_table *table,
			rescan_walked_fn walked, void *ctx)
{
	struct rescan_walker *w = calloc(1, sizeof(*w));
	int err;

	*out = NULL;
	if (!w)
		return -ENOMEM;
	w->efd = -1;
	w->table = table;
	w->walked = walked;
	w->ctx = ctx;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->efd < 0) {
		err = -errno;
		goto fail;
	}
	err = sd_event_add_io(ev, &w->src, w->efd, EPOLLIN, on_walked, w);
	if (err < 0)
		goto fail;
	err = -pthread_create(&w->thread, NULL, walk_loop, w);
	if (err)
		goto fail;
	*out = w;
	return 0;
fail:
	sd_event_source_disable_unref(w->src);
	if (w->efd >= 0)
		close(w->efd);
	free(w);
	return log_errno(err, "rescan thread");
}

void rescan_walker_request(struct rescan_walker *w)
{
	pthread_mutex_lock(&w->mu);
	if (w->busy) {
		w->again = true;
	} else {
		w->busy = true;
		w->want = true;
		pthread_cond_signal(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
}

void rescan_walker_stop(struct rescan_walker *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	free(w->d);
	rescan_reads_free(w->reads);
	sd_event_source_disable_unref(w->src);
	close(w->efd);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	free(w);
}
