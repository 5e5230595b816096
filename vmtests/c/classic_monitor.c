/*
 * The classic MP3 monitor's behaviour, reproduced for the in-VM suite (see
 * shared/docs/classic-interface.md): pfprof must keep working for the
 * unchanged course program, so this one reads the buffer exactly as it does.
 * Not an example to follow: it assumes 8-byte longs, a buffer that always
 * holds a -1 somewhere, and -1 past the ring.
 *
 * - It maps 128 pages read-write, shared.
 * - It looks for the first long, one long at a time from 0, that is not -1
 *   among longs 0..47999; if there is none it stays at long 48000, past the
 *   ring, and reads that long as the start of a sample (the classic module
 *   filled all 128 pages with -1, so it reads -1 there and stops).
 * - From there it prints four longs per line, writing -1 back into each,
 *   wrapping at 48000, until a long that is -1, then the trailer
 *   "read N profiled data".
 *
 * Usage: classic_monitor [NODE]   (default: ./node, made by mknod node c 423 0)
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define NPAGES 128
#define RING_LONGS 48000 /* 12000 samples of 4 longs */

/* Prints the long at *at, writes -1 back and moves on, wrapping the ring. */
static void take(long *buf, int *at, const char *sep)
{
	printf("%ld%s", buf[*at], sep);
	buf[*at] = -1;
	if (++*at >= RING_LONGS)
		*at = 0;
}

int main(int argc, char **argv)
{
	const char *node = argc > 1 ? argv[1] : "node";
	long *buf;
	int fd, at, n = 0;

	fd = open(node, O_RDWR | O_SYNC);
	if (fd < 0) {
		perror("open");
		return 1;
	}
	buf = mmap(NULL, NPAGES * getpagesize(), PROT_READ | PROT_WRITE,
		   MAP_SHARED, fd, 0);
	if (buf == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	for (at = 0; at < RING_LONGS && buf[at] == -1; at++)
		;
	while (buf[at] != -1) {
		take(buf, &at, " ");
		take(buf, &at, " ");
		take(buf, &at, " ");
		take(buf, &at, "\n");
		n++;
	}
	printf("read %d profiled data\n", n);
	munmap(buf, NPAGES * getpagesize());
	close(fd);
	return 0;
}
