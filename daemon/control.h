/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The VMM control socket: unix SOCK_SEQPACKET, one JSON object per
 * message (protocol in docs/control-protocol.md). This module owns the
 * socket, the connections, parsing and replies; what a request does is up
 * to the control_ops the daemon passes in. control_proto.c is the pure part
 * (parsing, reply text), control.c the socket and connections.
 */
#ifndef STEALTIMED_CONTROL_H
#define STEALTIMED_CONTROL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#define CONTROL_MAX_MSG 4096        /* largest request; larger ones get EMSGSIZE */
#define CONTROL_MAX_REPLY 65536     /* largest reply (a full snapshot fits) */
#define CONTROL_MAX_VCPU 4095       /* highest vcpu index a request may name */
#define CONTROL_MAX_SNAPSHOT 1024   /* vCPU values in one snapshot reply */
#define CONTROL_SPARE_CONNS 256     /* connections not (yet) registered: beyond, EBUSY */
#define CONTROL_CONNS_PER_PROCESS 8 /* connections one process may hold: beyond, EBUSY */
#define CONTROL_REGION_ALIGN 65536u /* region_ipa alignment */
#define CONTROL_RECORD_ALIGN 64u    /* set_ipa ipa alignment (KVM_ARM_VCPU_PVTIME_IPA) */

struct token_bucket;

struct control_peer {
	pid_t pid; /* SO_PEERCRED */
	uid_t uid;
	gid_t gid;
	int pidfd;           /* the process that connected, pinned at accept (peer_identity.h) */
	uint64_t start_time; /* its start time, clock ticks after boot */
	uint64_t conn_id;
	void *vm; /* set by ops->register_vm, passed back to later ops */
	/* the rescans this process asked for, shared by its connections (NULL: none kept) */
	struct token_bucket *rescans;
};

struct control_reg {
	char vm_id[24];
	int region_fd; /* owned by the daemon; the control module sends it, never closes it */
	uint32_t region_size;
};

struct control_vcpu_value {
	uint32_t vcpu;
	uint64_t stolen_ns;
};

/*
 * Every op is called only while the peer's process is alive (its pidfd):
 * requests of a connection whose process has exited get ESRCH, even when
 * another process has its pid now.
 *
 * Each op returns 0 or a negative errno; on error it writes a human
 * readable reason into err (errlen bytes). The reply carries the errno name
 * ("EINVAL") and the reason.
 */
struct control_ops {
	int (*register_vm)(void *ctx, struct control_peer *peer, uint64_t region_ipa,
			   struct control_reg *out, char *err, size_t errlen);
	int (*set_ipa)(void *ctx, struct control_peer *peer, uint32_t vcpu, uint64_t ipa,
		       bool has_initial, uint64_t initial_ns, char *err, size_t errlen);
	int (*smccc)(void *ctx, struct control_peer *peer, uint32_t vcpu, uint64_t function,
		     uint64_t arg, int64_t *ret, char *err, size_t errlen);
	/* fills up to max values, returns how many or a negative errno */
	int (*snapshot)(void *ctx, struct control_peer *peer, struct control_vcpu_value *vals,
			size_t max, char *err, size_t errlen);
	/* an "unregister" request: the registration ends */
	void (*unregister)(void *ctx, struct control_peer *peer);
	/*
	 * A registered connection closed (or was dropped) without unregistering:
	 * the registration belongs to the VMM process and stays, for the same
	 * process to take back by registering again.
	 */
	void (*disconnect)(void *ctx, struct control_peer *peer);
	/* pid's VM holds a registration: its connections pass a full spare quota */
	bool (*is_registered)(void *ctx, pid_t pid);
};

enum control_op {
	CONTROL_OP_REGISTER,
	CONTROL_OP_SET_IPA,
	CONTROL_OP_SMCCC,
	CONTROL_OP_SNAPSHOT,
	CONTROL_OP_UNREGISTER,
};

struct control_request {
	enum control_op op;
	uint64_t region_ipa; /* register */
	uint32_t vcpu;       /* set_ipa, smccc */
	uint64_t ipa;        /* set_ipa */
	bool has_initial;    /* set_ipa */
	uint64_t initial_ns;
	uint64_t function;   /* smccc, at most UINT32_MAX */
	uint64_t arg;        /* smccc, 0 when absent */
};

/*
 * Parses one message (not NUL-terminated). Returns 0, or a negative errno
 * with a reason naming the field in err: -EPROTO when the bytes are not one
 * JSON object, -EINVAL when the object's fields are wrong, -EMSGSIZE when
 * len > CONTROL_MAX_MSG. Pure: no I/O, safe on any bytes.
 */
int control_parse_request(const char *buf, size_t len, struct control_request *req, char *err,
			  size_t errlen);

/* "EINVAL" for -EINVAL (or EINVAL); "EIO" for errnos outside the protocol's table */
const char *control_errno_name(int err);

/*
 * Reply text, compact JSON without a trailing NUL, written into buf (size
 * bytes). Each returns the length, or -EMSGSIZE when it does not fit, or
 * -ENOMEM. control_reply_error fails only with -ENOMEM when size >= 1024:
 * the reason is cut to printable ASCII of bounded length.
 */
int control_reply_error(char *buf, size_t size, int err, const char *reason);
int control_reply_ok(char *buf, size_t size);
int control_reply_register(char *buf, size_t size, const struct control_reg *reg);
int control_reply_smccc(char *buf, size_t size, int64_t ret);
int control_reply_snapshot(char *buf, size_t size, const struct control_vcpu_value *vals,
			   size_t n);

struct control_server;

/*
 * Listens on path (creating its parent directory, removing a stale socket
 * file), mode 0660, group allowed_gid (or 0600, root only, when
 * allowed_gid is (gid_t)-1). Peers that are not root (nor the daemon's own
 * uid) and not in that group are refused at accept, as are peers whose
 * process has exited by then (ESRCH) and processes that hold
 * CONTROL_CONNS_PER_PROCESS connections already (EBUSY).
 */
int control_server_start(struct control_server **out, sd_event *ev, const char *path,
			 gid_t allowed_gid, const struct control_ops *ops, void *ctx);
/*
 * Connections: at most max_registered that hold a registration (the
 * configuration's limits.vms) plus CONTROL_SPARE_CONNS others, so that
 * peers that never register cannot keep a registered VMM from reconnecting.
 * Until called: max_registered is 0 (only spare connections).
 */
void control_server_set_max_registered(struct control_server *srv, unsigned max_registered);
/* Connections one process may hold at once (default CONTROL_CONNS_PER_PROCESS). */
void control_server_set_conns_per_process(struct control_server *srv, unsigned n);
/* requests: messages received; errors: {"ok":false} replies sent */
void control_server_counters(const struct control_server *srv, uint64_t *requests,
			     uint64_t *errors);
/*
 * Closes the listener and every connection WITHOUT calling ops->unregister:
 * registered VMs stay committed across a daemon restart. NULL is a no-op.
 */
void control_server_stop(struct control_server *srv);

#endif
