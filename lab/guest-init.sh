#!/bin/sh
# PID 1 of the pfprof lab VM (see xtask/src/vm.rs).
#
# The root file system is the host's own, shared read-only over 9p; the
# repository is shared again, writable, at the same path. The host writes the
# run's settings to $PFPROF_RUN/env and the command to $PFPROF_RUN/cmd; this
# script reports back through files in $PFPROF_RUN and then powers off.
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mountpoint -q /dev || mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
for d in /tmp /run /var/tmp /var/log; do
	[ -d "$d" ] && mount -t tmpfs -o mode=1777 tmpfs "$d"
done
[ -d /sys/kernel/debug ] && mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null

# Guest output: hvc0 is the host's stdout, hvc1 its stderr, ttyS0 the kernel
# log. The consoles are ttys whose settings reset on their last close: keep
# them open (fds 3 and 4) and make them pass bytes through unchanged.
exec 3>/dev/hvc0 4>/dev/hvc1
stty raw -echo </dev/hvc0
stty raw -echo </dev/hvc1
exec </dev/null >&4 2>&4

say() { echo "lab: $*" >/dev/ttyS0; }

# The repository may live under a directory just hidden by a tmpfs (a clone
# in /tmp): make its mount point there.
mkdir -p "$PFPROF_REPO" 2>/dev/null
if ! mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 repo "$PFPROF_REPO"; then
	say "cannot mount the repository at $PFPROF_REPO"
	echo o >/proc/sysrq-trigger
fi
. "$PFPROF_RUN/env"

hostname pfprof-lab 2>/dev/null
ip link set lo up 2>/dev/null

status() { echo "$2" >"$PFPROF_RUN/$1"; }

if [ -n "$PFPROF_SWAP_DEV" ]; then
	# Swapping out of a few hundred MiB of RAM, the swap device's own
	# driver allocates without sleeping (virtio_blk's indirect descriptors,
	# GFP_ATOMIC); with the default reserve (about 2.5 MiB here) such an
	# allocation can fail and the kernel logs a page allocation failure
	# with its call trace. A larger reserve keeps reclaim ahead of it.
	echo 16384 >/proc/sys/vm/min_free_kbytes
	if ! swapon "$PFPROF_SWAP_DEV"; then
		echo "lab: swapon $PFPROF_SWAP_DEV failed" >&2
		status setup_failed swapon
	fi
fi

if [ -n "$PFPROF_LOAD" ] && [ ! -e "$PFPROF_RUN/setup_failed" ]; then
	if ! insmod "$PFPROF_LOAD"; then
		echo "lab: insmod $PFPROF_LOAD failed" >&2
		status setup_failed insmod
	fi
fi

if [ ! -e "$PFPROF_RUN/setup_failed" ]; then
	say "running the command"
	cd "$PFPROF_CWD" || cd /
	HOME=/tmp sh "$PFPROF_RUN/cmd" >&3 2>&4 3>&- 4>&-
	status rc $?
	say "command finished"
	if [ -n "$PFPROF_LOAD" ]; then
		if ! rmmod "$(basename "$PFPROF_LOAD" .ko)"; then
			echo "lab: rmmod failed" >&2
			status rmmod_failed 1
		fi
	fi
fi

sync
say "stopping the VM"
# An immediate reboot, which QEMU (-no-reboot) turns into an exit. Not a
# power-off: its orderly device shutdown removes the 9p root under this very
# script, which then dies of SIGBUS.
echo b >/proc/sysrq-trigger
sleep 60
