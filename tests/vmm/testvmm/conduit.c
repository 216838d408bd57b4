// SPDX-License-Identifier: GPL-2.0
/*
 * testvmm: the guest's I/O ports (testvmm.h): the SMCCC conduit, heartbeats,
 * the PV_TIME probe and the guest's reads of its record.
 */
#include <errno.h>
#include <stdio.h>
#include <time.h>

#include "testvmm.h"

#define GUEST_EVENT_INTERVAL_NS 50000000ull

static int64_t smccc_call(struct vcpu *v)
{
	struct st_vmm *st = v->vm->st;
	int64_t ret = ST_SMCCC_NOT_SUPPORTED;
	int err;

	if (!st)
		return ret;
	err = st_vmm_smccc(st, v->index, v->smccc_function, v->smccc_arg, &ret);
	if (err) {
		fprintf(stderr, "testvmm: vCPU %u: smccc 0x%x: %s\n", v->index,
			v->smccc_function, st_vmm_error(st));
		ret = ST_SMCCC_NOT_SUPPORTED;
	}
	return ret;
}

int port_in(struct vcpu *v, uint16_t port, uint32_t *val)
{
	switch (port) {
	case PORT_SMCCC_RET_LO:
		v->smccc_ret = smccc_call(v);
		*val = (uint32_t)v->smccc_ret;
		return 0;
	case PORT_SMCCC_RET_HI:
		*val = (uint32_t)((uint64_t)v->smccc_ret >> 32);
		return 0;
	}
	return error_at(-EPROTO, "vCPU %u: in from port 0x%x", v->index, port);
}

static int heartbeat(struct vcpu *v, uint32_t val)
{
	if (val != v->index)
		return error_at(-EPROTO, "vCPU %u: heartbeat from guest index %u", v->index, val);
	v->iterations++;
	if (v->vm->opt->idle_us) {
		struct timespec ts = { .tv_sec = v->vm->opt->idle_us / 1000000,
				       .tv_nsec = (v->vm->opt->idle_us % 1000000) * 1000 };

		nanosleep(&ts, NULL);
	}
	return 0;
}

/* 64-bit probe results arrive as lo (port) and hi (port + 4) */
static void probe_half(struct vcpu *v, unsigned int i, bool hi, uint32_t val)
{
	if (!hi) {
		v->latch_lo = val;
		return;
	}
	v->probe[i] = (uint64_t)val << 32 | v->latch_lo;
	if (i == 2)
		emit_probe(v);
}

/* A complete record read by the guest: counted always, reported every 50 ms. */
static void guest_read_done(struct vcpu *v, uint32_t stolen_hi)
{
	v->cur.stolen_ns = (uint64_t)stolen_hi << 32 | v->cur.stolen_ns;
	v->cur.t_ns = now_ns();
	v->cur.iterations = v->iterations;
	if (v->reads && v->cur.stolen_ns < v->last.stolen_ns)
		v->decreases++;
	v->reads++;
	v->last = v->cur;
	v->last_unreported = true;
	if (v->reads == 1 || v->last.t_ns - v->last_event_ns >= GUEST_EVENT_INTERVAL_NS)
		emit_guest_read(v);
}

int port_out(struct vcpu *v, uint16_t port, uint32_t val)
{
	switch (port) {
	case PORT_HEARTBEAT:
		return heartbeat(v, val);
	case PORT_SMCCC_FUNCTION:
		v->smccc_function = val;
		v->smccc_arg = 0;
		return 0;
	case PORT_SMCCC_ARG:
		v->smccc_arg = val;
		return 0;
	case PORT_PROBE_ARCH:
	case PORT_PROBE_ARCH + 4:
	case PORT_PROBE_FEATURES:
	case PORT_PROBE_FEATURES + 4:
	case PORT_PROBE_ST:
	case PORT_PROBE_ST + 4:
		probe_half(v, (port - PORT_PROBE_ARCH) / 8, port & 4, val);
		return 0;
	case PORT_REC_REVISION:
		v->cur.revision = val;
		return 0;
	case PORT_REC_ATTRIBUTES:
		v->cur.attributes = val;
		return 0;
	case PORT_REC_STOLEN_LO:
		v->cur.stolen_ns = val;
		return 0;
	case PORT_REC_STOLEN_HI:
		guest_read_done(v, val);
		return 0;
	}
	return error_at(-EPROTO, "vCPU %u: out 0x%x to port 0x%x", v->index, val, port);
}
