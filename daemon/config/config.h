/* config.h - the immutable, validated configuration (nodeherd.yaml(5)).
 *
 * nh_config_load() parses YAML with libyaml, validates everything and either
 * returns a complete config or none (with every problem in the diag).
 * The struct is immutable after load and reference-counted: a reload builds a
 * new one and swaps a pointer; work in flight keeps its own reference.
 *
 * Other modules (planner, providers, executor) read these plain structs.
 * Fields may be added; do not rename existing ones. */
#ifndef NH_CONFIG_H
#define NH_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/diag.h"
#include "config/secret.h"
#include "model/kind.h" /* enum nh_provider_kind, nh_provider_kind_name */

#define NH_DEFAULT_CONFIG "/etc/nodeherd/nodeherd.yaml"

/* ACK request signing: ACS3-HMAC-SHA256 (default) or legacy ROA HMAC-SHA1. */
enum nh_ack_signing { NH_SIGN_ACS3, NH_SIGN_ROA };

struct nh_cfg_provider {
    char *name;
    enum nh_provider_kind kind;
    char *region;
    char *endpoint;   /* NULL: derived from region (see providers) */
    char *project_id; /* huawei kinds: required */
    enum nh_ack_signing signing;
    /* Credentials. ACK: access_key_id + access_key_secret. Huawei: ak + sk,
     * or token. Unused ones are NULL. */
    struct nh_secret *access_key_id;
    struct nh_secret *access_key_secret;
    struct nh_secret *token;
    double qps;                  /* rate_limit.qps, default 2 */
    unsigned burst;              /* rate_limit.burst, default 4 */
    uint64_t timeout_ms;         /* per request total, default 30s */
    uint64_t connect_timeout_ms; /* default 5s */
    char *ca_file;               /* NULL: system bundle */
    int line, col;               /* position of the provider's key */
};

/* emptiest: fewest pods that would have to move (Kubernetes access only;
 * appended last so the values of the others stay as they were). */
enum nh_victim_order {
    NH_ORDER_UNHEALTHY,
    NH_ORDER_NEWEST,
    NH_ORDER_OLDEST,
    NH_ORDER_NAME,
    NH_ORDER_EMPTIEST,
};
#define NH_ORDER_MAX 5 /* each order at most once */
const char *nh_victim_order_name(enum nh_victim_order o);

struct nh_cfg_label {
    char *key;
    char *value; /* NULL: any value */
};

struct nh_cfg_scale_in {
    /* true (default): removed nodes' servers are deleted/released (ACK
     * release_node, CCE DeleteNode); false: they keep running (ACK
     * release_node=false, CCE RemoveNode; not for CCE node-pool nodes). */
    bool release_instances;
    /* Drain before removal. With Kubernetes access (kube_access): nodeherd
     * drains every victim first (executor/kube.c; default true, every kind
     * that has one) and the cloud's own drain is off. Without: ACK
     * drain_node (default true there); elsewhere default false, and
     * `drain: true` is a configuration error. */
    bool drain;
    uint64_t drain_timeout_ms; /* default 10m: then uncordon, report, choose again later */
    enum nh_victim_order order[NH_ORDER_MAX];
    size_t n_order; /* default: [unhealthy, emptiest, newest] with kube_access, else [unhealthy,
                       newest] */
    char **protect; /* node ids or names never removed */
    size_t n_protect;
    /* Default nodeherd.io/protect=true where labels can be read (the
     * cluster has Kubernetes access), empty elsewhere; an explicit list on
     * a cluster without access is a configuration error. */
    struct nh_cfg_label *protect_labels;
    size_t n_protect_labels;
    bool protect_labels_given; /* the key was given and read (not the default) */
    int max_per_cycle;         /* default 1 */
};

struct nh_cfg_scale_out { /* seed-era ACK ScaleCluster parameters */
    char *instance_type;
    char *system_disk_category;
    int system_disk_size_gb;
    struct nh_secret *login_password;
    int timeout_mins;      /* default 60 */
    bool disable_rollback; /* default true */
};

struct nh_cfg_login { /* CCE RemoveNode login */
    char *ssh_key;    /* key pair name, or NULL */
    char *username;   /* with password; default "root" */
    struct nh_secret *password;
};

struct nh_cfg_pool {
    char *name;              /* the cloud's pool name */
    char *id;                /* optional: the cloud's pool id (ACK nodepool_id, CCE uid) */
    int nodes;               /* desired; -1 = not managed (observe only) */
    int min;                 /* default 0 */
    int max;                 /* default: the cloud's range maximum */
    char *flavor;            /* ModelArts: the pool's flavor (required there) */
    bool manage_autoscaling; /* manage even though the cloud's autoscaler is on */
    int line, col;
};

/* kubernetes.network: which address of the API server a kubeconfig from
 * the cloud points at (ACK DescribeClusterUserKubeconfig
 * PrivateIpAddress=true|false; CCE: always the VPC one). */
enum nh_kube_network { NH_KUBE_NETWORK_PRIVATE, NH_KUBE_NETWORK_PUBLIC };
const char *nh_kube_network_name(enum nh_kube_network n);

/* The cluster's `kubernetes:` key (nodeherd.yaml(5)). */
struct nh_cfg_kube {
    /* kubeconfig: from-cloud: fetched with the provider's credentials (ACK
     * DescribeClusterUserKubeconfig, CCE CreateKubernetesClusterCert), kept
     * in memory only. Otherwise a secret reference ({ file: } / { env: })
     * holding a kubeconfig (YAML or JSON), checked at load. */
    bool from_cloud;
    struct nh_secret *kubeconfig; /* NULL with from_cloud */
    enum nh_kube_network network; /* default private */
    /* request_timeout: bound on one request to the API server (each
     * attempt of a list page, cordon, eviction, ...); default 30s. */
    uint64_t request_timeout_ms;
    /* ready_timeout: a node the cloud reports running that Kubernetes has
     * not seen Ready this long after its creation is reported and counted
     * unhealthy (the first victim of a later scale-in); default 15m. */
    uint64_t ready_timeout_ms;
    int line, col; /* position of the kubernetes: key */
};

/* Checks a kubeconfig's bytes as the Kubernetes client will read them: 0,
 * or a negative errno with a message (naming the field and the fix, never
 * a secret) in err. The kube module provides it (nh_kubeconfig_check);
 * the config module cannot link it (kube depends on config), so the
 * program registers it once at start. Without one, a kubeconfig secret is
 * only loaded at configuration load and checked when first used. */
typedef int (*nh_kubeconfig_check_fn)(const unsigned char *data, size_t len, char *err,
                                      size_t errlen);
void nh_config_set_kubeconfig_check(nh_kubeconfig_check_fn fn);

struct nh_cfg_cluster {
    char *name;
    char *provider_name;
    const struct nh_cfg_provider *provider; /* resolved; borrowed from the config */
    char *id;                               /* ACK/CCE cluster id; ModelArts: NULL */
    char *pool;                             /* ModelArts resource pool name */
    int workers;                            /* desired workers outside pools; -1 = not managed */
    int min, max;                           /* bounds for workers; default 0 .. cloud max */
    bool has_scale_out;
    struct nh_cfg_scale_out scale_out;
    struct nh_cfg_scale_in scale_in;
    char **remove; /* node ids/names that must go */
    size_t n_remove;
    bool has_login;
    struct nh_cfg_login login;
    struct nh_cfg_pool *pools;
    size_t n_pools;
    bool pools_declared;       /* node_pools: key present (even if empty) */
    bool prune;                /* delete undeclared pools */
    bool confirm_mass_removal; /* operator confirmed a change over the share */
    uint64_t poll_interval_ms; /* 0: daemon default */
    bool suspend;              /* observe and plan, never act (an incident switch) */
    /* The cluster's own Kubernetes API can be read (labels, pods, drains):
     * the cluster has a `kubernetes:` key (ACK and CCE only). */
    bool kube_access;
    struct nh_cfg_kube kube; /* valid when kube_access */
    int line, col;
};

struct nh_cfg_daemon {
    uint64_t poll_interval_ms;     /* default 30s */
    uint64_t job_poll_interval_ms; /* default 5s */
    uint64_t job_timeout_ms;       /* default 30m */
    char *state_dir;               /* default /var/lib/nodeherd ($STATE_DIRECTORY wins) */
    char *listen;                  /* default 127.0.0.1:9464; "" disables */
    char **listen_names;           /* Host names the endpoint answers to, besides its addresses */
    size_t n_listen_names;
    bool dry_run;
    double max_removal_share; /* fat-finger guard, default 0.5 */
    int log_level;            /* LOG_*; default LOG_INFO */
};

/* High availability (`ha:`, nodeherd.yaml(5)): absent means a single
 * instance. Several replicas elect one leader through etcd; only the leader
 * mutates, and the journal of operations in flight lives in etcd. */
struct nh_cfg_ha {
    bool enabled;     /* the ha: key is present */
    char *name;       /* this instance's name in the election; NULL: host name */
    char **endpoints; /* etcd client URLs (https://, or http:// to loopback) */
    size_t n_endpoints;
    char *prefix;               /* key prefix, starts and ends with "/"; default /nodeherd/ */
    uint64_t lease_ttl_ms;      /* default 15s */
    uint64_t poll_interval_ms;  /* followers re-read the election key; default 1s */
    uint64_t timeout_ms;        /* bound on one etcd request (and so on a fence); default 2s */
    struct nh_secret *username; /* etcd authentication (optional, with password) */
    struct nh_secret *password;
    char *ca_file; /* NULL: system bundle (https endpoints) */
    int line, col; /* position of the ha: key */
};

/* What a secret is for. A load reads only the secrets its caller needs;
 * the others are checked as references ({ file: NAME } / { env: NAME }
 * well formed) and left NULL, never read. */
enum nh_secret_use {
    NH_USE_CLOUD_READ = 1u << 0,  /* provider credentials: every cloud call, reads included */
    NH_USE_CLOUD_WRITE = 1u << 1, /* sent with mutating calls only: scale_out.login_password,
                                   * login.password */
    NH_USE_HA = 1u << 2,          /* etcd authentication (ha:): `run` only */
};
#define NH_SECRETS_NONE 0u /* check --offline: no secret is read */
#define NH_SECRETS_ALL (NH_USE_CLOUD_READ | NH_USE_CLOUD_WRITE | NH_USE_HA)

struct nh_load_opts {
    unsigned secrets; /* the NH_USE_* secrets to read */
};

struct nh_config {
    unsigned refs;
    char *path;     /* as given */
    char *revision; /* git commit or "sha256:<hex>" of the file */
    struct nh_cfg_daemon daemon;
    struct nh_cfg_provider *providers;
    size_t n_providers;
    struct nh_cfg_cluster *clusters;
    size_t n_clusters;
    struct nh_cfg_ha ha;
    unsigned secrets; /* the NH_USE_* secrets this load read; the others are NULL */
};

/* Loads and validates one file. Returns 0 and a config with refs == 1, or a
 * negative errno with every problem in diag (which the caller owns and must
 * nh_diag_free). Warnings may be present on success. Never crashes or leaks,
 * whatever the input. */
int nh_config_load(const char *path, struct nh_config **ret, struct nh_diag *diag);
/* The same from memory; `name` is used in positions. */
int nh_config_load_buffer(const char *name, const char *data, size_t len, struct nh_config **ret,
                          struct nh_diag *diag);
/* The same, reading only the secrets opts->secrets names (NULL opts: all).
 * nh_config_load() is nh_config_load_with(path, NULL, ...): the daemon
 * needs every secret; `plan` reads NH_USE_CLOUD_READ only (read-only keys
 * are enough, write-only secrets need not exist); `check --offline` none. */
int nh_config_load_with(const char *path, const struct nh_load_opts *opts, struct nh_config **ret,
                        struct nh_diag *diag);
int nh_config_load_buffer_with(const char *name, const char *data, size_t len,
                               const struct nh_load_opts *opts, struct nh_config **ret,
                               struct nh_diag *diag);

struct nh_config *nh_config_ref(struct nh_config *c);
void nh_config_unref(struct nh_config *c); /* NULL ok */

const struct nh_cfg_cluster *nh_config_cluster(const struct nh_config *c, const char *name);
const struct nh_cfg_provider *nh_config_provider(const struct nh_config *c, const char *name);

/* The cloud resource a declared cluster manages. Two declarations that
 * compare equal name the same ACK cluster (cluster id), CCE cluster
 * (project and cluster id) or ModelArts resource pool (project and pool),
 * whatever their provider entries are called, which credentials, region
 * or endpoint they use to reach it: two declarations of one resource
 * would fight over it (the loader refuses them within a file, `nodeherd
 * check` across files). A total order, for sorting; a cluster without a
 * resolved provider sorts first and equals nothing but itself. Pure. */
int nh_cfg_target_cmp(const struct nh_cfg_cluster *a, const struct nh_cfg_cluster *b);
/* "the aliyun-ack cluster ID (region R)", "the huawei-modelarts resource
 * pool P (project X, region R)": for messages. Returns buf. */
const char *nh_cfg_target_describe(const struct nh_cfg_cluster *c, char *buf, size_t len);

/* One declaration of a duplicated resource: the cluster, the file that
 * declares it and its index in that file's clusters: list. */
struct nh_cfg_decl {
    const char *file;
    const struct nh_cfg_cluster *cluster;
    size_t index;
};
/* At most this many declarations are named in one duplicate message. */
#define NH_CFG_DUP_LISTED 8
/* The message for one resource declared n >= 2 times (decl[0] first), without
 * a position prefix: "clusters[I]: the ... is declared N times: "web" at
 * FILE:L:C, ...; declare it once ...". across_files: the declarations are in
 * different files (the fix names files). The list is bounded: at most
 * NH_CFG_DUP_LISTED positions, then "and K more". Returns buf. */
const char *nh_cfg_duplicate_message(const struct nh_cfg_decl *decl, size_t n, bool across_files,
                                     char *buf, size_t len);

/* The git directory of the checkout holding `path` (walking up; a `.git`
 * file of a linked worktree is followed), read without running git.
 * 0, or -ENOENT when the file is not in a checkout. The daemon watches
 * <gitdir>/logs/HEAD so that a commit or pull that leaves the file as it is
 * still updates the revision recorded with each mutation. */
int nh_git_dir(const char *path, char *ret, size_t len);
/* The git HEAD commit for a checkout containing `dir`, as 40 hex in ret
 * (41 bytes). 0, or a negative errno when not a checkout / unreadable. */
int nh_git_head(const char *dir, char ret[41]);

/* Endpoint overrides (providers.NAME.endpoint) receive the provider's
 * credentials, so a configuration file alone may point them only at
 * loopback or at the cloud's own domains (ACK: *.aliyuncs.com; CCE and
 * ModelArts: *.myhuaweicloud.com, *.myhuaweicloud.eu, *.myhuaweicloud.cn,
 * *.huaweicloud.com). Any other host must be allowed here first, from the
 * command line (--allow-endpoint HOST): process-wide, for every load that
 * follows. host (a name, an IPv4 address or a bracketed IPv6 address,
 * compared without case) is borrowed and must outlive the loads (argv).
 * 0, -EINVAL (not a host) or -E2BIG (more than the maximum). */
#define NH_CONFIG_MAX_ALLOWED_ENDPOINTS 16
int nh_config_allow_endpoint(const char *host);
void nh_config_allow_endpoint_clear(void); /* tests */

/* Parses "250ms", "30s", "5m", "1h", "1h30m"; 0 or -EINVAL/-ERANGE. */
int nh_duration_parse(const char *s, uint64_t *ret_ms);
/* Formats ms as the shortest of the above into buf. */
const char *nh_duration_format(uint64_t ms, char *buf, size_t len);

#endif
