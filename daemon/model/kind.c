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
                    NH_CAP_KUBE_API | NH_CAP_CLUSTER_STATE | NH_CAP_KEEPS_SERVERS |
                    NH_CAP_POOL_KEEPS_SERVERS | NH_CAP_CLOUD_DRAINS,
            .max_workers = 300, /* ScaleCluster num_of_nodes 0..300 */
            .workers_what = "ACK num_of_nodes",
            .max_pool = 1000,
            .pool_what = "ACK node pool size",
            .credentials = "access_key_id and access_key_secret",
            /* ModifyClusterNodePool: "You can add at most 500 nodes in one API
             * call" (https://www.alibabacloud.com/help/doc-detail/184928.htm) */
            .max_scale_step = 500,
            /* release_node: "subscription instances cannot be released"
             * (https://www.alibabacloud.com/help/en/ack/ack-managed-and-ack-dedicated/developer-reference/api-cs-2015-12-15-deleteclusternodes)
             */
            .subscription_why = "ACK does not release subscription (PrePaid) instances: removed, "
                                "they would keep running and billing",
            .subscription_fix = "set scale_in.release_instances: false to remove them and keep "
                                "their servers, or release them in the ECS console",
        },
    [NH_PROVIDER_CCE] =
        {
            .kind = NH_PROVIDER_CCE,
            .name = nh_kind_name_cce,
            .cloud = "CCE",
            .caps = NH_CAP_NAMES_VICTIMS | NH_CAP_LOOSE_WORKERS | NH_CAP_KUBE_API |
                    NH_CAP_PROJECT_SCOPED | NH_CAP_TOKEN_AUTH | NH_CAP_CLUSTER_STATE |
                    NH_CAP_KEEPS_SERVERS,
            .max_workers = 2000,
            .workers_what = "CCE node count",
            .max_pool = 2000,
            .pool_what = "CCE node pool size",
            .credentials = "ak and sk, or token",
            /* https://support.huaweicloud.com/intl/en-us/usermanual-cce/cce_10_0186.html */
            .subscription_why = "CCE cannot delete yearly/monthly nodes; they are unsubscribed",
            .subscription_fix = "set scale_in.release_instances: false to remove them and keep "
                                "their servers, or unsubscribe them in the console",
        },
    [NH_PROVIDER_MODELARTS] =
        {
            .kind = NH_PROVIDER_MODELARTS,
            .name = nh_kind_name_modelarts,
            .cloud = "ModelArts",
            /* Victims are named with BatchDeletePoolNodes; sizes are still
             * read from the node pools' counters. */
            .caps = NH_CAP_NAMES_VICTIMS | NH_CAP_DELETES_POOLS | NH_CAP_COUNTS_FROM_POOL |
                    NH_CAP_PROJECT_SCOPED | NH_CAP_TOKEN_AUTH | NH_CAP_POOL_SCOPED,
            .max_workers = 0,
            .workers_what = NULL,
            .max_pool = 1000,
            .pool_what = "ModelArts node pool size",
            .credentials = "ak and sk, or token",
            /* BatchDeletePoolNodes: "at least one node is retained in the
             * resource pool" (https://support.huaweicloud.com/intl/en-us/
             * api-modelarts/BatchDeletePoolNodes.html) */
            .min_cluster_nodes = 1,
            /* DeleteNodePool (seed 002): not for yearly/monthly pools; their
             * nodes are unsubscribed, not deleted (Lite Cluster guide
             * https://support.huaweicloud.com/intl/en-us/usermanual-cluster-modelarts/umn-cluster-modelarts-0021.html)
             */
            .subscription_why = "ModelArts does not delete a yearly/monthly node pool or its "
                                "nodes; they are unsubscribed",
            .subscription_fix = "unsubscribe in the ModelArts console, or change nodes: of a "
                                "pay-per-use node pool instead",
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
