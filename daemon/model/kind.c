/* kind.c - the table of cloud kinds (kind.h). The kind names are spelled
 * here and nowhere else in daemon/. */
#include "model/kind.h"

#include <string.h>

const char nh_kind_name_ack[] = "aliyun-ack";
const char nh_kind_name_cce[] = "huawei-cce";
const char nh_kind_name_modelarts[] = "huawei-modelarts";

static const struct nh_kind kinds[NH_PROVIDER_KINDS] = {
    [NH_PROVIDER_ACK] =
        {
            .kind = NH_PROVIDER_ACK,
            .name = nh_kind_name_ack,
            .cloud = "ACK",
            .caps = NH_CAP_NAMES_VICTIMS | NH_CAP_LOOSE_WORKERS | NH_CAP_GROWS_LOOSE_WORKERS |
                    NH_CAP_KUBE_API,
            .max_workers = 300, /* ScaleCluster num_of_nodes 0..300 */
            .workers_what = "ACK num_of_nodes",
            .max_pool = 1000,
            .pool_what = "ACK node pool size",
            .credentials = "access_key_id and access_key_secret",
        },
    [NH_PROVIDER_CCE] =
        {
            .kind = NH_PROVIDER_CCE,
            .name = nh_kind_name_cce,
            .cloud = "CCE",
            .caps = NH_CAP_NAMES_VICTIMS | NH_CAP_LOOSE_WORKERS | NH_CAP_KUBE_API |
                    NH_CAP_PROJECT_SCOPED | NH_CAP_TOKEN_AUTH,
            .max_workers = 2000,
            .workers_what = "CCE node count",
            .max_pool = 2000,
            .pool_what = "CCE node pool size",
            .credentials = "ak and sk, or token",
        },
    [NH_PROVIDER_MODELARTS] =
        {
            .kind = NH_PROVIDER_MODELARTS,
            .name = nh_kind_name_modelarts,
            .cloud = "ModelArts",
            .caps = NH_CAP_DELETES_POOLS | NH_CAP_COUNTS_FROM_POOL | NH_CAP_PROJECT_SCOPED |
                    NH_CAP_TOKEN_AUTH | NH_CAP_POOL_SCOPED,
            .max_workers = 0,
            .workers_what = NULL,
            .max_pool = 1000,
            .pool_what = "ModelArts node pool size",
            .credentials = "ak and sk, or token",
        },
};

const struct nh_kind *nh_kind_get(enum nh_provider_kind k)
{
    if ((unsigned)k >= NH_PROVIDER_KINDS)
        return NULL;
    return &kinds[k];
}

const struct nh_kind *nh_kind_at(size_t i)
{
    return i < NH_PROVIDER_KINDS ? &kinds[i] : NULL;
}

const struct nh_kind *nh_kind_by_name(const char *name)
{
    for (size_t i = 0; name != NULL && i < NH_PROVIDER_KINDS; i++)
        if (strcmp(kinds[i].name, name) == 0)
            return &kinds[i];
    return NULL;
}

bool nh_kind_has(enum nh_provider_kind k, unsigned caps)
{
    const struct nh_kind *r = nh_kind_get(k);
    return r != NULL && (r->caps & caps) == caps;
}

const char *nh_provider_kind_name(enum nh_provider_kind k)
{
    const struct nh_kind *r = nh_kind_get(k);
    return r != NULL ? r->name : "?";
}
