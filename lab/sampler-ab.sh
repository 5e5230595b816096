#!/bin/sh
# A/B of the sampler's cost per process sample between module builds, in one
# lab VM boot: N paused processes registered at 20 Hz, the builds loaded in
# turn, interleaved over ROUNDS rounds, each measured over 5 s from the
# module's own sysfs counters (cost_total_ns / process_samples, which every
# ABI version has).
#
#   DIR holds NAME.ko for each NAME in MODULES (default: old new), e.g. the
#   module of an earlier commit built with
#     git archive COMMIT kmod | tar -x -C /tmp/old
#     make -C <lab kernel dir> M=/tmp/old/kmod <make vars of cargo xtask kmod>
#   and target/lab/release/pfprof.ko, copied into target/lab/ab/.
#
#   cargo xtask vm --timeout 1200 -- env MODULES="old new" lab/sampler-ab.sh target/lab/ab
#
#   cargo xtask vm --timeout 1200 -- env LOAD=busy N=50 lab/sampler-ab.sh target/lab/ab
#
#   N=1 measures a tick's fixed cost (its ns per tick, less one process's
#   share from an N=1000 run).
#
# Under TCG the figures are noisy whenever other VMs or builds share the
# cores: compare rounds, and run on an idle machine.
DIR=${1:?usage: sampler-ab.sh DIR (with NAME.ko for each NAME in MODULES)}
N=${N:-1000}
ROUNDS=${ROUNDS:-5}
S=/sys/class/pfprof/pfprof
pids=""
i=0
# LOAD=busy: the processes spin (niced) instead of sleeping, so each runs
# in every period and every sample takes the full path (the thread walk and
# the memory figures); the default measures sleeping processes.
while [ $i -lt "$N" ]; do
	if [ "${LOAD:-sleep}" = busy ]; then
		nice -n 19 sh -c 'while :; do :; done' &
	else
		sleep 100000 &
	fi
	pids="$pids $!"
	i=$((i + 1))
done
round=1
while [ $round -le "$ROUNDS" ]; do
	for which in ${MODULES:-old new}; do
		insmod "$DIR/$which.ko" || exit 1
		for p in $pids; do echo "R $p" > /proc/mp3/status; done
		sleep 1
		t0=$(cat $S/cost_total_ns); s0=$(cat $S/process_samples); k0=$(cat $S/ticks)
		sleep 5
		t1=$(cat $S/cost_total_ns); s1=$(cat $S/process_samples); k1=$(cat $S/ticks)
		echo "round $round $which: $(( (t1 - t0) / (s1 - s0) )) ns per process sample, $(( (t1 - t0) / (k1 - k0) )) ns per tick, N=$N"
		rmmod pfprof || exit 1
	done
	round=$((round + 1))
done
kill $pids
