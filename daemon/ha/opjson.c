/* opjson.c - operation records as stored in etcd, and their keys. The
 * encoding is state/opcodec.h's, shared with the file journal. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "ha/ha.h"
#include "state/opcodec.h"

const char *nh_ha_op_key(const char *prefix, uint64_t seq, char *buf, size_t len)
{
    snprintf(buf, len, "%sops/%020" PRIu64, prefix, seq);
    return buf;
}

char *nh_ha_op_to_json(const struct nh_op *op)
{
    char *s = NULL;
    return nh_opc_to_string(op, &s) == 0 ? s : NULL;
}

int nh_ha_op_from_json(const char *s, size_t len, struct nh_op *op, char *err, size_t errlen)
{
    return nh_opc_parse(s, len, op, err, errlen);
}
