// SPDX-License-Identifier: BSD-2-Clause
/* The Go analysis worker thread (injector/golang/goworker.h). */
#include "goworker.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gobudget.h"

struct tw_goworker {
	struct tw_goworker_cfg cfg;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct tw_gojob *queue, **queue_tail; /* to do */
	struct tw_gojob *done, **done_tail;   /* finished, not taken */
	size_t pending;                       /* queued + running + done */
	atomic_bool stop;
	int efd;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* The test hook: a slow binary, as a loop that checks the budget sees it. */
static void test_delay(const struct tw_goworker_cfg *cfg)
{
	uint64_t end = mono_ns() + cfg->test_delay_ms * 1000000ull;

	while (mono_ns() < end) {
		if (!cfg->test_delay_stuck) {
			/* a check per millisecond: 64 calls per clock read */
			for (int i = 0; i < 64; i++)
				if (tw_gobudget_over())
					return;
		}
		sleep_ms(1);
	}
}

static void analyse(struct tw_goworker *w, struct tw_gojob *job)
{
	struct tw_gobudget budget;
	uint64_t t0 = mono_ns();
	struct stat st;

	memset(&job->plan, 0, sizeof(job->plan));
	if (fstat(job->fd, &st)) {
		job->status = -errno;
		snprintf(job->plan.why, sizeof(job->plan.why), "cannot read it: %s",
			 strerror(errno));
		return;
	}
	if ((uint64_t)st.st_size > w->cfg.max_bytes) {
		job->status = -EFBIG;
		snprintf(job->plan.why, sizeof(job->plan.why),
			 "executable of %llu MiB: over the analysis size budget (%llu MiB)",
			 (unsigned long long)st.st_size >> 20,
			 (unsigned long long)w->cfg.max_bytes >> 20);
		return;
	}
	tw_gobudget_begin(&budget, w->cfg.budget_ms, w->cfg.budget_ms, &w->stop);
	if (w->cfg.test_delay_ms)
		test_delay(&w->cfg);
	if (tw_gobudget_over())
		job->status = -ETIMEDOUT;
	else
		job->status = tw_goplan_build_fd(job->fd, &job->plan);
	if (budget.tripped) {
		job->status = -ETIMEDOUT;
		job->stopped = budget.stopped;
		if (budget.stopped)
			snprintf(job->plan.why, sizeof(job->plan.why),
				 "analysis stopped (tracewire is stopping)");
		else
			snprintf(job->plan.why, sizeof(job->plan.why),
				 "analysis over its time budget (%llu ms)",
				 (unsigned long long)w->cfg.budget_ms);
	}
	tw_gobudget_end();
	job->took_ns = mono_ns() - t0;
}

static void *worker_main(void *arg)
{
	struct tw_goworker *w = arg;
	uint64_t one = 1;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		struct tw_gojob *job;

		while (!w->queue && !atomic_load(&w->stop))
			pthread_cond_wait(&w->cond, &w->lock);
		if (atomic_load(&w->stop))
			break;
		job = w->queue;
		w->queue = job->next;
		if (!w->queue)
			w->queue_tail = &w->queue;
		job->next = NULL;
		pthread_mutex_unlock(&w->lock);

		analyse(w, job);

		pthread_mutex_lock(&w->lock);
		*w->done_tail = job;
		w->done_tail = &job->next;
		if (write(w->efd, &one, sizeof(one)) < 0) {
			/* the counter cannot overflow at one write per job */
		}
		pthread_cond_broadcast(&w->cond);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

int tw_goworker_start(struct tw_goworker **out, const struct tw_goworker_cfg *cfg)
{
	struct tw_goworker *w = calloc(1, sizeof(*w));
	int err;

	if (!w)
		return -ENOMEM;
	if (cfg)
		w->cfg = *cfg;
	if (!w->cfg.budget_ms)
		w->cfg.budget_ms = TW_GO_ANALYSIS_BUDGET_MS;
	if (!w->cfg.max_bytes)
		w->cfg.max_bytes = TW_GO_ANALYSIS_MAX_BYTES;
	w->queue_tail = &w->queue;
	w->done_tail = &w->done;
	atomic_init(&w->stop, false);
	w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->efd < 0) {
		err = -errno;
		free(w);
		return err;
	}
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	err = -pthread_create(&w->thread, NULL, worker_main, w);
	if (err) {
		close(w->efd);
		pthread_mutex_destroy(&w->lock);
		pthread_cond_destroy(&w->cond);
		free(w);
		return err;
	}
	*out = w;
	return 0;
}

struct tw_gojob *tw_gojob_new(int fd, void *ctx)
{
	struct tw_gojob *job = calloc(1, sizeof(*job));

	if (!job) {
		close(fd);
		return NULL;
	}
	job->fd = fd;
	job->ctx = ctx;
	return job;
}

void tw_gojob_free(struct tw_gojob *job)
{
	if (!job)
		return;
	if (job->fd >= 0)
		close(job->fd);
	free(job);
}

int tw_goworker_submit(struct tw_goworker *w, struct tw_gojob *job)
{
	pthread_mutex_lock(&w->lock);
	if (atomic_load(&w->stop)) {
		pthread_mutex_unlock(&w->lock);
		return -ESHUTDOWN;
	}
	job->next = NULL;
	*w->queue_tail = job;
	w->queue_tail = &job->next;
	w->pending++;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	return 0;
}

struct tw_gojob *tw_goworker_take(struct tw_goworker *w)
{
	struct tw_gojob *job;
	uint64_t n;

	pthread_mutex_lock(&w->lock);
	job = w->done;
	if (job) {
		w->done = job->next;
		if (!w->done)
			w->done_tail = &w->done;
		job->next = NULL;
		w->pending--;
	}
	if (!w->done && read(w->efd, &n, sizeof(n)) < 0) {
		/* EAGAIN: nothing was signalled */
	}
	pthread_mutex_unlock(&w->lock);
	return job;
}

int tw_goworker_fd(const struct tw_goworker *w)
{
	return w->efd;
}

size_t tw_goworker_pending(struct tw_goworker *w)
{
	size_t n;

	pthread_mutex_lock(&w->lock);
	n = w->pending;
	pthread_mutex_unlock(&w->lock);
	return n;
}

struct tw_gojob *tw_goworker_wait(struct tw_goworker *w, int timeout_ms)
{
	struct pollfd pfd = { .fd = w->efd, .events = POLLIN };
	struct tw_gojob *job = tw_goworker_take(w);

	if (job || poll(&pfd, 1, timeout_ms) <= 0)
		return job;
	return tw_goworker_take(w);
}

int tw_goworker_stop(struct tw_goworker *w, unsigned join_ms)
{
	struct timespec until;
	int err;

	if (!w)
		return 0;
	pthread_mutex_lock(&w->lock);
	atomic_store(&w->stop, true);
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += join_ms / 1000;
	until.tv_nsec += (long)(join_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	err = pthread_timedjoin_np(w->thread, NULL, &until);
	if (err) {
		/* stuck where no budget check runs: it keeps its job and w */
		pthread_detach(w->thread);
		return -ETIMEDOUT;
	}
	while (w->queue) {
		struct tw_gojob *job = w->queue;

		w->queue = job->next;
		tw_gojob_free(job);
	}
	while (w->done) {
		struct tw_gojob *job = w->done;

		w->done = job->next;
		tw_gojob_free(job);
	}
	close(w->efd);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	free(w);
	return 0;
}
