// SPDX-License-Identifier: GPL-2.0
/*
 * pfprof_client: a minimal C client of the pfprof ABI (include/pfprof.h).
 *
 * Usage: pfprof_client [DEVICE] [MB]
 *   Opens DEVICE (default /dev/pfprof, then ./node), checks the ABI version,
 *   registers itself with PFPROF_IOC_REGISTER, faults MB MiB (default 16),
 *   waits a few sampling periods, prints its own counters from
 *   PFPROF_IOC_QUERY_PID, reads the classic ring through mmap, and
 *   unregisters. Exit status 0 on success, 1 with a message otherwise.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "pfprof.h"

static int open_device(const char *path)
{
	if (path)
		return open(path, O_RDWR | O_CLOEXEC);
	int fd = open("/dev/pfprof", O_RDWR | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		fd = open("node", O_RDWR | O_CLOEXEC);
	return fd;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : NULL;
	long mb = argc > 2 ? strtol(argv[2], NULL, 10) : 16;
	if (mb <= 0 || mb > 1024) {
		fprintf(stderr, "pfprof_client: MB must be 1..1024\n");
		return 1;
	}

	int fd = open_device(path);
	if (fd < 0) {
		fprintf(stderr, "pfprof_client: cannot open %s: %s (is the pfprof module loaded?)\n",
			path ? path : "/dev/pfprof or ./node", strerror(errno));
		return 1;
	}

	struct pfprof_version version;
	memset(&version, 0, sizeof(version));
	if (ioctl(fd, PFPROF_IOC_VERSION, &version) < 0) {
		fprintf(stderr, "pfprof_client: not the pfprof device: %s\n", strerror(errno));
		return 1;
	}
	if (version.abi_version != PFPROF_ABI_VERSION) {
		fprintf(stderr, "pfprof_client: module ABI %u, client ABI %d\n",
			version.abi_version, PFPROF_ABI_VERSION);
		return 1;
	}

	struct pfprof_pid_arg self = { .pid = 0, .flags = 0 };
	if (ioctl(fd, PFPROF_IOC_REGISTER, &self) < 0) {
		fprintf(stderr, "pfprof_client: register: %s\n", strerror(errno));
		return 1;
	}
	printf("registered pid %d\n", (int)getpid());

	/* Fault the memory in: one write per page. */
	size_t bytes = (size_t)mb << 20;
	volatile char *mem = malloc(bytes);
	if (!mem) {
		fprintf(stderr, "pfprof_client: out of memory\n");
		return 1;
	}
	for (size_t i = 0; i < bytes; i += 4096)
		mem[i] = 1;
	printf("faulted %ld MiB\n", mb);

	struct pfprof_status status;
	memset(&status, 0, sizeof(status));
	if (ioctl(fd, PFPROF_IOC_QUERY, &status) < 0) {
		fprintf(stderr, "pfprof_client: query: %s\n", strerror(errno));
		return 1;
	}
	/* Let the sampler run a few periods. */
	sleep_ms((long)status.period_us * 4 / 1000 + 10);

	struct pfprof_proc_stats stats;
	memset(&stats, 0, sizeof(stats));
	stats.pid = 0;
	if (ioctl(fd, PFPROF_IOC_QUERY_PID, &stats) < 0) {
		fprintf(stderr, "pfprof_client: query pid: %s\n", strerror(errno));
		return 1;
	}
	printf("minor_faults %llu major_faults %llu cpu_ns %llu\n",
	       (unsigned long long)stats.minor_faults,
	       (unsigned long long)stats.major_faults,
	       (unsigned long long)stats.cpu_ns);

	/* The classic ring: 12000 samples of 4 x u64, -1 when unused. */
	uint64_t *ring = mmap(NULL, PFPROF_CLASSIC_SIZE, PROT_READ, MAP_SHARED, fd,
			      PFPROF_CLASSIC_OFFSET);
	if (ring == MAP_FAILED) {
		fprintf(stderr, "pfprof_client: mmap: %s\n", strerror(errno));
		return 1;
	}
	unsigned long long used = 0, newest = 0, minflt = 0;
	for (uint64_t s = 0; s < PFPROF_CLASSIC_SAMPLES; s++) {
		const volatile uint64_t *w = &ring[s * PFPROF_CLASSIC_SAMPLE_WORDS];
		if (w[0] == PFPROF_CLASSIC_EMPTY)
			continue;
		used++;
		minflt += w[1];
		if (w[0] > newest)
			newest = w[0];
	}
	printf("classic buffer: %llu samples, %llu minor faults, newest jiffies %llu\n",
	       used, minflt, newest);
	munmap(ring, PFPROF_CLASSIC_SIZE);

	if (ioctl(fd, PFPROF_IOC_UNREGISTER, &self) < 0) {
		fprintf(stderr, "pfprof_client: unregister: %s\n", strerror(errno));
		return 1;
	}
	free((void *)mem);
	close(fd);
	return 0;
}
