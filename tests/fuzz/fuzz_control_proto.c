// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer harness for the control protocol parser (daemon/control_proto.c):
 * any bytes a peer can send, then the error reply built from the reason.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Idaemon \
 *     tests/fuzz/fuzz_control_proto.c daemon/control_proto.c daemon/log.c \
 *     -ljansson -lsystemd -o build/fuzz_control_proto
 *   build/fuzz_control_proto -max_total_time=30 tests/fuzz/corpus/control
 *
 * Seeds and every input that once crashed live in tests/fuzz/corpus/control/.
 * fuzz-sources: daemon/control_proto.c daemon/log.c
 * fuzz-corpus: tests/fuzz/corpus/control
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"

static void check(int r, const struct control_request *req, const char *err)
{
	if (r != 0 && r != -EINVAL && r != -EPROTO && r != -EMSGSIZE)
		abort();
	if (r != 0 && err[0] == '\0')
		abort(); /* every refusal says why */
	if (r != 0)
		return;
	if (req->op == CONTROL_OP_REGISTER && req->region_ipa % CONTROL_REGION_ALIGN)
		abort();
	if ((req->op == CONTROL_OP_SET_IPA || req->op == CONTROL_OP_SMCCC) &&
	    req->vcpu > CONTROL_MAX_VCPU)
		abort();
	if (req->op == CONTROL_OP_SET_IPA && req->ipa % CONTROL_RECORD_ALIGN)
		abort();
	if (req->op == CONTROL_OP_SMCCC && req->function > UINT32_MAX)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char reply[CONTROL_MAX_REPLY];
	struct control_request req;
	char err[256];
	int r;

	r = control_parse_request((const char *)data, size, &req, err, sizeof(err));
	check(r, &req, err);
	if (r < 0 && control_reply_error(reply, sizeof(reply), r, err) <= 0)
		abort(); /* the reason must always make a valid reply */
	return 0;
}
