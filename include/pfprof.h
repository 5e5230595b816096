/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * pfprof.h - the user-space ABI of the pfprof page-fault profiler module.
 *
 * The Rust side of this ABI is kmod/abi.rs (shared by the module and
 * libpfprof); a libpfprof test checks every number, size and offset here
 * against it.
 *
 * Device: character device 423:0, created as /dev/pfprof by devtmpfs/udev;
 * `mknod node c 423 0` works too. Registration: the ioctls below, or the
 * classic `echo "R <pid>" > /proc/mp3/status` ("U <pid>" to unregister).
 *
 * Buffer (mmap of the device):
 *   offset 0, 128 pages: the classic ring, PROT_READ|PROT_WRITE, MAP_SHARED.
 *     12000 samples of 4 x uint64_t: jiffies, minor faults, major faults,
 *     CPU ns, each the per-period sum over the registered processes. Wraps
 *     at 48000 words. Every word of the 128 pages that holds no live sample
 *     is -1 (UINT64_MAX), the tail past the ring (words 48000..65535) too.
 *   offset PFPROF_EXT_OFFSET, PFPROF_EXT_SIZE bytes: the extended region,
 *     PROT_READ only. A struct pfprof_ext_header page, then a ring of
 *     PFPROF_EXT_RECORDS struct pfprof_record. Record n is in slot
 *     n % PFPROF_EXT_RECORDS; the writer stores its fields, then its seq (= n)
 *     with release ordering, then header->head (= n + 1) with release
 *     ordering. A reader loads head (acquire), loads a record's seq (acquire),
 *     copies the record, issues an acquire fence and reloads seq: the copy is
 *     valid if both loads gave n, otherwise the record was overwritten (lost).
 */
#ifndef PFPROF_H
#define PFPROF_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define PFPROF_ABI_VERSION 2 /* 2: records carry memory, 128 bytes */

#define PFPROF_MAJOR 423
#define PFPROF_MINOR 0

#define PFPROF_PAGE_SIZE 4096ULL

#define PFPROF_CLASSIC_OFFSET 0ULL
#define PFPROF_CLASSIC_PAGES 128ULL
#define PFPROF_CLASSIC_SIZE (PFPROF_CLASSIC_PAGES * PFPROF_PAGE_SIZE)
#define PFPROF_CLASSIC_SAMPLES 12000ULL
#define PFPROF_CLASSIC_SAMPLE_WORDS 4ULL
#define PFPROF_CLASSIC_EMPTY (~0ULL)

#define PFPROF_EXT_OFFSET PFPROF_CLASSIC_SIZE
#define PFPROF_EXT_HEADER_SIZE PFPROF_PAGE_SIZE
#define PFPROF_EXT_RECORDS 65536ULL
#define PFPROF_RECORD_SIZE 128ULL
#define PFPROF_EXT_SIZE \
	(PFPROF_EXT_HEADER_SIZE + PFPROF_EXT_RECORDS * PFPROF_RECORD_SIZE)
#define PFPROF_BUFFER_SIZE (PFPROF_EXT_OFFSET + PFPROF_EXT_SIZE)
#define PFPROF_EXT_MAGIC 0x46504650U /* "PFPF" in little endian */

/* struct pfprof_record.flags */
#define PFPROF_RECORD_TOTAL (1U << 0)  /* totals over all processes, pid 0 */
#define PFPROF_RECORD_EXITED (1U << 1) /* the process exited: last record */
#define PFPROF_RECORD_NO_MM (1U << 2)  /* no memory map (exiting): rss, swap 0 */

/* struct pfprof_status.state, struct pfprof_ext_header.state */
#define PFPROF_STATE_IDLE 0
#define PFPROF_STATE_RUNNING 1

#define PFPROF_PERIOD_MIN_US 1000U
#define PFPROF_PERIOD_MAX_US 10000000U
#define PFPROF_PERIOD_DEFAULT_US 50000U

/* At PFPROF_EXT_OFFSET; the rest of the page is zero. */
struct pfprof_ext_header {
	__u32 magic;       /* PFPROF_EXT_MAGIC */
	__u32 abi_version; /* PFPROF_ABI_VERSION */
	__u32 hz;          /* the kernel's HZ */
	__u32 period_us;   /* sampling period */
	__u32 record_size; /* PFPROF_RECORD_SIZE */
	__u32 capacity;    /* PFPROF_EXT_RECORDS */
	__u32 state;       /* PFPROF_STATE_* */
	__u32 reserved0;
	__u64 head;        /* records written since load; newest is head - 1 */
	__u64 ticks;       /* sampler ticks since load */
	__u64 resets;      /* PFPROF_IOC_RESET calls since load */
	__u64 reset_head;  /* head at the last reset (0 before any) */
	__u64 reserved[2];
};

/* One process (or, with PFPROF_RECORD_TOTAL, the totals) for one period. */
struct pfprof_record {
	__u64 seq;          /* the record's number n when valid */
	__u64 time_ns;      /* CLOCK_MONOTONIC at the sample */
	__u64 jiffies;      /* jiffies at the sample */
	__s32 pid;          /* thread group id; 0 for the totals */
	__u32 flags;        /* PFPROF_RECORD_* */
	__u64 minor_faults; /* in the period */
	__u64 major_faults; /* in the period */
	__u64 cpu_ns;       /* user + system, all threads, in the period */
	/* Memory at the sample, in bytes, as /proc/<pid>/status shows it; the
	 * totals record holds the sums over the processes (and peak 0). */
	__u64 rss_anon_bytes;  /* RssAnon */
	__u64 rss_file_bytes;  /* RssFile */
	__u64 rss_shmem_bytes; /* RssShmem */
	__u64 swap_bytes;      /* VmSwap */
	__u64 rss_peak_bytes;  /* max(VmHWM, ru_maxrss's peak) so far, never
	                        * decreasing; see kmod/abi.rs */
	__s32 tree_root;       /* the process tree's root pid (members of a
	                        * PFPROF_REG_TREE registration); else 0 */
	__u32 reserved0;
	char comm[16];         /* command name at the sample, NUL-padded
	                        * (as /proc/<pid>/comm); empty for the totals */
	__u64 reserved[1];
};

struct pfprof_version {
	__u32 abi_version; /* PFPROF_ABI_VERSION */
	__u32 reserved;
	__u64 buffer_size; /* PFPROF_BUFFER_SIZE: how much can be mapped */
};

/* struct pfprof_pid_arg.flags of PFPROF_IOC_REGISTER: the process is the
 * root of a process tree; every process a member forks from then on (not
 * threads) is registered too, from its fork; orphans stay members. New
 * members beyond the limit (sysfs tree_limit, default 16384 registered
 * processes) or 4096 forks pending between two ticks are refused and
 * counted (pfprof_status.tree_refused). EOPNOTSUPP without tracepoints. */
#define PFPROF_REG_TREE (1U << 0)

struct pfprof_pid_arg {
	__s32 pid;   /* process or thread id; 0 means the caller */
	__u32 flags; /* REGISTER: 0 or PFPROF_REG_TREE; UNREGISTER: 0 */
};

struct pfprof_status {
	__u32 abi_version;
	__u32 state;     /* PFPROF_STATE_* */
	__u32 hz;
	__u32 period_us;
	__u32 registered;
	__u32 tree_refused;    /* tree members' new processes refused */
	__u64 samples_written; /* classic samples since load or reset */
	__u64 samples_lost;    /* classic samples that overwrote an unread slot */
	__u64 records_written; /* extended records since load or reset */
	__u64 ticks;           /* sampler ticks since load or reset */
	__u64 overruns;        /* deadlines skipped: > 10 periods behind */
	__u64 process_samples; /* sum over ticks of processes sampled */
	__u64 cost_total_ns;   /* time spent sampling */
	__u64 cost_last_ns;    /* time the last tick took */
	__u64 cost_max_ns;     /* longest tick */
};

struct pfprof_proc_stats {
	__s32 pid; /* in: process (0: the caller) */
	__u32 reserved;
	__u64 minor_faults; /* since registration or the last reset */
	__u64 major_faults;
	__u64 cpu_ns;
	__u64 registered_ns;      /* CLOCK_MONOTONIC at registration */
	__u64 registered_jiffies; /* jiffies at registration */
};

struct pfprof_list {
	__u32 capacity; /* in: room at pids (0: only ask for the count) */
	__u32 count;    /* out: registered processes (may exceed capacity) */
	__u64 pids;     /* in: user address of a __s32[capacity] */
};

struct pfprof_period {
	__u32 period_us; /* PFPROF_PERIOD_MIN_US .. PFPROF_PERIOD_MAX_US */
	__u32 reserved;
};

#define PFPROF_IOC_MAGIC 0xB9

#define PFPROF_IOC_VERSION _IOR(PFPROF_IOC_MAGIC, 0, struct pfprof_version)
/* Errors: ESRCH no such process, EEXIST already registered, EPERM not yours. */
#define PFPROF_IOC_REGISTER _IOW(PFPROF_IOC_MAGIC, 1, struct pfprof_pid_arg)
/* Errors: ENOENT not registered, EPERM not yours. */
#define PFPROF_IOC_UNREGISTER _IOW(PFPROF_IOC_MAGIC, 2, struct pfprof_pid_arg)
#define PFPROF_IOC_QUERY _IOR(PFPROF_IOC_MAGIC, 3, struct pfprof_status)
/* Errors: ENOENT not registered, EPERM not yours. */
#define PFPROF_IOC_QUERY_PID _IOWR(PFPROF_IOC_MAGIC, 4, struct pfprof_proc_stats)
#define PFPROF_IOC_LIST _IOWR(PFPROF_IOC_MAGIC, 5, struct pfprof_list)
/* Needs CAP_SYS_ADMIN (EPERM otherwise). */
#define PFPROF_IOC_RESET _IO(PFPROF_IOC_MAGIC, 6)
/* Needs CAP_SYS_ADMIN; EINVAL outside the range. */
#define PFPROF_IOC_SET_PERIOD _IOW(PFPROF_IOC_MAGIC, 7, struct pfprof_period)

#endif /* PFPROF_H */
