/* fuzz_opcodec.c - nh_opc_parse (an etcd operation value, state/opcodec.h)
 * on arbitrary bytes: 0, -EBADMSG or -ENOMEM, never a crash or a leak;
 * what it accepts encodes again and decodes to the same operation (drain
 * records too: kind "drain", deadline, mark). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "state/opcodec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct nh_op op, back;
    char err[256], *s = NULL;
    int r = nh_opc_parse((const char *)data, size, &op, err, sizeof(err));
    if (r != 0) {
        if (r != -EBADMSG && r != -ENOMEM)
            abort();
        if (r == -EBADMSG && err[0] == '\0')
            abort(); /* a refusal always says why */
        return 0;
    }
    if (op.seq == 0 || op.action.cluster == NULL || nh_action_kind_name(op.action.kind)[0] == '?' ||
        nh_op_state_name(op.state)[0] == '?')
        abort();
    r = nh_opc_to_string(&op, &s);
    if (r == 0) {
        if (nh_opc_parse(s, strlen(s), &back, err, sizeof(err)) != 0)
            abort(); /* what we write we read */
        if (back.seq != op.seq || back.state != op.state || back.action.kind != op.action.kind ||
            strcmp(back.action.cluster, op.action.cluster) != 0 ||
            back.action.n_nodes != op.action.n_nodes || back.drain != op.drain ||
            back.deadline_ms != op.deadline_ms || (back.mark == NULL) != (op.mark == NULL) ||
            (back.mark != NULL && strcmp(back.mark, op.mark) != 0))
            abort();
        nh_op_clear(&back);
    } else if (r != -ENOMEM) {
        abort(); /* decoded identifiers are UTF-8: they encode */
    }
    free(s);
    nh_op_clear(&op);
    return 0;
}
