/* fuzz_journal.c - nh_journal_parse on arbitrary bytes: it returns 0,
 * -EBADMSG or -ENOMEM, never crashes or leaks, and what it accepts is
 * sane (open operations in increasing sequence order, at most one torn
 * record dropped). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state/journal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Input starting with '#': the rest is JSON lines that get correct CRCs
 * prepended, so the fuzzer reaches record decoding, not just framing. */
static char *checksummed(const uint8_t *data, size_t size, size_t *out_len)
{
    char *out = malloc(size * 10 + 16), *o = out; /* "" lines become 10 bytes */
    size_t pos = 1;
    if (out == NULL)
        return NULL;
    while (pos < size) {
        const uint8_t *nl = memchr(data + pos, '\n', size - pos);
        size_t n = nl ? (size_t)(nl - (data + pos)) : size - pos;
        snprintf(o, 10, "%08x ", (unsigned)nh_journal_crc32c(data + pos, n));
        memcpy(o + 9, data + pos, n);
        o += 9 + n;
        if (nl)
            *o++ = '\n';
        pos += n + 1;
    }
    *out_len = (size_t)(o - out);
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct nh_journal_replay rp;
    char err[256];
    char *img = NULL;
    if (size > 0 && data[0] == '#') {
        img = checksummed(data, size, &size);
        if (img == NULL)
            return 0;
        data = (const uint8_t *)img;
    }
    int r = nh_journal_parse((const char *)data, size, &rp, err, sizeof(err));
    if (r != 0 && r != -EBADMSG && r != -ENOMEM)
        abort();
    if (r == 0) {
        if (rp.n_dropped > 1 || (rp.n_dropped == 1 && rp.warning[0] == '\0'))
            abort();
        for (size_t i = 0; i < rp.n_open; i++) {
            const struct nh_op *op = &rp.open_ops[i];
            if (op->seq == 0 || (i > 0 && op->seq <= rp.open_ops[i - 1].seq))
                abort();
            if (op->action.n_nodes > 0 && op->action.node_ids == NULL &&
                op->action.node_names == NULL)
                abort();
            if (memchr(op->action.why, '\0', sizeof(op->action.why)) == NULL)
                abort();
        }
    } else if (r == -EBADMSG && strncmp(err, "line ", 5) != 0) {
        abort();
    }
    nh_journal_replay_clear(&rp);
    free(img);
    return 0;
}
