/*
 * The classic MP3 monitor, as its public versions behave (see
 * shared/docs/classic-interface.md): used by the in-VM suite to check that
 * pfprof keeps working for it, unchanged. Not an example to follow: it
 * assumes 8-byte longs and a buffer that always holds a -1 somewhere.
 *
 * Usage: classic_monitor [NODE]   (default: ./node, made by mknod node c 423 0)
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define NPAGES 128
#define BUFFER_LONGS 48000 /* 12000 samples of 4 longs */

int main(int argc, char **argv)
{
	const char *node = argc > 1 ? argv[1] : "node";
	long *buf;
	int fd, i = 0, n = 0;

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
	/* Start at the first slot from 0 that holds a sample. */
	while (i < BUFFER_LONGS && buf[i] == -1)
		i += 4;
	if (i == BUFFER_LONGS)
		i = 0;
	/* Print and consume samples until the first -1, wrapping at 48000. */
	while (buf[i] != -1) {
		printf("%ld %ld %ld %ld\n", buf[i], buf[i + 1], buf[i + 2],
		       buf[i + 3]);
		buf[i] = buf[i + 1] = buf[i + 2] = buf[i + 3] = -1;
		n++;
		i += 4;
		if (i >= BUFFER_LONGS)
			i = 0;
	}
	printf("read %d profiled data\n", n);
	munmap(buf, NPAGES * getpagesize());
	close(fd);
	return 0;
}
