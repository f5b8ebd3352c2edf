/* test_config.c - nh_config_load_buffer: invalid configurations (table:
 * text -> exact "LINE:COL: message" of the first error and the error
 * count), valid ones with their parsed values and defaults, and inputs that
 * must neither crash nor leak. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include <cmocka.h>

#include "config/config.h"
#include "kube/kubeconfig.h"

/* Lines 1-7; the next line is 8. */
#define ACK_PROV                                                                                   \
    "providers:\n"                                                                                 \
    "  ack:\n"                                                                                     \
    "    kind: aliyun-ack\n"                                                                       \
    "    region: cn-hangzhou\n"                                                                    \
    "    credentials:\n"                                                                           \
    "      access_key_id: { env: NHT_AK }\n"                                                       \
    "      access_key_secret: { env: NHT_SK }\n"
/* EXTRA goes on line 5 (after region). */
#define ACK_PROV_X(EXTRA)                                                                          \
    "providers:\n"                                                                                 \
    "  ack:\n"                                                                                     \
    "    kind: aliyun-ack\n"                                                                       \
    "    region: cn-hangzhou\n" EXTRA "    credentials:\n"                                         \
    "      access_key_id: { env: NHT_AK }\n"                                                       \
    "      access_key_secret: { env: NHT_SK }\n"                                                   \
    "clusters: []\n"
/* Cluster keys go on line 12, column 5. */
#define ACK_WEB                                                                                    \
    ACK_PROV "clusters:\n"                                                                         \
             "  - name: web\n"                                                                     \
             "    provider: ack\n"                                                                 \
             "    id: c1\n"
/* Cluster keys go on line 11, column 5. */
#define CCE_TRAIN                                                                                  \
    "providers:\n"                                                                                 \
    "  cce:\n"                                                                                     \
    "    kind: huawei-cce\n"                                                                       \
    "    region: cn-north-4\n"                                                                     \
    "    project_id: 0123456789abcdef0123456789abcdef\n"                                           \
    "    credentials: { ak: { env: NHT_AK }, sk: { env: NHT_SK } }\n"                              \
    "clusters:\n"                                                                                  \
    "  - name: train\n"                                                                            \
    "    provider: cce\n"                                                                          \
    "    id: c2\n"
#define MA_AI                                                                                      \
    "providers:\n"                                                                                 \
    "  ma:\n"                                                                                      \
    "    kind: huawei-modelarts\n"                                                                 \
    "    region: cn-north-7\n"                                                                     \
    "    project_id: 0123456789abcdef0123456789abcdef\n"                                           \
    "    credentials: { token: { env: NHT_AK } }\n"                                                \
    "clusters:\n"                                                                                  \
    "  - name: ai\n"                                                                               \
    "    provider: ma\n"                                                                           \
    "    pool: pool-abc\n"
/* A kubeconfig the client accepts (a token, http:// to loopback as tests
 * may) and one it refuses (an exec plugin). */
#define KUBECONFIG_OK                                                                              \
    "apiVersion: v1\nkind: Config\ncurrent-context: t\n"                                           \
    "clusters: [{name: t, cluster: {server: \"http://127.0.0.1:6443\"}}]\n"                        \
    "users: [{name: t, user: {token: kube-token-canary}}]\n"                                       \
    "contexts: [{name: t, context: {cluster: t, user: t}}]\n"
#define KUBECONFIG_EXEC                                                                            \
    "apiVersion: v1\nkind: Config\ncurrent-context: t\n"                                           \
    "clusters: [{name: t, cluster: {server: \"http://127.0.0.1:6443\"}}]\n"                        \
    "users: [{name: t, user: {exec: {command: aws, apiVersion: "                                   \
    "client.authentication.k8s.io/v1}}}]\n"                                                        \
    "contexts: [{name: t, context: {cluster: t, user: t}}]\n"
#define EMPTY_FLEET "providers: {}\nclusters: []\n"
#define DAEMON(X) "daemon:\n  " X "\n" EMPTY_FLEET

#define PATHID_MSG                                                                                 \
    "expected an ID of letters, digits, \".\", \"_\", \"~\" or \"-\" (it is used in URL paths)"
#define DUR_MSG "with a unit (ms, s, m, h; e.g. 30s, 1h30m)"
#define LISTEN_MSG                                                                                 \
    "expected HOST:PORT, [IPV6]:PORT or :PORT with a port 0..65535, or \"\" to disable"
#define NODE_MSG "expected a node id or name (letters, digits, \".\", \"_\", \"~\", \"-\")"
/* Huawei project IDs: 32 lowercase hex digits (the one MA_AI uses, and two
 * others). */
#define PID0 "0123456789abcdef0123456789abcdef"
#define PID1 "11111111111111111111111111111111"
#define PID2 "22222222222222222222222222222222"
#define PROJECT_MSG                                                                                \
    "expected a project ID of 32 lowercase hexadecimal digits, as the console shows it under My "  \
    "Credentials > API Credentials for the provider's region"

struct bad_case {
    const char *name;
    const char *yaml;
    size_t len;        /* 0: strlen */
    const char *first; /* "LINE:COL: message" of the first error */
    size_t errors;     /* exact error count */
};

static const struct bad_case bad[] = {
    /* --- types and ranges --- */
    {"workers word", ACK_WEB "    workers: eight\n", 0,
     "12:5: clusters[0].workers: expected an integer 0..300 (ACK num_of_nodes), got \"eight\"", 1},
    {"workers quoted", ACK_WEB "    workers: \"8\"\n", 0,
     "12:5: clusters[0].workers: expected an integer 0..300 (ACK num_of_nodes), got a quoted "
     "\"8\" (write it without quotes)",
     1},
    {"workers over ACK max", ACK_WEB "    workers: 301\n", 0,
     "12:5: clusters[0].workers: expected an integer 0..300 (ACK num_of_nodes), got \"301\"", 1},
    {"workers hex", ACK_WEB "    workers: 0x10\n", 0,
     "12:5: clusters[0].workers: expected an integer 0..300 (ACK num_of_nodes), got \"0x10\"", 1},
    {"workers negative", ACK_WEB "    workers: -1\n", 0,
     "12:5: clusters[0].workers: expected an integer 0..300 (ACK num_of_nodes), got \"-1\"", 1},
    {"workers empty", ACK_WEB "    workers:\n", 0,
     "12:5: clusters[0].workers: expected an integer 0..300 (ACK num_of_nodes), got nothing", 1},
    {"workers huge", ACK_WEB "    workers: 99999999999999999999999\n", 0,
     "12:5: clusters[0].workers: expected an integer 0..300 (ACK num_of_nodes), got "
     "\"99999999999999999999999\"",
     1},
    {"CCE workers over max", CCE_TRAIN "    workers: 2001\n", 0,
     "11:5: clusters[0].workers: expected an integer 0..2000 (CCE node count), got \"2001\"", 1},
    {"ACK pool nodes over max", ACK_WEB "    node_pools:\n      - name: np\n        nodes: 1001\n",
     0,
     "14:9: clusters[0].node_pools[0].nodes: expected an integer 0..1000 (ACK node pool size), "
     "got \"1001\"",
     1},
    {"bool yes", DAEMON("dry_run: yes"), 0,
     "2:3: daemon.dry_run: expected true or false, got \"yes\"", 1},
    {"bool quoted", DAEMON("dry_run: \"true\""), 0,
     "2:3: daemon.dry_run: expected true or false, got a quoted \"true\" (write it without "
     "quotes)",
     1},
    {"duration without unit", DAEMON("poll_interval: 30"), 0,
     "2:3: daemon.poll_interval: expected a duration 1s..24h " DUR_MSG ", got \"30\"", 1},
    {"duration below range", DAEMON("job_poll_interval: 50ms"), 0,
     "2:3: daemon.job_poll_interval: expected a duration 100ms..10m " DUR_MSG ", got \"50ms\"", 1},
    {"duration overflow", DAEMON("job_timeout: 99999999999999999999h"), 0,
     "2:3: daemon.job_timeout: expected a duration 1s..48h " DUR_MSG
     ", got \"99999999999999999999h\"",
     1},
    {"listen without port", DAEMON("listen: localhost"), 0,
     "2:3: daemon.listen: " LISTEN_MSG ", got \"localhost\"", 1},
    {"listen port too big", DAEMON("listen: \":70000\""), 0,
     "2:3: daemon.listen: " LISTEN_MSG ", got \":70000\"", 1},
    {"listen bare v6", DAEMON("listen: \"::1:80\""), 0,
     "2:3: daemon.listen: " LISTEN_MSG ", got \"::1:80\"", 1},
    {"share 0%", DAEMON("max_removal_share: 0%"), 0,
     "2:3: daemon.max_removal_share: expected a share like 50% (1%..100%) or a number "
     "0.01..1.0, got \"0%\"",
     1},
    {"share 150%", DAEMON("max_removal_share: 150%"), 0,
     "2:3: daemon.max_removal_share: expected a share like 50% (1%..100%) or a number "
     "0.01..1.0, got \"150%\"",
     1},
    {"share 1.5", DAEMON("max_removal_share: 1.5"), 0,
     "2:3: daemon.max_removal_share: expected a share like 50% (1%..100%) or a number "
     "0.01..1.0, got \"1.5\"",
     1},
    {"log level", DAEMON("log_level: verbose"), 0,
     "2:3: daemon.log_level: expected one of err, warning, notice, info, debug, got \"verbose\"",
     1},
    {"state_dir relative", DAEMON("state_dir: var/lib"), 0,
     "2:3: daemon.state_dir: expected an absolute path, got \"var/lib\"", 1},
    {"qps zero", ACK_PROV_X("    rate_limit: { qps: 0, burst: 4 }\n"), 0,
     "5:19: providers.ack.rate_limit.qps: expected a number 0.01..1000, got \"0\"", 1},
    {"burst zero", ACK_PROV_X("    rate_limit: { qps: 1, burst: 0 }\n"), 0,
     "5:27: providers.ack.rate_limit.burst: expected an integer 1..1000, got \"0\"", 1},
    {"provider timeout", ACK_PROV_X("    timeout: 11m\n"), 0,
     "5:5: providers.ack.timeout: expected a duration 1s..10m " DUR_MSG ", got \"11m\"", 1},
    {"max_per_cycle zero", ACK_WEB "    scale_in:\n      max_per_cycle: 0\n", 0,
     "13:7: clusters[0].scale_in.max_per_cycle: expected an integer 1..200, got \"0\"", 1},
    {"disk size",
     ACK_WEB "    scale_out:\n      instance_type: ecs.t\n"
             "      system_disk: { category: c, size_gb: 10 }\n"
             "      login_password: { env: NHT_AK }\n",
     0,
     "14:35: clusters[0].scale_out.system_disk.size_gb: expected an integer 20..2048 (ECS "
     "system disk GiB), got \"10\"",
     1},
    /* --- keys --- */
    {"unknown key suggests", ACK_WEB "    node_pool: []\n", 0,
     "12:5: clusters[0].node_pool: unknown key; did you mean \"node_pools\"?", 1},
    {"transposed key suggests", ACK_WEB "    wrokers: 3\n", 0,
     "12:5: clusters[0].wrokers: unknown key; did you mean \"workers\"?", 1},
    {"unknown key lists", DAEMON("colour: blue"), 0,
     "2:3: daemon.colour: unknown key; expected one of poll_interval, job_poll_interval, "
     "job_timeout, state_dir, listen, listen_names, dry_run, max_removal_share, log_level",
     1},
    {"duplicate key", ACK_WEB "    workers: 3\n    workers: 4\n", 0,
     "13:5: clusters[0].workers: duplicate key \"workers\" (first at 12:5)", 1},
    {"missing id", ACK_PROV "clusters:\n  - name: web\n    provider: ack\n", 0,
     "9:5: clusters[0]: missing required key \"id\" (needed for aliyun-ack)", 1},
    {"missing providers", "clusters: []\n", 0, "1:1: missing required key \"providers\"", 1},
    {"missing clusters, misspelt", "providers: {}\ncluster: []\n", 0,
     "1:1: missing required key \"clusters\"", 2},
    {"clusters null", "providers: {}\nclusters:\n", 0,
     "2:1: clusters: expected a list of clusters (write [] for none), got nothing", 1},
    {"providers null", "providers:\nclusters: []\n", 0,
     "1:1: providers: expected a map of provider name -> provider, got nothing", 1},
    {"top-level list", "- a\n", 0,
     "1:1: expected a map at the top level (with providers: and clusters:), got a list", 1},
    {"cluster not a map", ACK_PROV "clusters:\n  - web\n", 0,
     "9:5: clusters[0]: expected a map, got \"web\"", 1},
    {"revision map", "revision: {}\n" EMPTY_FLEET, 0,
     "1:1: revision: expected a non-empty string, got a map", 1},
    /* --- names, references, cross checks --- */
    {"duplicate cluster", ACK_WEB "  - name: web\n    provider: ack\n    id: c2\n", 0,
     "12:5: clusters[1].name: duplicate cluster name \"web\" (first at 9:5)", 1},
    {"duplicate pool",
     ACK_WEB "    node_pools:\n      - { name: np, nodes: 1 }\n      - { name: np }\n", 0,
     "14:11: clusters[0].node_pools[1].name: duplicate node pool name \"np\" (first at 13:11)", 1},
    {"duplicate provider", ACK_PROV "  ack:\n    kind: aliyun-ack\nclusters: []\n", 0,
     "8:3: providers.ack: duplicate provider \"ack\" (first at 2:3)", 1},
    /* --- keys a kind has no meaning for are refused, not ignored (issue 17) --- */
    {"drain on ModelArts", MA_AI "    scale_in: { drain: false }\n", 0,
     "11:17: clusters[0].scale_in.drain: not supported by huawei-modelarts providers (only "
     "aliyun-ack, huawei-cce: ModelArts nodes have no Kubernetes API to drain through); remove it",
     1},
    {"release_instances on ModelArts", MA_AI "    scale_in:\n      release_instances: true\n", 0,
     "12:7: clusters[0].scale_in.release_instances: not supported by huawei-modelarts providers "
     "(only aliyun-ack, huawei-cce: ModelArts deletes removed nodes with their servers, it cannot "
     "keep them); remove it",
     1},
    /* --- one cloud resource declared twice (issue 17) --- */
    {"same ACK cluster twice",
     ACK_WEB "    workers: 7\n  - name: web2\n    provider: ack\n"
             "    id: c1\n    workers: 9\n",
     0,
     "13:5: clusters[1]: the aliyun-ack cluster c1 (region cn-hangzhou) is declared 2 times: "
     "\"web\" at t.yaml:9:5, \"web2\" at t.yaml:13:5; declare each cloud cluster once: two "
     "declarations would fight over it",
     1},
    {"same ACK cluster through two providers",
     "providers:\n"
     "  a1: { kind: aliyun-ack, region: cn-hangzhou, credentials: { access_key_id: { env: NHT_AK "
     "}, access_key_secret: { env: NHT_SK } } }\n"
     "  a2: { kind: aliyun-ack, region: cn-hangzhou, endpoint: \"http://127.0.0.1:1\", "
     "credentials: { access_key_id: { env: NHT_SK }, access_key_secret: { env: NHT_AK } } }\n"
     "clusters:\n  - { name: x, provider: a1, id: c1 }\n  - { name: y, provider: a2, id: c1 }\n"
     "  - { name: z, provider: a2, id: c2 }\n  - { name: w, provider: a1, id: c1 }\n",
     0,
     "6:5: clusters[1]: the aliyun-ack cluster c1 (region cn-hangzhou) is declared 3 times: "
     "\"x\" at t.yaml:5:5, \"y\" at t.yaml:6:5, \"w\" at t.yaml:8:5; declare each cloud "
     "cluster once: two declarations would fight over it",
     1},
    {"same ModelArts pool twice", MA_AI "  - name: ai2\n    provider: ma\n    pool: pool-abc\n", 0,
     "11:5: clusters[1]: the huawei-modelarts resource pool pool-abc (project " PID0 ", region "
     "cn-north-7) is declared 2 times: \"ai\" at t.yaml:8:5, \"ai2\" at t.yaml:11:5; declare "
     "each cloud cluster once: two declarations would fight over it",
     1},
    {"provider name",
     "providers:\n  \"ack hz\":\n    kind: aliyun-ack\n    region: r\n"
     "    credentials: { access_key_id: { env: NHT_AK }, access_key_secret: "
     "{ env: NHT_SK } }\nclusters: []\n",
     0, "2:3: providers.ack hz: provider names are 1..63 letters, digits, \".\", \"_\" or \"-\"",
     1},
    {"unknown provider suggests",
     ACK_PROV "clusters:\n  - name: web\n    provider: akc\n    id: c1\n", 0,
     "10:5: clusters[0].provider: no provider named \"akc\"; did you mean \"ack\"?", 1},
    {"unknown provider", ACK_PROV "clusters:\n  - name: web\n    provider: zzzzzz\n    id: c1\n", 0,
     "10:5: clusters[0].provider: no provider named \"zzzzzz\"; define it under providers:", 1},
    {"min over max", ACK_WEB "    min: 5\n    max: 3\n", 0,
     "13:5: clusters[0].max: min 5 is greater than max 3; min must be <= max", 1},
    {"workers outside bounds", ACK_WEB "    workers: 9\n    max: 8\n", 0,
     "12:5: clusters[0].workers: 9 is outside min..max (0..8); change workers or the bounds", 1},
    {"pool nodes under min",
     ACK_WEB "    node_pools:\n      - name: np\n        nodes: 1\n        min: 2\n", 0,
     "14:9: clusters[0].node_pools[0].nodes: 1 is outside min..max (2..1000); change nodes or "
     "the bounds",
     1},
    {"prune without pools", ACK_WEB "    prune: true\n", 0,
     "12:5: clusters[0].prune: prune needs a node_pools list; an absent list would delete every "
     "pool",
     1},
    {"kind misspelt",
     "providers:\n  ack:\n    kind: aliyun\n    region: r\n"
     "    credentials: { access_key_id: { env: NHT_AK } }\nclusters: []\n",
     0,
     "3:5: providers.ack.kind: expected one of aliyun-ack, huawei-cce, huawei-modelarts, got "
     "\"aliyun\"",
     1},
    {"region uppercase",
     "providers:\n  ack:\n    kind: aliyun-ack\n    region: CN-Hangzhou\n"
     "    credentials: { access_key_id: { env: NHT_AK }, access_key_secret: "
     "{ env: NHT_SK } }\nclusters: []\n",
     0,
     "4:5: providers.ack.region: expected a region such as cn-hangzhou (lowercase letters, "
     "digits, \"-\"), got \"CN-Hangzhou\"",
     1},
    {"endpoint http remote", ACK_PROV_X("    endpoint: http://example.com\n"), 0,
     "5:5: providers.ack.endpoint: plain http:// is only allowed for 127.0.0.0/8, [::1] and "
     "localhost (test emulators); use https://",
     1},
    {"endpoint path", ACK_PROV_X("    endpoint: https://cs.example.com/v1\n"), 0,
     "5:5: providers.ack.endpoint: expected https://HOST[:PORT] with no path, user or query, got "
     "\"https://cs.example.com/v1\"",
     1},
    {"endpoint scheme", ACK_PROV_X("    endpoint: ftp://127.0.0.1\n"), 0,
     "5:5: providers.ack.endpoint: expected https://HOST[:PORT], got \"ftp://127.0.0.1\"", 1},
    {"ca_file relative", ACK_PROV_X("    ca_file: ca.pem\n"), 0,
     "5:5: providers.ack.ca_file: expected an absolute path, got \"ca.pem\"", 1},
    /* --- path-safe IDs --- */
    {"cluster id unsafe", ACK_PROV "clusters:\n  - name: web\n    provider: ack\n    id: c1/../x\n",
     0, "11:5: clusters[0].id: " PATHID_MSG ", got \"c1/../x\"", 1},
    {"pool name unsafe", ACK_WEB "    node_pools:\n      - name: \"a b\"\n", 0,
     "13:9: clusters[0].node_pools[0].name: " PATHID_MSG ", got \"a b\"", 1},
    {"pool id unsafe", ACK_WEB "    node_pools:\n      - name: np\n        id: \"np?x=1\"\n", 0,
     "14:9: clusters[0].node_pools[0].id: " PATHID_MSG ", got \"np?x=1\"", 1},
    {"project id unsafe",
     "providers:\n  cce:\n    kind: huawei-cce\n    region: cn-north-4\n"
     "    project_id: p?1\n"
     "    credentials: { ak: { env: NHT_AK }, sk: { env: NHT_SK } }\n"
     "clusters: []\n",
     0, "5:5: providers.cce.project_id: " PROJECT_MSG ", got \"p?1\"", 1},
    {"project id a name",
     "providers:\n  cce:\n    kind: huawei-cce\n    region: cn-north-4\n"
     "    project_id: my-project\n"
     "    credentials: { ak: { env: NHT_AK }, sk: { env: NHT_SK } }\n"
     "clusters: []\n",
     0, "5:5: providers.cce.project_id: " PROJECT_MSG ", got \"my-project\"", 1},
    {"project id 31 digits",
     "providers:\n  cce:\n    kind: huawei-cce\n    region: cn-north-4\n"
     "    project_id: 0123456789abcdef0123456789abcde\n"
     "    credentials: { ak: { env: NHT_AK }, sk: { env: NHT_SK } }\n"
     "clusters: []\n",
     0, "5:5: providers.cce.project_id: " PROJECT_MSG ", got \"0123456789abcdef0123456789abcde\"",
     1},
    {"project id uppercase",
     "providers:\n  cce:\n    kind: huawei-cce\n    region: cn-north-4\n"
     "    project_id: 0123456789ABCDEF0123456789ABCDEF\n"
     "    credentials: { ak: { env: NHT_AK }, sk: { env: NHT_SK } }\n"
     "clusters: []\n",
     0, "5:5: providers.cce.project_id: " PROJECT_MSG ", got \"0123456789ABCDEF0123456789ABCDEF\"",
     1},
    {"project id uuid with dashes",
     "providers:\n  cce:\n    kind: huawei-cce\n    region: cn-north-4\n"
     "    project_id: 01234567-89ab-cdef-0123-456789abcdef\n"
     "    credentials: { ak: { env: NHT_AK }, sk: { env: NHT_SK } }\n"
     "clusters: []\n",
     0,
     "5:5: providers.cce.project_id: " PROJECT_MSG ", got \"01234567-89ab-cdef-0123-456789abcdef\"",
     1},
    {"resource pool unsafe",
     "providers:\n  ma:\n    kind: huawei-modelarts\n    region: cn-north-7\n"
     "    project_id: 0123456789abcdef0123456789abcdef\n    credentials: { token: { env: NHT_AK } "
     "}\n"
     "clusters:\n  - name: ai\n    provider: ma\n    pool: pool%2F\n",
     0, "10:5: clusters[0].pool: " PATHID_MSG ", got \"pool%2F\"", 1},
    {"remove entry unsafe", ACK_WEB "    remove: [\"a/b\"]\n", 0,
     "12:14: clusters[0].remove[0]: " NODE_MSG ", got \"a/b\"", 1},
    /* --- kind-specific keys --- */
    {"project_id on ack", ACK_PROV_X("    project_id: 0123456789abcdef0123456789abcdef\n"), 0,
     "5:5: providers.ack.project_id: not supported by aliyun-ack providers (only huawei-cce, "
     "huawei-modelarts); remove it",
     1},
    {"project_id missing on cce",
     "providers:\n  cce:\n    kind: huawei-cce\n    region: cn-north-4\n"
     "    credentials: { ak: { env: NHT_AK }, sk: { env: NHT_SK } }\n"
     "clusters: []\n",
     0, "3:5: providers.cce: missing required key \"project_id\" (needed for huawei-cce)", 1},
    {"signing on cce",
     "providers:\n  cce:\n    kind: huawei-cce\n    region: cn-north-4\n"
     "    project_id: 0123456789abcdef0123456789abcdef\n    signing: roa\n"
     "    credentials: { ak: { env: NHT_AK }, sk: { env: NHT_SK } }\n"
     "clusters: []\n",
     0,
     "6:5: providers.cce.signing: not supported by huawei-cce providers (only aliyun-ack); "
     "remove it",
     1},
    {"huawei ak without sk",
     "providers:\n  cce:\n    kind: huawei-cce\n    region: cn-north-4\n"
     "    project_id: 0123456789abcdef0123456789abcdef\n    credentials: { ak: { env: NHT_AK } }\n"
     "clusters: []\n",
     0, "6:5: providers.cce.credentials: give ak and sk together, or token alone", 1},
    {"huawei token with ak",
     "providers:\n  cce:\n    kind: huawei-cce\n    region: cn-north-4\n"
     "    project_id: 0123456789abcdef0123456789abcdef\n"
     "    credentials: { ak: { env: NHT_AK }, sk: { env: NHT_SK }, token: "
     "{ env: NHT_AK } }\nclusters: []\n",
     0, "6:5: providers.cce.credentials: give ak and sk together, or token alone", 1},
    {"ack with huawei key",
     "providers:\n  ack:\n    kind: aliyun-ack\n    region: r\n"
     "    credentials:\n      ak: { env: NHT_AK }\n"
     "      access_key_id: { env: NHT_AK }\n"
     "      access_key_secret: { env: NHT_SK }\nclusters: []\n",
     0,
     "6:7: providers.ack.credentials.ak: not supported by aliyun-ack providers (only huawei-cce, "
     "huawei-modelarts); remove it",
     1},
    {"scale_out on cce", CCE_TRAIN "    scale_out: {}\n", 0,
     "11:5: clusters[0].scale_out: not supported by huawei-cce providers (only aliyun-ack); "
     "remove it",
     1},
    {"scale_out incomplete",
     ACK_WEB "    scale_out:\n      instance_type: ecs.t\n"
             "      system_disk: { category: c, size_gb: 40 }\n",
     0, "13:7: clusters[0].scale_out: missing required key \"login_password\"", 1},
    {"login on ack", ACK_WEB "    login: { ssh_key: k }\n", 0,
     "12:5: clusters[0].login: not supported by aliyun-ack providers (only huawei-cce); remove it",
     1},
    {"login both", CCE_TRAIN "    login: { ssh_key: k, password: { env: NHT_AK } }\n", 0,
     "11:5: clusters[0].login: give exactly one of ssh_key or password (with username, default "
     "root)",
     1},
    {"login neither", CCE_TRAIN "    login: { username: admin }\n", 0,
     "11:5: clusters[0].login: give exactly one of ssh_key or password (with username, default "
     "root)",
     1},
    {"workers on modelarts", MA_AI "    workers: 3\n", 0,
     "11:5: clusters[0].workers: not supported by huawei-modelarts providers (only aliyun-ack, "
     "huawei-cce); remove it",
     1},
    {"id on modelarts", MA_AI "    id: c9\n", 0,
     "11:5: clusters[0].id: not supported by huawei-modelarts providers (only aliyun-ack, "
     "huawei-cce); remove it",
     1},
    {"pool on ack", ACK_WEB "    pool: p\n", 0,
     "12:5: clusters[0].pool: not supported by aliyun-ack providers (only huawei-modelarts); "
     "remove it",
     1},
    {"flavor missing on modelarts", MA_AI "    node_pools:\n      - { name: np1, nodes: 1 }\n", 0,
     "12:9: clusters[0].node_pools[0]: missing required key \"flavor\" (needed for "
     "huawei-modelarts)",
     1},
    {"flavor on ack", ACK_WEB "    node_pools:\n      - { name: np, flavor: x }\n", 0,
     "13:21: clusters[0].node_pools[0].flavor: not supported by aliyun-ack providers (only "
     "huawei-modelarts); remove it",
     1},
    {"order repeated", ACK_WEB "    scale_in:\n      order: [newest, oldest, newest]\n", 0,
     "13:31: clusters[0].scale_in.order[2]: \"newest\" is listed twice; list each order once", 1},
    {"order unknown", ACK_WEB "    scale_in:\n      order: [biggest]\n", 0,
     "13:15: clusters[0].scale_in.order[0]: expected one of unhealthy, emptiest, newest, oldest, "
     "name, got \"biggest\"",
     1},
    {"label selector", ACK_WEB "    scale_in:\n      protect_labels: [\"=x\"]\n", 0,
     "13:24: clusters[0].scale_in.protect_labels[0]: expected a label selector \"key\" or "
     "\"key=value\" (Kubernetes label syntax), got \"=x\"",
     1},
    /* issue #19: labels need the cluster's Kubernetes API; no cluster has it yet */
    {"labels without kubernetes on ack", ACK_WEB "    scale_in:\n      protect_labels: [keep]\n", 0,
     "13:7: clusters[0].scale_in.protect_labels: labels cannot be read: the cluster has no "
     "Kubernetes access (ACK node lists carry no Kubernetes labels); add `kubernetes:` to the "
     "cluster so labels can be read, or protect by id/name with scale_in.protect",
     1},
    {"labels without kubernetes on cce",
     CCE_TRAIN "    scale_in:\n      protect_labels: [\"nodeherd.io/protect=true\"]\n", 0,
     "12:7: clusters[0].scale_in.protect_labels: labels cannot be read: the cluster has no "
     "Kubernetes access (CCE node lists carry no Kubernetes labels); add `kubernetes:` to the "
     "cluster so labels can be read, or protect by id/name with scale_in.protect",
     1},
    {"labels on modelarts", MA_AI "    scale_in:\n      protect_labels: [keep]\n", 0,
     "12:7: clusters[0].scale_in.protect_labels: labels cannot be read: ModelArts nodes carry "
     "only the service's own labels and have no Kubernetes API; protect by node name with "
     "scale_in.protect",
     1},
    {"drain on cce without kubernetes", CCE_TRAIN "    scale_in:\n      drain: true\n", 0,
     "12:7: clusters[0].scale_in.drain: CCE cannot drain a node and the cluster has no "
     "Kubernetes access: a drain needs the cluster's Kubernetes API (`kubernetes:` on the "
     "cluster, issue #20: Kubernetes-aware scale-in); set drain: false to remove nodes without "
     "draining",
     1},
    /* issue #20: the cluster's kubernetes: key */
    {"kubernetes on modelarts", MA_AI "    kubernetes:\n      kubeconfig: from-cloud\n", 0,
     "11:5: clusters[0].kubernetes: ModelArts has no Kubernetes API that its users can reach; "
     "remove kubernetes: (protect nodes by name with scale_in.protect)",
     1},
    {"kubernetes public on cce",
     CCE_TRAIN "    kubernetes:\n      kubeconfig: from-cloud\n      network: public\n", 0,
     "13:7: clusters[0].kubernetes.network: CCE's public (\"external\") kubeconfig context turns "
     "TLS verification off (insecure-skip-tls-verify); use network: private (the VPC address), "
     "or give a kubeconfig of your own as a secret",
     1},
    {"kubernetes network with a secret kubeconfig",
     ACK_WEB "    kubernetes: { kubeconfig: { env: NHT_KUBECONFIG }, network: private }\n", 0,
     "12:56: clusters[0].kubernetes.network: network chooses the address of a kubeconfig fetched "
     "from the cloud; a kubeconfig given as a secret names its own server: remove network, or "
     "use kubeconfig: from-cloud",
     1},
    {"kubernetes without kubeconfig", ACK_WEB "    kubernetes: { network: public }\n", 0,
     "12:17: clusters[0].kubernetes: missing required key \"kubeconfig\"", 1},
    {"kubernetes not a map", ACK_WEB "    kubernetes: true\n", 0,
     "12:5: clusters[0].kubernetes: expected a map with kubeconfig (from-cloud, or { file: NAME } "
     "/ { env: NAME }) and optionally network (private or public), request_timeout and "
     "ready_timeout (durations), got a string",
     1},
    {"kubeconfig pasted inline is not echoed",
     ACK_WEB "    kubernetes: { kubeconfig: \"apiVersion: v1 token: s3cr3t\" }\n", 0,
     "12:19: clusters[0].kubernetes.kubeconfig: expected from-cloud, or a secret reference { "
     "file: NAME } or { env: NAME } holding a kubeconfig, got another string (not repeated here)",
     1},
    {"kubeconfig with an exec plugin",
     ACK_WEB "    kubernetes: { kubeconfig: { env: NHT_KUBECONFIG_EXEC } }\n", 0,
     "12:19: clusters[0].kubernetes.kubeconfig: the kubeconfig in env NHT_KUBECONFIG_EXEC is "
     "refused: kubeconfig: users[0] (\"t\").user.exec: exec credential plugins are not supported "
     "(nodeherd runs no programs); use a kubeconfig with a token or client-certificate-data + "
     "client-key-data (for ACK and CCE clusters nodeherd fetches one from the cloud)",
     1},
    {"kubernetes network unknown",
     ACK_WEB "    kubernetes: { kubeconfig: from-cloud, network: vpc }\n", 0,
     "12:43: clusters[0].kubernetes.network: expected one of private, public, got \"vpc\"", 1},
    {"emptiest without kubernetes", ACK_WEB "    scale_in:\n      order: [emptiest, newest]\n", 0,
     "13:7: clusters[0].scale_in.order: emptiest counts the pods each node runs, which only the "
     "cluster's Kubernetes API can tell; add `kubernetes:` to the cluster, or remove emptiest",
     1},
    {"kubernetes request_timeout too long",
     ACK_WEB "    kubernetes: { kubeconfig: from-cloud, request_timeout: 1h }\n", 0,
     "12:43: clusters[0].kubernetes.request_timeout: expected a duration 1s..10m with a unit (ms, "
     "s, m, h; e.g. 30s, 1h30m), got \"1h\"",
     1},
    {"kubernetes request_timeout without a unit",
     ACK_WEB "    kubernetes: { kubeconfig: from-cloud, request_timeout: 30 }\n", 0,
     "12:43: clusters[0].kubernetes.request_timeout: expected a duration 1s..10m with a unit (ms, "
     "s, m, h; e.g. 30s, 1h30m), got \"30\"",
     1},
    {"kubernetes ready_timeout too short",
     ACK_WEB "    kubernetes:\n      kubeconfig: from-cloud\n      ready_timeout: 500ms\n", 0,
     "14:7: clusters[0].kubernetes.ready_timeout: expected a duration 1s..24h with a unit (ms, s, "
     "m, h; e.g. 30s, 1h30m), got \"500ms\"",
     1},
    {"kubernetes ready_timeout not a scalar",
     ACK_WEB "    kubernetes:\n      kubeconfig: from-cloud\n      ready_timeout: [15m]\n", 0,
     "14:7: clusters[0].kubernetes.ready_timeout: expected a duration 1s..24h with a unit (ms, s, "
     "m, h; e.g. 30s, 1h30m), got a list",
     1},
    {"drain_timeout too short", ACK_WEB "    scale_in:\n      drain_timeout: 1s\n", 0,
     "13:7: clusters[0].scale_in.drain_timeout: expected a duration 10s..24h with a unit (ms, s, "
     "m, h; e.g. 30s, 1h30m), got \"1s\"",
     1},
    /* --- secrets --- */
    {"inline secret",
     "providers:\n  ack:\n    kind: aliyun-ack\n    region: r\n"
     "    credentials:\n      access_key_id: s3cr3t-inline\n"
     "      access_key_secret: { env: NHT_SK }\nclusters: []\n",
     0,
     "6:7: providers.ack.credentials.access_key_id: inline secrets are not allowed; use { file: "
     "NAME } (see LoadCredential=) or { env: NAME }",
     1},
    {"secret env unset",
     "providers:\n  ack:\n    kind: aliyun-ack\n    region: r\n"
     "    credentials:\n      access_key_id: { env: NHT_UNSET }\n"
     "      access_key_secret: { env: NHT_SK }\nclusters: []\n",
     0,
     "6:24: providers.ack.credentials.access_key_id: environment variable NHT_UNSET is not set; "
     "set it for the service or use { file: NAME }",
     1},
    {"secret unknown source",
     "providers:\n  ack:\n    kind: aliyun-ack\n    region: r\n"
     "    credentials:\n      access_key_id: { path: x }\n"
     "      access_key_secret: { env: NHT_SK }\nclusters: []\n",
     0,
     "6:24: providers.ack.credentials.access_key_id: unknown secret source; expected { file: NAME "
     "} or { env: NAME }",
     1},
    {"secret missing",
     ACK_WEB "    scale_out:\n      instance_type: ecs.t\n"
             "      system_disk: { category: c, size_gb: 40 }\n"
             "      login_password:\n",
     0,
     "15:7: clusters[0].scale_out.login_password: expected a secret reference { file: NAME } or "
     "{ env: NAME }, got nothing",
     1},
    /* --- the document itself --- */
    {"empty", "", 0, "0:0: empty configuration; it needs at least providers: and clusters:", 1},
    {"only comments", "# nothing here\n\n", 0,
     "0:0: empty configuration; it needs at least providers: and clusters:", 1},
    {"two documents", EMPTY_FLEET "---\nx: 1\n", 0,
     "3:1: more than one document (---); put the whole configuration in one", 1},
    {"invalid UTF-8", EMPTY_FLEET "revision: \xff\n", 0,
     "3:11: invalid leading UTF-8 octet; the file must be UTF-8 text (byte offset 37)", 1},
    {"anchor", "providers: &p {}\nclusters: []\n", 0,
     "1:12: anchors are not supported; repeat the value", 1},
    {"alias", "providers: {}\nclusters: *c\n", 0,
     "2:11: aliases are not supported; repeat the value", 1},
    {"tag", "providers: !!map {}\nclusters: []\n", 0,
     "1:12: tags are not supported; remove the \"!\" tag", 1},
    {"nesting bomb",
     "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n", 0,
     "1:33: nested deeper than 32 levels; flatten the document", 1},
    {"NUL in a value", "revision: \"a\\0b\"\n" EMPTY_FLEET, 0,
     "1:11: NUL characters are not allowed in values", 1},
    {"complex key", "? [a]\n: b\n", 0, "1:3: a key must be a plain string, not a map or list", 1},
    {"syntax error", "providers: {\nclusters: []\n", 0,
     "3:1: YAML syntax: did not find expected ',' or '}' while parsing a flow mapping (line 1)", 1},
    {"tab indentation", "providers:\n\tack: {}\nclusters: []\n", 0,
     "2:1: YAML syntax: found character that cannot start any token while scanning for the next "
     "token (line 2)",
     1},
    {"embedded NUL byte", "providers: {}\x00\nclusters: []\n", 27,
     "1:14: control characters are not allowed; the file must be UTF-8 text (byte offset 13)", 1},
};

static int setup(void **state)
{
    (void)state;
    setenv("NHT_AK", "test-ak-value", 1);
    setenv("NHT_SK", "test-sk-value", 1);
    setenv("NHT_KUBECONFIG", KUBECONFIG_OK, 1);
    setenv("NHT_KUBECONFIG_EXEC", KUBECONFIG_EXEC, 1);
    nh_config_set_kubeconfig_check(nh_kubeconfig_check);
    unsetenv("NHT_UNSET");
    unsetenv("CREDENTIALS_DIRECTORY");
    return 0;
}

static const struct nh_diag_entry *first_error(const struct nh_diag *d)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->entries[i].severity == NH_DIAG_ERROR)
            return &d->entries[i];
    return NULL;
}

static void test_config_invalid_table_first_error_and_count(void **state)
{
    (void)state;
    size_t checked = 0, failed = 0;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const struct bad_case *c = &bad[i];
        if (c->first == NULL)
            continue;
        struct nh_config *cfg = (struct nh_config *)&checked; /* must be reset to NULL */
        struct nh_diag d;
        nh_diag_init(&d);
        size_t len = c->len ? c->len : strlen(c->yaml);
        int r = nh_config_load_buffer("t.yaml", c->yaml, len, &cfg, &d);
        const struct nh_diag_entry *e = first_error(&d);
        char got[1200] = "(no error)";
        if (e != NULL)
            snprintf(got, sizeof(got), "%d:%d: %s", e->line, e->col, e->msg);
        if (r >= 0 || cfg != NULL || strcmp(got, c->first) != 0 || d.n_errors != c->errors) {
            print_error("case \"%s\": r=%d errors=%zu (want %zu)\n  got:  %s\n  want: %s\n",
                        c->name, r, d.n_errors, c->errors, got, c->first);
            nh_diag_print(&d, stderr);
            failed++;
        } else if (strcmp(e->file, "t.yaml") != 0) {
            failed++;
        }
        nh_config_unref(cfg == (struct nh_config *)&checked ? NULL : cfg);
        nh_diag_free(&d);
        checked++;
    }
    assert_int_equal(failed, 0);
    assert_true(checked >= 40);
}

/* Errors are collected, not stopped at: each of these is reported. */
static void test_config_reports_every_problem(void **state)
{
    (void)state;
    const char *y = "daemon:\n  dry_run: maybe\n  listen: nowhere\n" ACK_PROV
                    "clusters:\n  - name: web\n    provider: ack\n    id: c1\n"
                    "    workers: 500\n    prune: true\n";
    struct nh_config *cfg = NULL;
    struct nh_diag d;
    nh_diag_init(&d);
    assert_int_equal(nh_config_load_buffer("m.yaml", y, strlen(y), &cfg, &d), -EINVAL);
    assert_null(cfg);
    assert_int_equal(d.n_errors, 4);
    assert_int_equal(d.n, 4);
    /* sorted by position */
    assert_int_equal(d.entries[0].line, 2);
    assert_int_equal(d.entries[1].line, 3);
    assert_int_equal(d.entries[2].line, 15);
    assert_int_equal(d.entries[3].line, 16);
    assert_non_null(strstr(d.entries[3].msg, "prune needs a node_pools list"));
    nh_diag_free(&d);
}

static void test_config_diag_cap(void **state)
{
    (void)state;
    char *y = malloc(8192);
    assert_non_null(y);
    size_t o = (size_t)sprintf(y, "daemon:\n");
    for (int i = 0; i < 60; i++)
        o += (size_t)sprintf(y + o, "  zz%02d: 1\n", i);
    sprintf(y + o, EMPTY_FLEET);
    struct nh_config *cfg = NULL;
    struct nh_diag d;
    nh_diag_init(&d);
    assert_int_equal(nh_config_load_buffer("cap.yaml", y, strlen(y), &cfg, &d), -EINVAL);
    assert_int_equal(d.n_errors, 60);
    assert_int_equal(d.n, NH_DIAG_MAX);
    assert_int_equal(d.dropped, 60 - NH_DIAG_MAX);
    char *buf = NULL;
    size_t blen = 0;
    FILE *f = open_memstream(&buf, &blen);
    nh_diag_print(&d, f);
    fclose(f);
    assert_non_null(strstr(buf, "cap.yaml:2:3: daemon.zz00: unknown key; expected one of"));
    assert_non_null(strstr(buf, "cap.yaml: 10 more problems not shown (at most 50 are listed)"));
    free(buf);
    nh_diag_free(&d);
    free(y);
}

/* No value given where a secret belongs may show up in any message. */
static void test_config_secrets_never_echoed(void **state)
{
    (void)state;
    const char *y =
        "providers:\n"
        "  ack:\n    kind: aliyun-ack\n    region: r\n"
        "    credentials:\n      access_key_id: s3cr3t-inline\n"
        "      access_key_secret: \"s3cr3t-inline\"\n"
        "  cce:\n    kind: huawei-cce\n    region: r\n    project_id: "
        "0123456789abcdef0123456789abcdef\n"
        "    credentials:\n      ak: { s3cr3t-inline: x }\n"
        "      sk: { env: \"s3cr3t-inline\" }\n"
        "      token: [s3cr3t-inline]\n"
        "clusters:\n  - name: c\n    provider: cce\n    id: x\n"
        "    login: { password: s3cr3t-inline }\n"
        "  - name: w\n    provider: ack\n    id: y\n"
        "    scale_out: { instance_type: t, system_disk: { category: c, size_gb: 40 },\n"
        "                 login_password: s3cr3t-inline }\n";
    struct nh_config *cfg = NULL;
    struct nh_diag d;
    nh_diag_init(&d);
    assert_int_equal(nh_config_load_buffer("s.yaml", y, strlen(y), &cfg, &d), -EINVAL);
    assert_true(d.n_errors >= 6);
    for (size_t i = 0; i < d.n; i++)
        assert_null(strstr(d.entries[i].msg, "s3cr3t"));
    char *buf = NULL;
    size_t blen = 0;
    FILE *f = open_memstream(&buf, &blen);
    nh_diag_print(&d, f);
    fclose(f);
    assert_null(strstr(buf, "s3cr3t"));
    assert_non_null(strstr(buf, "inline secrets are not allowed"));
    free(buf);
    nh_diag_free(&d);
}

static struct nh_config *load_ok(const char *y)
{
    struct nh_config *cfg = NULL;
    struct nh_diag d;
    nh_diag_init(&d);
    int r = nh_config_load_buffer("ok.yaml", y, strlen(y), &cfg, &d);
    if (r < 0)
        nh_diag_print(&d, stderr);
    assert_int_equal(r, 0);
    assert_int_equal(d.n_errors, 0);
    nh_diag_free(&d);
    assert_non_null(cfg);
    assert_int_equal(cfg->refs, 1);
    return cfg;
}

/* The same id in another project or of another kind is another resource:
 * accepted; the target order is total and consistent. An ACK cluster id is
 * one cluster whatever the region the provider says (ids are UUIDs). */
static void test_config_same_id_elsewhere_is_another_cluster(void **state)
{
    (void)state;
    const char *y =
        "providers:\n"
        "  hz: { kind: aliyun-ack, region: cn-hangzhou, credentials: { access_key_id: { env: "
        "NHT_AK }, access_key_secret: { env: NHT_SK } } }\n"
        "  sh: { kind: aliyun-ack, region: cn-shanghai, credentials: { access_key_id: { env: "
        "NHT_AK }, access_key_secret: { env: NHT_SK } } }\n"
        "  c1: { kind: huawei-cce, region: cn-north-4, project_id: " PID1
        ", credentials: { token: { "
        "env: NHT_AK } } }\n"
        "  c2: { kind: huawei-cce, region: cn-north-4, project_id: " PID2
        ", credentials: { token: { "
        "env: NHT_AK } } }\n"
        "  m1: { kind: huawei-modelarts, region: cn-north-4, project_id: " PID1 ", credentials: { "
        "token: { env: NHT_AK } } }\n"
        "clusters:\n"
        "  - { name: a, provider: hz, id: same }\n"
        "  - { name: b, provider: sh, id: other }\n"
        "  - { name: c, provider: c1, id: same }\n"
        "  - { name: d, provider: c2, id: same }\n"
        "  - { name: e, provider: m1, pool: same }\n";
    struct nh_config *c = load_ok(y);
    char buf[256];
    assert_int_equal(c->n_clusters, 5);
    for (size_t i = 0; i < 5; i++)
        for (size_t j = 0; j < 5; j++) {
            int r = nh_cfg_target_cmp(&c->clusters[i], &c->clusters[j]);
            int rr = nh_cfg_target_cmp(&c->clusters[j], &c->clusters[i]);
            assert_true(i == j ? r == 0 : r != 0);
            assert_true((r > 0) == (rr < 0));
        }
    assert_string_equal(nh_cfg_target_describe(&c->clusters[3], buf, sizeof(buf)),
                        "the huawei-cce cluster same (project " PID2 ", region cn-north-4)");
    nh_config_unref(c);

    struct nh_diag d;
    const char *two_regions = "providers:\n"
                              "  hz: { kind: aliyun-ack, region: cn-hangzhou, credentials: { "
                              "access_key_id: { env: NHT_AK }, access_key_secret: { env: NHT_SK "
                              "} } }\n"
                              "  sh: { kind: aliyun-ack, region: cn-shanghai, credentials: { "
                              "access_key_id: { env: NHT_AK }, access_key_secret: { env: NHT_SK "
                              "} } }\n"
                              "clusters:\n"
                              "  - { name: a, provider: hz, id: same }\n"
                              "  - { name: b, provider: sh, id: same }\n";
    nh_diag_init(&d);
    c = NULL;
    assert_true(nh_config_load_buffer("r.yaml", two_regions, strlen(two_regions), &c, &d) < 0);
    assert_null(c);
    assert_int_equal(d.n_errors, 1);
    assert_non_null(strstr(d.entries[0].msg, "is declared 2 times"));
    nh_diag_free(&d);
}

/* Loads read only the secrets their caller needs (issue 17): plan reads
 * the provider credentials and never the write-only secrets; check
 * --offline reads none, but still checks every reference's form. */
static void test_config_secrets_by_purpose(void **state)
{
    (void)state;
    const char *y = ACK_PROV "  cce:\n    kind: huawei-cce\n    region: cn-north-4\n"
                             "    project_id: " PID1 "\n"
                             "    credentials: { token: { env: NHT_AK } }\n"
                             "clusters:\n"
                             "  - name: web\n    provider: ack\n    id: c1\n"
                             "    scale_out:\n      instance_type: t\n"
                             "      system_disk: { category: c, size_gb: 40 }\n"
                             "      login_password: { env: NHT_UNSET }\n"
                             "  - name: train\n    provider: cce\n    id: c2\n"
                             "    login: { password: { file: /nonexistent/nodeherd-test-pw } }\n";
    struct nh_load_opts read_only = {.secrets = NH_USE_CLOUD_READ};
    struct nh_load_opts offline = {.secrets = NH_SECRETS_NONE};
    struct nh_config *c = NULL;
    struct nh_diag d;

    /* the daemon needs every secret: both write-only ones are missing */
    nh_diag_init(&d);
    assert_true(nh_config_load_buffer("s.yaml", y, strlen(y), &c, &d) < 0);
    assert_int_equal(d.n_errors, 2);
    nh_diag_free(&d);

    /* plan: the credentials are read, the write-only secrets are not */
    nh_diag_init(&d);
    assert_int_equal(nh_config_load_buffer_with("s.yaml", y, strlen(y), &read_only, &c, &d), 0);
    assert_int_equal(d.n_errors, 0);
    assert_int_equal(c->secrets, NH_USE_CLOUD_READ);
    assert_non_null(nh_config_provider(c, "ack")->access_key_secret);
    assert_non_null(nh_config_provider(c, "cce")->token);
    assert_null(nh_config_cluster(c, "web")->scale_out.login_password);
    assert_true(nh_config_cluster(c, "web")->has_scale_out);
    assert_null(nh_config_cluster(c, "train")->login.password);
    nh_config_unref(c);
    nh_diag_free(&d);

    /* check --offline: nothing is read, even credentials that are missing */
    unsetenv("NHT_AK");
    nh_diag_init(&d);
    assert_int_equal(nh_config_load_buffer_with("s.yaml", y, strlen(y), &offline, &c, &d), 0);
    assert_null(nh_config_provider(c, "ack")->access_key_id);
    assert_null(nh_config_provider(c, "cce")->token);
    nh_config_unref(c);
    nh_diag_free(&d);
    setenv("NHT_AK", "test-ak-value", 1);

    /* ... but a malformed reference is still an error, offline too */
    const char *malformed = ACK_WEB "    scale_out:\n      instance_type: t\n"
                                    "      system_disk: { category: c, size_gb: 40 }\n"
                                    "      login_password: { env: \"not a name\" }\n";
    nh_diag_init(&d);
    assert_true(
        nh_config_load_buffer_with("b.yaml", malformed, strlen(malformed), &offline, &c, &d) < 0);
    assert_null(c);
    assert_int_equal(d.n_errors, 1);
    assert_string_equal(d.entries[0].msg,
                        "clusters[0].scale_out.login_password: { env: ... } does not name a valid "
                        "environment variable (letters, digits, _)");
    nh_diag_free(&d);
}

static void test_config_defaults(void **state)
{
    (void)state;
    struct nh_config *c = load_ok(ACK_WEB);
    assert_int_equal(c->daemon.poll_interval_ms, 30000);
    assert_int_equal(c->daemon.job_poll_interval_ms, 5000);
    assert_int_equal(c->daemon.job_timeout_ms, 30 * 60000);
    assert_string_equal(c->daemon.state_dir, "/var/lib/nodeherd");
    assert_string_equal(c->daemon.listen, "127.0.0.1:9464");
    assert_false(c->daemon.dry_run);
    assert_true(c->daemon.max_removal_share > 0.4999 && c->daemon.max_removal_share < 0.5001);
    assert_int_equal(c->daemon.log_level, LOG_INFO);

    assert_int_equal(c->n_providers, 1);
    const struct nh_cfg_provider *p = nh_config_provider(c, "ack");
    assert_non_null(p);
    assert_int_equal(p->kind, NH_PROVIDER_ACK);
    assert_string_equal(p->region, "cn-hangzhou");
    assert_null(p->endpoint);
    assert_null(p->project_id);
    assert_int_equal(p->signing, NH_SIGN_ACS3);
    assert_true(p->qps > 1.999 && p->qps < 2.001);
    assert_int_equal(p->burst, 4);
    assert_int_equal(p->timeout_ms, 30000);
    assert_int_equal(p->connect_timeout_ms, 5000);
    assert_null(p->ca_file);
    assert_null(p->token);
    size_t len;
    assert_memory_equal(nh_secret_bytes(p->access_key_id, &len), "test-ak-value", 13);
    assert_string_equal(nh_secret_describe(p->access_key_secret), "env NHT_SK");
    assert_int_equal(p->line, 2);
    assert_int_equal(p->col, 3);

    assert_int_equal(c->n_clusters, 1);
    const struct nh_cfg_cluster *cl = nh_config_cluster(c, "web");
    assert_non_null(cl);
    assert_ptr_equal(cl->provider, p);
    assert_string_equal(cl->provider_name, "ack");
    assert_string_equal(cl->id, "c1");
    assert_null(cl->pool);
    assert_false(cl->suspend);
    assert_int_equal(cl->workers, -1);
    assert_int_equal(cl->min, 0);
    assert_int_equal(cl->max, 300);
    assert_false(cl->has_scale_out);
    assert_false(cl->has_login);
    assert_true(cl->scale_in.release_instances);
    assert_true(cl->scale_in.drain); /* ACK drains itself (drain_node) */
    assert_int_equal(cl->scale_in.n_order, 2);
    assert_int_equal(cl->scale_in.order[0], NH_ORDER_UNHEALTHY);
    assert_int_equal(cl->scale_in.order[1], NH_ORDER_NEWEST);
    assert_int_equal(cl->scale_in.n_protect, 0);
    /* no Kubernetes access (no cluster has it yet): labels cannot be seen,
     * so the default nodeherd.io/protect=true does not apply (issue #19) */
    assert_false(cl->kube_access);
    assert_int_equal(cl->scale_in.n_protect_labels, 0);
    assert_int_equal(cl->scale_in.max_per_cycle, 1);
    assert_int_equal(cl->n_remove, 0);
    assert_false(cl->pools_declared);
    assert_int_equal(cl->n_pools, 0);
    assert_false(cl->prune);
    assert_false(cl->confirm_mass_removal);
    assert_int_equal(cl->poll_interval_ms, 0);
    assert_int_equal(cl->line, 9);
    assert_int_equal(cl->col, 5);
    assert_null(nh_config_cluster(c, "nope"));
    assert_null(nh_config_provider(c, "nope"));
    assert_non_null(strstr(c->revision, "sha256:"));
    assert_int_equal(strlen(c->revision), 7 + 16);
    assert_string_equal(c->path, "ok.yaml");

    /* refcounting: the extra reference keeps it alive */
    assert_ptr_equal(nh_config_ref(c), c);
    assert_int_equal(c->refs, 2);
    nh_config_unref(c);
    assert_int_equal(c->refs, 1);
    assert_string_equal(c->clusters[0].name, "web");
    nh_config_unref(c);
    nh_config_unref(NULL);
}

static void test_config_every_key_parsed(void **state)
{
    (void)state;
    const char *y =
        "revision: release-42\n"
        "daemon:\n"
        "  poll_interval: 1m30s\n  job_poll_interval: 250ms\n  job_timeout: 2h\n"
        "  state_dir: /srv/nh\n  listen: \"[::1]:9000\"\n  dry_run: true\n"
        "  max_removal_share: 0.25\n  log_level: debug\n"
        "providers:\n"
        "  ack-hz:\n    kind: aliyun-ack\n    region: cn-hangzhou\n"
        "    endpoint: http://127.0.0.1:8790/\n    signing: roa\n"
        "    credentials: { access_key_id: { env: NHT_AK }, access_key_secret: { env: NHT_SK } }\n"
        "    rate_limit: { qps: 0.5, burst: 1 }\n    timeout: 10m\n    connect_timeout: 100ms\n"
        "    ca_file: /etc/ssl/ca.pem\n"
        "  cce:\n    kind: huawei-cce\n    region: cn-north-4\n    project_id: "
        "0123456789abcdef0123456789abcdef\n"
        "    endpoint: https://cce-vpc.cn-north-4.MyHuaweiCloud.com:8443\n"
        "    credentials: { token: { env: NHT_AK } }\n"
        "  ma:\n    kind: huawei-modelarts\n    region: cn-north-7\n    project_id: "
        "0123456789abcdef0123456789abcdef\n"
        "    credentials: { ak: { env: NHT_AK }, sk: { env: NHT_SK } }\n"
        "clusters:\n"
        "  - name: web\n    provider: ack-hz\n    id: c8f2\n    workers: 8\n    min: 2\n"
        "    max: 20\n    poll_interval: 1h\n"
        "    scale_out:\n      instance_type: ecs.sn1ne.large\n"
        "      system_disk: { category: cloud_efficiency, size_gb: 40 }\n"
        "      login_password: { env: NHT_SK }\n      timeout_mins: 30\n"
        "      disable_rollback: false\n"
        "    scale_in:\n      release_instances: false\n      drain: false\n"
        "      order: [oldest, name, unhealthy, newest]\n      protect: [i-bp1keep0001, node.a]\n"
        "      protect_labels: []\n      max_per_cycle: 200\n"
        "    remove: [uid-a, uid-b]\n    confirm_mass_removal: true\n"
        "  - name: train\n    provider: cce\n    id: 6f1c-1\n    workers: 2000\n"
        "    login: { username: admin, password: { env: NHT_AK } }\n"
        "    node_pools:\n      - { name: gpu-a, id: np4b, nodes: 6, min: 2, max: 12,"
        " manage_autoscaling: true }\n"
        "      - { name: cpu }\n"
        "  - name: ai\n    provider: ma\n    pool: pool-abc\n    prune: true\n"
        "    node_pools:\n      - { name: nodepool-1, flavor: modelarts.vm.2u4g.dcc, nodes: 1000 "
        "}\n"
        "  - name: empty\n    provider: ack-hz\n    id: c0\n    node_pools: []\n"
        "    suspend: true\n";
    struct nh_config *c = load_ok(y);
    assert_true(nh_config_cluster(c, "empty")->suspend);
    assert_false(nh_config_cluster(c, "web")->suspend);
    assert_string_equal(c->revision, "release-42"); /* the key wins over git/sha256 */
    assert_int_equal(c->daemon.poll_interval_ms, 90000);
    assert_int_equal(c->daemon.job_poll_interval_ms, 250);
    assert_int_equal(c->daemon.job_timeout_ms, 7200000);
    assert_string_equal(c->daemon.state_dir, "/srv/nh");
    assert_string_equal(c->daemon.listen, "[::1]:9000");
    assert_true(c->daemon.dry_run);
    assert_true(c->daemon.max_removal_share > 0.2499 && c->daemon.max_removal_share < 0.2501);
    assert_int_equal(c->daemon.log_level, LOG_DEBUG);

    const struct nh_cfg_provider *a = nh_config_provider(c, "ack-hz");
    assert_string_equal(a->endpoint, "http://127.0.0.1:8790"); /* trailing / dropped */
    assert_int_equal(a->signing, NH_SIGN_ROA);
    assert_true(a->qps > 0.499 && a->qps < 0.501);
    assert_int_equal(a->burst, 1);
    assert_int_equal(a->timeout_ms, 600000);
    assert_int_equal(a->connect_timeout_ms, 100);
    assert_string_equal(a->ca_file, "/etc/ssl/ca.pem");
    const struct nh_cfg_provider *h = nh_config_provider(c, "cce");
    assert_int_equal(h->kind, NH_PROVIDER_CCE);
    assert_string_equal(h->project_id, "0123456789abcdef0123456789abcdef");
    assert_string_equal(h->endpoint, "https://cce-vpc.cn-north-4.MyHuaweiCloud.com:8443");
    assert_null(h->access_key_id);
    assert_null(h->access_key_secret);
    assert_string_equal(nh_secret_describe(h->token), "env NHT_AK");
    const struct nh_cfg_provider *m = nh_config_provider(c, "ma");
    assert_int_equal(m->kind, NH_PROVIDER_MODELARTS);
    assert_string_equal(nh_secret_describe(m->access_key_id), "env NHT_AK");
    assert_string_equal(nh_secret_describe(m->access_key_secret), "env NHT_SK");

    const struct nh_cfg_cluster *w = nh_config_cluster(c, "web");
    assert_int_equal(w->workers, 8);
    assert_int_equal(w->min, 2);
    assert_int_equal(w->max, 20);
    assert_int_equal(w->poll_interval_ms, 3600000);
    assert_true(w->has_scale_out);
    assert_string_equal(w->scale_out.instance_type, "ecs.sn1ne.large");
    assert_string_equal(w->scale_out.system_disk_category, "cloud_efficiency");
    assert_int_equal(w->scale_out.system_disk_size_gb, 40);
    assert_string_equal(nh_secret_describe(w->scale_out.login_password), "env NHT_SK");
    assert_int_equal(w->scale_out.timeout_mins, 30);
    assert_false(w->scale_out.disable_rollback);
    assert_false(w->scale_in.release_instances);
    assert_false(w->scale_in.drain);
    assert_int_equal(w->scale_in.n_order, 4);
    assert_int_equal(w->scale_in.order[0], NH_ORDER_OLDEST);
    assert_int_equal(w->scale_in.order[1], NH_ORDER_NAME);
    assert_int_equal(w->scale_in.order[3], NH_ORDER_NEWEST);
    assert_int_equal(w->scale_in.n_protect, 2);
    assert_string_equal(w->scale_in.protect[1], "node.a");
    assert_int_equal(w->scale_in.n_protect_labels, 0); /* an explicit empty list is fine */
    assert_true(w->scale_in.protect_labels_given);
    assert_int_equal(w->scale_in.max_per_cycle, 200);
    assert_int_equal(w->n_remove, 2);
    assert_string_equal(w->remove[0], "uid-a");
    assert_true(w->confirm_mass_removal);

    const struct nh_cfg_cluster *t = nh_config_cluster(c, "train");
    assert_int_equal(t->workers, 2000);
    assert_int_equal(t->max, 2000);
    assert_true(t->has_login);
    assert_null(t->login.ssh_key);
    assert_string_equal(t->login.username, "admin");
    assert_string_equal(nh_secret_describe(t->login.password), "env NHT_AK");
    assert_true(t->pools_declared);
    assert_int_equal(t->n_pools, 2);
    assert_string_equal(t->pools[0].name, "gpu-a");
    assert_string_equal(t->pools[0].id, "np4b");
    assert_int_equal(t->pools[0].nodes, 6);
    assert_int_equal(t->pools[0].min, 2);
    assert_int_equal(t->pools[0].max, 12);
    assert_true(t->pools[0].manage_autoscaling);
    assert_null(t->pools[1].id);
    assert_int_equal(t->pools[1].nodes, -1); /* observe only */
    assert_int_equal(t->pools[1].min, 0);
    assert_int_equal(t->pools[1].max, 2000); /* CCE maximum */
    assert_false(t->pools[1].manage_autoscaling);

    const struct nh_cfg_cluster *ai = nh_config_cluster(c, "ai");
    assert_null(ai->id);
    assert_string_equal(ai->pool, "pool-abc");
    assert_int_equal(ai->workers, -1);
    assert_true(ai->prune);
    assert_string_equal(ai->pools[0].flavor, "modelarts.vm.2u4g.dcc");
    assert_int_equal(ai->pools[0].nodes, 1000);
    assert_int_equal(ai->pools[0].max, 1000);

    const struct nh_cfg_cluster *e = nh_config_cluster(c, "empty");
    assert_true(e->pools_declared);
    assert_int_equal(e->n_pools, 0);
    nh_config_unref(c);
}

/* What only the cluster's Kubernetes API can tell (issue #19): without
 * access, no default protect label and no drain where the cloud does not
 * drain itself; CCE's release_instances picks DeleteNode or RemoveNode. */
static void test_config_kubernetes_facts_by_kind(void **state)
{
    (void)state;
    struct nh_config *c = load_ok(CCE_TRAIN);
    const struct nh_cfg_cluster *t = nh_config_cluster(c, "train");
    assert_false(t->kube_access);
    assert_false(t->scale_in.drain); /* CCE cannot drain: default false */
    assert_true(t->scale_in.release_instances);
    assert_int_equal(t->scale_in.n_protect_labels, 0);
    nh_config_unref(c);

    c = load_ok(CCE_TRAIN "    scale_in: { drain: false, release_instances: false }\n");
    t = nh_config_cluster(c, "train");
    assert_false(t->scale_in.drain);
    assert_false(t->scale_in.release_instances);
    nh_config_unref(c);

    c = load_ok(MA_AI);
    t = nh_config_cluster(c, "ai");
    assert_false(t->scale_in.drain);
    assert_int_equal(t->scale_in.n_protect_labels, 0);
    nh_config_unref(c);

    c = load_ok(ACK_WEB "    scale_in: { drain: false, protect: [i-keep] }\n");
    t = nh_config_cluster(c, "web");
    assert_false(t->scale_in.drain);
    assert_int_equal(t->scale_in.n_protect, 1);
    nh_config_unref(c);
}

/* issue #20: with kubernetes: the cluster's labels, pods and drains are
 * nodeherd's to read and do, on ACK and on CCE alike. */
static void test_config_kubernetes_access(void **state)
{
    (void)state;
    struct nh_config *c = load_ok(ACK_WEB "    kubernetes:\n      kubeconfig: from-cloud\n");
    const struct nh_cfg_cluster *t = nh_config_cluster(c, "web");
    assert_true(t->kube_access);
    assert_true(t->kube.from_cloud);
    assert_null(t->kube.kubeconfig);
    assert_int_equal(t->kube.network, NH_KUBE_NETWORK_PRIVATE);
    assert_int_equal(t->kube.request_timeout_ms, 30000); /* the defaults of before */
    assert_int_equal(t->kube.ready_timeout_ms, 15 * 60000);
    assert_true(t->scale_in.drain);
    assert_int_equal(t->scale_in.drain_timeout_ms, 600000);
    assert_int_equal(t->scale_in.n_order, 3);
    assert_int_equal(t->scale_in.order[0], NH_ORDER_UNHEALTHY);
    assert_int_equal(t->scale_in.order[1], NH_ORDER_EMPTIEST);
    assert_int_equal(t->scale_in.order[2], NH_ORDER_NEWEST);
    assert_int_equal(t->scale_in.n_protect_labels, 1); /* the default applies: labels are read */
    assert_string_equal(t->scale_in.protect_labels[0].key, "nodeherd.io/protect");
    nh_config_unref(c);

    /* CCE: drain is honoured with Kubernetes access (default true). */
    c = load_ok(CCE_TRAIN "    kubernetes: { kubeconfig: from-cloud, network: private,\n"
                          "                  request_timeout: 5s, ready_timeout: 1h30m }\n"
                          "    scale_in:\n      drain_timeout: 90s\n      order: [oldest]\n"
                          "      protect_labels: [keep]\n");
    t = nh_config_cluster(c, "train");
    assert_true(t->kube_access);
    assert_int_equal(t->kube.request_timeout_ms, 5000);
    assert_int_equal(t->kube.ready_timeout_ms, 90 * 60000);
    assert_true(t->scale_in.drain);
    assert_int_equal(t->scale_in.drain_timeout_ms, 90000);
    assert_int_equal(t->scale_in.n_order, 1); /* an explicit order stays as written */
    assert_int_equal(t->scale_in.order[0], NH_ORDER_OLDEST);
    assert_int_equal(t->scale_in.n_protect_labels, 1);
    assert_string_equal(t->scale_in.protect_labels[0].key, "keep");
    nh_config_unref(c);

    /* ACK public address; a secret kubeconfig, checked and kept as a secret. */
    c = load_ok(ACK_WEB "    kubernetes: { kubeconfig: from-cloud, network: public }\n"
                        "    scale_in: { drain: false, order: [emptiest, name, unhealthy, oldest, "
                        "newest] }\n"
                        "  - name: web2\n    provider: ack\n    id: c2\n"
                        "    kubernetes: { kubeconfig: { env: NHT_KUBECONFIG } }\n");
    t = nh_config_cluster(c, "web");
    assert_int_equal(t->kube.network, NH_KUBE_NETWORK_PUBLIC);
    assert_false(t->scale_in.drain);
    assert_int_equal(t->scale_in.n_order, 5);
    assert_int_equal(t->scale_in.order[0], NH_ORDER_EMPTIEST);
    t = nh_config_cluster(c, "web2");
    assert_true(t->kube_access);
    assert_false(t->kube.from_cloud);
    assert_non_null(t->kube.kubeconfig);
    assert_string_equal(nh_secret_describe(t->kube.kubeconfig), "env NHT_KUBECONFIG");
    nh_config_unref(c);
}

static void test_config_values_at_the_edges(void **state)
{
    (void)state;
    struct nh_config *c = load_ok("daemon:\n  listen: \"\"\n  max_removal_share: 100%\n"
                                  "  poll_interval: 24h\n  job_poll_interval: 100ms\n"
                                  "providers: {}\nclusters: []\n");
    assert_string_equal(c->daemon.listen, "");
    assert_true(c->daemon.max_removal_share > 0.9999);
    assert_int_equal(c->daemon.poll_interval_ms, 86400000);
    assert_int_equal(c->n_providers, 0);
    assert_int_equal(c->n_clusters, 0);
    nh_config_unref(c);
    c = load_ok("daemon:\n  listen: :0\n  max_removal_share: 1%\nproviders: {}\nclusters: []\n");
    assert_string_equal(c->daemon.listen, ":0");
    assert_true(c->daemon.max_removal_share > 0.0099 && c->daemon.max_removal_share < 0.0101);
    nh_config_unref(c);
    c = load_ok(ACK_WEB "    workers: 300\n    max: 300\n    min: 300\n");
    assert_int_equal(c->clusters[0].workers, 300);
    nh_config_unref(c);
    c = load_ok(ACK_PROV_X("    endpoint: http://[::1]:1\n"));
    assert_string_equal(c->providers[0].endpoint, "http://[::1]:1");
    nh_config_unref(c);
    c = load_ok(ACK_PROV_X("    endpoint: http://localhost\n"));
    nh_config_unref(c);
    c = load_ok(ACK_PROV_X("    endpoint: http://127.1.2.3:65535\n"));
    nh_config_unref(c);
}

/* A listener other hosts can reach is said so; listen_names are names. */
static void test_config_listen_not_loopback_warns_and_names_parsed(void **state)
{
    (void)state;
    static const struct {
        const char *listen;
        bool warns;
    } cases[] = {
        {"127.0.0.1:9464", false}, {"localhost:1", false},  {"\"[::1]:0\"", false},
        {"127.9.9.9:1", false},    {"0.0.0.0:9464", true},  {":9464", true},
        {"\"[::]:9464\"", true},   {"10.1.2.3:9464", true}, {"\"\"", false},
    };
    char y[256];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(y, sizeof(y), "daemon:\n  listen: %s\nproviders: {}\nclusters: []\n",
                 cases[i].listen);
        struct nh_config *cfg = NULL;
        struct nh_diag d;
        nh_diag_init(&d);
        assert_int_equal(nh_config_load_buffer("l.yaml", y, strlen(y), &cfg, &d), 0);
        assert_int_equal(d.n, cases[i].warns ? 1 : 0);
        if (cases[i].warns) {
            assert_int_equal(d.entries[0].severity, NH_DIAG_WARNING);
            assert_int_equal(d.entries[0].line, 2);
            assert_non_null(strstr(d.entries[0].msg, "accepts connections from other hosts"));
            assert_non_null(strstr(d.entries[0].msg, "listen on 127.0.0.1 unless"));
        }
        nh_config_unref(cfg);
        nh_diag_free(&d);
    }
    const char *ok = "daemon:\n  listen_names: [nodeherd.example.com, 10.0.0.5, \"[fd00::1]\", "
                     "fd00::2]\nproviders: {}\nclusters: []\n";
    struct nh_config *cfg = load_ok(ok);
    assert_int_equal(cfg->daemon.n_listen_names, 4);
    assert_string_equal(cfg->daemon.listen_names[0], "nodeherd.example.com");
    assert_string_equal(cfg->daemon.listen_names[2], "[fd00::1]");
    nh_config_unref(cfg);
    cfg = load_ok("providers: {}\nclusters: []\n");
    assert_int_equal(cfg->daemon.n_listen_names, 0); /* default: addresses and localhost only */
    nh_config_unref(cfg);
    const char *badn = "daemon:\n  listen_names: [\"http://x.example\", ok.example]\n"
                       "providers: {}\nclusters: []\n";
    struct nh_diag d;
    nh_diag_init(&d);
    assert_int_equal(nh_config_load_buffer("l.yaml", badn, strlen(badn), &cfg, &d), -EINVAL);
    assert_int_equal(d.n_errors, 1);
    assert_non_null(strstr(d.entries[0].msg, "daemon.listen_names[0]: expected a host name or "
                                             "address (e.g. nodeherd.example.com)"));
    nh_diag_free(&d);
}

/* Endpoint overrides: loopback and the cloud's own domains from the file
 * alone; any other host only once the command line allowed it. */
static void test_config_endpoint_outside_cloud_domains_needs_the_flag(void **state)
{
    (void)state;
    static const struct {
        const char *kind, *endpoint;
        bool ok;
    } cases[] = {
        {"aliyun-ack", "https://cs.cn-hangzhou.aliyuncs.com", true},
        {"aliyun-ack", "https://cs-vpc.cn-hangzhou.ALIYUNCS.com:443/", true},
        {"aliyun-ack", "http://127.0.0.1:8790", true},
        {"aliyun-ack", "https://localhost:8443", true},
        {"aliyun-ack", "https://[::1]:8443", true},
        {"aliyun-ack", "https://catcher.example.net", false},
        {"aliyun-ack", "https://aliyuncs.com", false},                 /* the domain itself */
        {"aliyun-ack", "https://cs.aliyuncs.com.evil.example", false}, /* look-alikes */
        {"aliyun-ack", "https://evilaliyuncs.com", false},
        {"aliyun-ack", "https://cce.cn-north-4.myhuaweicloud.com", false}, /* another cloud's */
        {"aliyun-ack", "https://0.0.0.0:8443", false},
        {"aliyun-ack", "https://10.0.0.1", false},
        {"aliyun-ack", "https://[2001:db8::1]", false},
        {"huawei-cce", "https://cce.cn-north-4.myhuaweicloud.com", true},
        {"huawei-cce", "https://cce.eu-west-101.myhuaweicloud.eu", true},
        {"huawei-cce", "https://modelarts.ap-southeast-1.myhuaweicloud.cn", true},
        {"huawei-cce", "https://cce.ap-southeast-3.huaweicloud.com", true},
        {"huawei-cce", "https://cs.cn-hangzhou.aliyuncs.com", false},
        {"huawei-cce", "https://myhuaweicloud.com.evil.example", false},
        {"huawei-modelarts", "https://modelarts.cn-north-4.myhuaweicloud.com", true},
        {"huawei-modelarts", "https://catcher.example.net:8443", false},
    };
    char y[1024];
    nh_config_allow_endpoint_clear();
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bool huawei = strcmp(cases[i].kind, "aliyun-ack") != 0;
        snprintf(y, sizeof(y),
                 "providers:\n  p:\n    kind: %s\n    region: cn-north-4\n%s"
                 "    endpoint: %s\n"
                 "    credentials: %s\nclusters: []\n",
                 cases[i].kind, huawei ? "    project_id: 0123456789abcdef0123456789abcdef\n" : "",
                 cases[i].endpoint,
                 huawei ? "{ ak: { env: NHT_AK }, sk: { env: NHT_SK } }"
                        : "{ access_key_id: { env: NHT_AK }, access_key_secret: { env: NHT_SK } }");
        struct nh_config *cfg = NULL;
        struct nh_diag d;
        nh_diag_init(&d);
        int r = nh_config_load_buffer("e.yaml", y, strlen(y), &cfg, &d);
        if ((r == 0) != cases[i].ok) {
            print_error("%s %s: r=%d\n", cases[i].kind, cases[i].endpoint, r);
            nh_diag_print(&d, stderr);
        }
        assert_int_equal(r == 0, cases[i].ok);
        if (!cases[i].ok) {
            assert_int_equal(d.n_errors, 1);
            assert_non_null(strstr(d.entries[0].msg, "providers.p.endpoint: host \""));
            assert_non_null(strstr(d.entries[0].msg, "start nodeherd with --allow-endpoint "));
        }
        nh_config_unref(cfg);
        nh_diag_free(&d);
    }
    /* the message names the flag that would allow it, which then does */
    const char *y2 = ACK_PROV_X("    endpoint: https://Catcher.Example.NET:8443\n");
    struct nh_config *cfg = NULL;
    struct nh_diag d;
    nh_diag_init(&d);
    assert_int_equal(nh_config_load_buffer("e.yaml", y2, strlen(y2), &cfg, &d), -EINVAL);
    assert_string_equal(
        d.entries[0].msg,
        "providers.ack.endpoint: host \"Catcher.Example.NET\" is neither loopback nor in "
        "aliyun-ack's own domains (*.aliyuncs.com): the credentials would go to it; if that host "
        "is meant to receive them (a proxy, a private endpoint), start nodeherd with "
        "--allow-endpoint Catcher.Example.NET");
    nh_diag_free(&d);
    assert_int_equal(nh_config_allow_endpoint("other.example.net"), 0);
    nh_diag_init(&d);
    assert_int_equal(nh_config_load_buffer("e.yaml", y2, strlen(y2), &cfg, &d), -EINVAL);
    nh_diag_free(&d);
    assert_int_equal(nh_config_allow_endpoint("catcher.example.net"), 0); /* any case */
    nh_diag_init(&d);
    assert_int_equal(nh_config_load_buffer("e.yaml", y2, strlen(y2), &cfg, &d), 0);
    assert_int_equal(d.n, 0);
    nh_config_unref(cfg);
    nh_diag_free(&d);
    /* an IPv6 host is allowed with or without brackets */
    const char *y3 = ACK_PROV_X("    endpoint: https://[2001:db8::1]:8443\n");
    assert_int_equal(nh_config_allow_endpoint("[2001:db8::1]"), 0);
    nh_diag_init(&d);
    assert_int_equal(nh_config_load_buffer("e.yaml", y3, strlen(y3), &cfg, &d), 0);
    nh_config_unref(cfg);
    nh_diag_free(&d);
    assert_int_equal(nh_config_allow_endpoint("https://x.example"), -EINVAL);
    assert_int_equal(nh_config_allow_endpoint("x.example:443"), -EINVAL);
    assert_int_equal(nh_config_allow_endpoint(""), -EINVAL);
    nh_config_allow_endpoint_clear();
    for (int i = 0; i < NH_CONFIG_MAX_ALLOWED_ENDPOINTS; i++)
        assert_int_equal(nh_config_allow_endpoint("x.example"), 0);
    assert_int_equal(nh_config_allow_endpoint("x.example"), -E2BIG);
    nh_config_allow_endpoint_clear();
}

/* Billion laughs: refused at the first anchor, nothing expands. */
static void test_config_anchor_bomb_refused(void **state)
{
    (void)state;
    const char *y = "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
                    "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
                    "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
                    "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
                    "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
                    "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
                    "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
                    "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
                    "i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n";
    struct nh_config *cfg = NULL;
    struct nh_diag d;
    nh_diag_init(&d);
    assert_int_equal(nh_config_load_buffer("bomb.yaml", y, strlen(y), &cfg, &d), -EINVAL);
    assert_int_equal(d.n_errors, 1);
    assert_int_equal(d.entries[0].line, 1);
    assert_int_equal(d.entries[0].col, 4);
    assert_string_equal(d.entries[0].msg, "anchors are not supported; repeat the value");
    nh_diag_free(&d);
}

static void test_config_deep_nesting_bomb_refused(void **state)
{
    (void)state;
    size_t n = 100000;
    char *y = malloc(2 * n + 2);
    assert_non_null(y);
    memset(y, '[', n);
    memset(y + n, ']', n);
    y[2 * n] = '\n';
    y[2 * n + 1] = '\0';
    struct nh_config *cfg = NULL;
    struct nh_diag d;
    nh_diag_init(&d);
    assert_int_equal(nh_config_load_buffer("deep.yaml", y, 2 * n + 1, &cfg, &d), -EINVAL);
    assert_string_equal(d.entries[0].msg, "nested deeper than 32 levels; flatten the document");
    nh_diag_free(&d);
    /* block-style nesting too */
    char *b = malloc(64 * 80);
    assert_non_null(b);
    size_t o = 0;
    for (int i = 0; i < 40; i++)
        o += (size_t)sprintf(b + o, "%*sk%d:\n", 2 * i, "", i);
    nh_diag_init(&d);
    assert_int_equal(nh_config_load_buffer("deep.yaml", b, o, &cfg, &d), -EINVAL);
    assert_int_equal(d.entries[0].line, 33);
    assert_int_equal(d.entries[0].col, 65);
    nh_diag_free(&d);
    free(b);
    free(y);
}

/* Random bytes and random mutations of a valid file: never a crash or a
 * leak (the sanitizers watch), always a clean answer. */
static void test_config_junk_and_mutations_never_crash(void **state)
{
    (void)state;
    uint64_t x = 0x9E3779B97F4A7C15ULL;
    char junk[512];
    for (int round = 0; round < 300; round++) {
        for (size_t i = 0; i < sizeof(junk); i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            junk[i] = (char)(x & 0xff);
        }
        struct nh_config *cfg = NULL;
        struct nh_diag d;
        nh_diag_init(&d);
        int r = nh_config_load_buffer("junk", junk, (size_t)(round + 1), &cfg, &d);
        assert_true(r < 0);
        assert_null(cfg);
        assert_true(d.n_errors >= 1);
        nh_diag_free(&d);
    }
    const char *base = ACK_WEB "    workers: 3\n    scale_in: { order: [newest], protect: [a] }\n"
                               "    node_pools:\n      - { name: np, nodes: 2, max: 5 }\n";
    size_t blen = strlen(base);
    char *m = malloc(blen + 1);
    assert_non_null(m);
    static const char alphabet[] = " \n:-[]{},#&*!\"'|>?%@`\t0aZ\x80\xff";
    int ok = 0;
    for (int round = 0; round < 3000; round++) {
        memcpy(m, base, blen + 1);
        for (int k = 0; k < 1 + round % 4; k++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            m[(x >> 8) % blen] = alphabet[(x >> 32) % (sizeof(alphabet) - 1)];
        }
        struct nh_config *cfg = NULL;
        struct nh_diag d;
        nh_diag_init(&d);
        int r = nh_config_load_buffer("mut", m, blen, &cfg, &d);
        assert_true((r == 0) == (cfg != NULL));
        assert_true((r == 0) == (d.n_errors == 0));
        ok += r == 0;
        nh_config_unref(cfg);
        nh_diag_free(&d);
    }
    assert_true(ok > 0); /* some mutations (comments, digits) stay valid */
    free(m);
}

static void test_config_name_functions(void **state)
{
    (void)state;
    assert_string_equal(nh_provider_kind_name(NH_PROVIDER_ACK), "aliyun-ack");
    assert_string_equal(nh_provider_kind_name(NH_PROVIDER_CCE), "huawei-cce");
    assert_string_equal(nh_provider_kind_name(NH_PROVIDER_MODELARTS), "huawei-modelarts");
    assert_string_equal(nh_victim_order_name(NH_ORDER_EMPTIEST), "emptiest");
    assert_string_equal(nh_kube_network_name(NH_KUBE_NETWORK_PUBLIC), "public");
    assert_string_equal(nh_victim_order_name(NH_ORDER_UNHEALTHY), "unhealthy");
    assert_string_equal(nh_victim_order_name(NH_ORDER_NEWEST), "newest");
    assert_string_equal(nh_victim_order_name(NH_ORDER_OLDEST), "oldest");
    assert_string_equal(nh_victim_order_name(NH_ORDER_NAME), "name");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_invalid_table_first_error_and_count),
        cmocka_unit_test(test_config_reports_every_problem),
        cmocka_unit_test(test_config_diag_cap),
        cmocka_unit_test(test_config_secrets_never_echoed),
        cmocka_unit_test(test_config_defaults),
        cmocka_unit_test(test_config_secrets_by_purpose),
        cmocka_unit_test(test_config_same_id_elsewhere_is_another_cluster),
        cmocka_unit_test(test_config_every_key_parsed),
        cmocka_unit_test(test_config_endpoint_outside_cloud_domains_needs_the_flag),
        cmocka_unit_test(test_config_listen_not_loopback_warns_and_names_parsed),
        cmocka_unit_test(test_config_values_at_the_edges),
        cmocka_unit_test(test_config_kubernetes_facts_by_kind),
        cmocka_unit_test(test_config_kubernetes_access),
        cmocka_unit_test(test_config_anchor_bomb_refused),
        cmocka_unit_test(test_config_deep_nesting_bomb_refused),
        cmocka_unit_test(test_config_junk_and_mutations_never_crash),
        cmocka_unit_test(test_config_name_functions),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
