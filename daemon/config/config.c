/* config.c - the nodeherd.yaml(5) schema as field tables, the checks that
 * span several keys, and the life cycle of struct nh_config. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>

#include "config/internal.h"
#include "util/hostport.h"

const char *nh_victim_order_name(enum nh_victim_order o)
{
    switch (o) {
    case NH_ORDER_UNHEALTHY:
        return "unhealthy";
    case NH_ORDER_NEWEST:
        return "newest";
    case NH_ORDER_OLDEST:
        return "oldest";
    case NH_ORDER_NAME:
        return "name";
    case NH_ORDER_EMPTIEST:
        return "emptiest";
    }
    return "?";
}

const char *nh_kube_network_name(enum nh_kube_network n)
{
    switch (n) {
    case NH_KUBE_NETWORK_PRIVATE:
        return "private";
    case NH_KUBE_NETWORK_PUBLIC:
        return "public";
    }
    return "?";
}

static nh_kubeconfig_check_fn kubeconfig_check;

void nh_config_set_kubeconfig_check(nh_kubeconfig_check_fn fn)
{
    kubeconfig_check = fn;
}

/* Worker and node-pool limits come from the kind table (model/kind.h);
 * NH_KIND_MAX_NODES bounds them while the kind is not known. */

/* ---------- custom value readers ---------- */

static const struct nh_ynode *want_scalar(struct nh_pctx *c, const struct nh_ypair *kv,
                                          const char *path, const char *expect)
{
    if (kv->val->type != NH_Y_SCALAR) {
        nh_perr(c, kv->line, kv->col, path, "expected %s, got %s", expect, nh_ytype_name(kv->val));
        return NULL;
    }
    return kv->val;
}

static bool hostname_ok(const char *h, size_t n)
{
    if (n == 0 || n > 253)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = h[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '-'))
            return false;
    }
    return true;
}

/* Splits HOST:PORT, [V6]:PORT or :PORT (port optional when !need_port)
 * with util/hostport.h; a host name must be a DNS name. host is copied into
 * hbuf without brackets; *v6 set when bracketed. */
static bool split_hostport(const char *s, bool need_port, bool allow_empty_host, char *hbuf,
                           size_t hlen, bool *v6)
{
    struct nh_hostport hp;
    unsigned flags =
        (need_port ? NH_HOSTPORT_NEED_PORT : 0u) | (allow_empty_host ? NH_HOSTPORT_EMPTY_HOST : 0u);
    size_t hl;

    *v6 = false;
    if (nh_hostport_parse(s, flags, &hp, NULL) < 0)
        return false;
    hl = strlen(hp.host);
    if (hl >= hlen || (!hp.v6 && hl > 0 && !hostname_ok(hp.host, hl)))
        return false;
    memcpy(hbuf, hp.host, hl + 1);
    *v6 = hp.v6;
    return true;
}

static bool loopback_host(const char *h, bool v6);

static int read_listen(struct nh_pctx *c, const struct nh_ypair *kv, const char *path, void *base)
{
    struct nh_cfg_daemon *dm = base;
    const struct nh_ynode *v = want_scalar(c, kv, path, "HOST:PORT, [IPV6]:PORT, :PORT or \"\"");
    char host[256], q[64];
    bool v6;
    if (v == NULL)
        return -EINVAL;
    if (v->len > 0 && !split_hostport(v->str, true, true, host, sizeof(host), &v6)) {
        nh_perr(c, kv->line, kv->col, path,
                "expected HOST:PORT, [IPV6]:PORT or :PORT with a port 0..65535, or \"\" to "
                "disable, got %s",
                nh_quote(v->str, q, sizeof(q)));
        return -EINVAL;
    }
    /* Not loopback: say so (issue 23); the endpoint has no authentication. */
    if (v->len > 0 && (host[0] == '\0' || !loopback_host(host, v6)))
        nh_pwarn(c, kv->line, kv->col, path,
                 "%s accepts connections from other hosts, and /metrics, /api/v1/status and the "
                 "status page have no authentication (they show clusters, nodes and errors); "
                 "listen on 127.0.0.1 unless a firewall or NetworkPolicy limits who can connect",
                 nh_quote(v->str, q, sizeof(q)));
    char *s = strdup(v->str);
    if (s == NULL)
        return -ENOMEM;
    free(dm->listen);
    dm->listen = s;
    return 0;
}

/* daemon.listen_names: a name (or address) the HTTP endpoint answers to. */
static bool listen_name_ok(const char *s)
{
    struct in6_addr a6;
    size_t n = strlen(s);
    char buf[64];
    if (n >= 2 && s[0] == '[' && s[n - 1] == ']' && n - 2 < sizeof(buf)) {
        memcpy(buf, s + 1, n - 2);
        buf[n - 2] = '\0';
        return inet_pton(AF_INET6, buf, &a6) == 1;
    }
    return hostname_ok(s, n) || inet_pton(AF_INET6, s, &a6) == 1;
}

static int read_listen_names(struct nh_pctx *c, const struct nh_ypair *kv, const char *path,
                             void *base)
{
    struct nh_cfg_daemon *dm = base;
    return nh_schema_strlist(c, kv, path, listen_name_ok,
                             "a host name or address (e.g. nodeherd.example.com)",
                             &dm->listen_names, &dm->n_listen_names);
}

static int read_share(struct nh_pctx *c, const struct nh_ypair *kv, const char *path, void *base)
{
    struct nh_cfg_daemon *dm = base;
    const struct nh_ynode *v = kv->val;
    char q[64];
    if (v->type == NH_Y_SCALAR && v->plain && v->len > 1 && v->len < 8 &&
        v->str[v->len - 1] == '%') {
        char num[8];
        memcpy(num, v->str, v->len - 1);
        num[v->len - 1] = '\0';
        if (strspn(num, "0123456789") == strlen(num)) {
            int pct = atoi(num);
            if (pct >= 1 && pct <= 100) {
                dm->max_removal_share = pct / 100.0;
                return 0;
            }
        }
    } else if (v->type == NH_Y_SCALAR && v->plain && v->len > 0 &&
               strspn(v->str, "0123456789.") == v->len) {
        char *end;
        double d = strtod(v->str, &end);
        if (*end == '\0' && d >= 0.01 && d <= 1.0) {
            dm->max_removal_share = d;
            return 0;
        }
    }
    nh_perr(c, kv->line, kv->col, path,
            "expected a share like 50%% (1%%..100%%) or a number 0.01..1.0, got %s",
            v->type == NH_Y_SCALAR ? nh_quote(v->str, q, sizeof(q)) : nh_ytype_name(v));
    return -EINVAL;
}

static bool loopback_host(const char *h, bool v6)
{
    if (v6)
        return strcmp(h, "::1") == 0 || strcmp(h, "0:0:0:0:0:0:0:1") == 0;
    if (strcmp(h, "localhost") == 0)
        return true;
    struct in_addr a;
    return inet_pton(AF_INET, h, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

/* Checks one endpoint URL: https://HOST[:PORT], or http:// to loopback
 * only; one trailing slash is dropped. *ret gets a copy. 0, -EINVAL
 * (reported at line:col) or -ENOMEM. */
static int parse_endpoint(struct nh_pctx *c, int line, int col, const char *path, const char *str,
                          char **ret, char *ret_host, size_t hostlen, bool *ret_v6)
{
    char host[256], hp[512], q[64];
    bool v6, https;
    const char *rest;
    if (strncmp(str, "https://", 8) == 0) {
        https = true;
        rest = str + 8;
    } else if (strncmp(str, "http://", 7) == 0) {
        https = false;
        rest = str + 7;
    } else {
        nh_perr(c, line, col, path, "expected https://HOST[:PORT], got %s",
                nh_quote(str, q, sizeof(q)));
        return -EINVAL;
    }
    size_t rl = strlen(rest);
    if (rl > 0 && rest[rl - 1] == '/')
        rl--; /* one trailing slash is tolerated and dropped */
    if (rl == 0 || rl >= sizeof(hp)) {
        nh_perr(c, line, col, path, "expected https://HOST[:PORT], got %s",
                nh_quote(str, q, sizeof(q)));
        return -EINVAL;
    }
    memcpy(hp, rest, rl);
    hp[rl] = '\0';
    if (!split_hostport(hp, false, false, host, sizeof(host), &v6)) {
        nh_perr(c, line, col, path,
                "expected https://HOST[:PORT] with no path, user or query, got %s",
                nh_quote(str, q, sizeof(q)));
        return -EINVAL;
    }
    if (!https && !loopback_host(host, v6)) {
        nh_perr(c, line, col, path,
                "plain http:// is only allowed for 127.0.0.0/8, [::1] and localhost (test "
                "emulators); use https://");
        return -EINVAL;
    }
    char *s = strdup(str);
    if (s == NULL)
        return -ENOMEM;
    s[(size_t)(rest - str) + rl] = '\0';
    *ret = s;
    if (ret_host != NULL)
        snprintf(ret_host, hostlen, "%s", host);
    if (ret_v6 != NULL)
        *ret_v6 = v6;
    return 0;
}

/* ---------- endpoint overrides ----------
 *
 * A provider's endpoint: receives its credentials (an AccessKey id, a
 * token, a login password are sent as they are), so a change of the file
 * alone may point it only at the cloud's own domains or at loopback; any
 * other host must also be named on the command line (--allow-endpoint).
 * The domains are the clouds' documented API endpoints:
 *  - ACK: cs.{region}.aliyuncs.com and cs-vpc.{region}.aliyuncs.com,
 *    https://www.alibabacloud.com/help/en/ack/ack-managed-and-ack-dedicated/developer-reference/api-cs-2015-12-15-endpoint
 *  - CCE and ModelArts: {service}.{region}.myhuaweicloud.com ("Regions and
 *    Endpoints", https://developer.huaweicloud.com/intl/en-us/endpoint),
 *    .myhuaweicloud.eu for EU-Dublin eu-west-101
 *    (https://support.huaweicloud.com/eu/api-dataartsstudio/dataartsstudio_02_0004.html),
 *    .myhuaweicloud.cn (the SDKs' ap-southeast-1 ModelArts endpoint) and
 *    Huawei Cloud's own huaweicloud.com. */
static const char *const ack_domains[] = {"aliyuncs.com", NULL};
static const char *const huawei_domains[] = {"myhuaweicloud.com", "myhuaweicloud.eu",
                                             "myhuaweicloud.cn", "huaweicloud.com", NULL};

static const char *allowed_hosts[NH_CONFIG_MAX_ALLOWED_ENDPOINTS]; /* borrowed (argv) */
static size_t n_allowed_hosts;

/* HOST as in a URL, brackets of an IPv6 address dropped: into buf. */
static bool endpoint_host_norm(const char *host, char *buf, size_t len)
{
    size_t n = strlen(host);
    struct in6_addr a6;
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
        host++;
        n -= 2;
    }
    if (n == 0 || n >= len)
        return false;
    memcpy(buf, host, n);
    buf[n] = '\0';
    return hostname_ok(buf, n) || inet_pton(AF_INET6, buf, &a6) == 1;
}

int nh_config_allow_endpoint(const char *host)
{
    char h[256];
    if (host == NULL || !endpoint_host_norm(host, h, sizeof(h)))
        return -EINVAL;
    if (n_allowed_hosts >= NH_CONFIG_MAX_ALLOWED_ENDPOINTS)
        return -E2BIG;
    allowed_hosts[n_allowed_hosts++] = host;
    return 0;
}

void nh_config_allow_endpoint_clear(void)
{
    n_allowed_hosts = 0;
}

/* Is host (no brackets) a subdomain of one of domains (NULL-terminated)? */
static bool in_domains(const char *host, const char *const *domains)
{
    size_t hl = strlen(host);
    for (; *domains != NULL; domains++) {
        size_t dl = strlen(*domains);
        if (hl > dl + 1 && host[hl - dl - 1] == '.' && strcasecmp(host + hl - dl, *domains) == 0)
            return true;
    }
    return false;
}

static bool endpoint_allowed_by_flag(const char *host)
{
    char h[256];
    for (size_t i = 0; i < n_allowed_hosts; i++)
        if (endpoint_host_norm(allowed_hosts[i], h, sizeof(h)) && strcasecmp(h, host) == 0)
            return true;
    return false;
}

/* Checks the host of a provider endpoint (see above); reports at kv. */
static int check_endpoint_host(struct nh_pctx *c, const struct nh_ypair *kv, const char *path,
                               const char *host, bool v6)
{
    const char *const *domains;
    const char *shown;
    char q[80];
    if (c->kind < 0 || loopback_host(host, v6) || endpoint_allowed_by_flag(host))
        return 0; /* an unknown kind is reported on its own */
    domains = c->kind == NH_PROVIDER_ACK ? ack_domains : huawei_domains;
    shown = c->kind == NH_PROVIDER_ACK
                ? "*.aliyuncs.com"
                : "*.myhuaweicloud.com, *.myhuaweicloud.eu, *.myhuaweicloud.cn, *.huaweicloud.com";
    if (in_domains(host, domains))
        return 0;
    nh_perr(c, kv->line, kv->col, path,
            "host %s is neither loopback nor in %s's own domains (%s): the credentials would go "
            "to it; if that host is meant to receive them (a proxy, a private endpoint), start "
            "nodeherd with --allow-endpoint %s%s%s",
            nh_quote(host, q, sizeof(q)), nh_provider_kind_name((enum nh_provider_kind)c->kind),
            shown, v6 ? "[" : "", host, v6 ? "]" : "");
    return -EINVAL;
}

static int read_endpoint(struct nh_pctx *c, const struct nh_ypair *kv, const char *path, void *base)
{
    struct nh_cfg_provider *p = base;
    const struct nh_ynode *v = want_scalar(c, kv, path, "a URL");
    char *s = NULL, host[256];
    bool v6 = false;
    if (v == NULL)
        return -EINVAL;
    int r = parse_endpoint(c, kv->line, kv->col, path, v->str, &s, host, sizeof(host), &v6);
    if (r < 0)
        return r;
    r = check_endpoint_host(c, kv, path, host, v6);
    if (r < 0) {
        free(s);
        return r;
    }
    free(p->endpoint);
    p->endpoint = s;
    return 0;
}

/* ha.etcd.endpoints: a non-empty list of client URLs. */
static int read_ha_endpoints(struct nh_pctx *c, const struct nh_ypair *kv, const char *path,
                             void *base)
{
    struct nh_cfg_ha *ha = base;
    const struct nh_ynode *v = kv->val;
    char ip[360];
    int rc = 0;
    if (v->type != NH_Y_SEQ || v->n == 0) {
        nh_perr(c, kv->line, kv->col, path,
                "expected a non-empty list of etcd client URLs (e.g. [https://etcd-1:2379]), "
                "got %s",
                v->type == NH_Y_SEQ ? "an empty list" : nh_ytype_name(v));
        return -EINVAL;
    }
    char **list = calloc(v->n, sizeof(char *));
    if (list == NULL)
        return -ENOMEM;
    size_t cnt = 0;
    for (size_t i = 0; i < v->n; i++) {
        const struct nh_ynode *it = v->items[i];
        snprintf(ip, sizeof(ip), "%s[%zu]", path, i);
        if (it->type != NH_Y_SCALAR || it->len == 0) {
            nh_perr(c, it->line, it->col, ip, "expected an etcd client URL, got %s",
                    nh_ytype_name(it));
            rc = -EINVAL;
            continue;
        }
        int r = parse_endpoint(c, it->line, it->col, ip, it->str, &list[cnt], NULL, 0, NULL);
        if (r == -ENOMEM) {
            rc = r;
            break;
        }
        if (r < 0) {
            rc = r;
            continue;
        }
        cnt++;
    }
    for (size_t i = 0; i < ha->n_endpoints; i++)
        free(ha->endpoints[i]);
    free(ha->endpoints);
    ha->endpoints = list;
    ha->n_endpoints = cnt;
    return rc;
}

/* ha.etcd.prefix: "/a/b/" (starts and ends with "/", printable, no spaces). */
static int read_ha_prefix(struct nh_pctx *c, const struct nh_ypair *kv, const char *path,
                          void *base)
{
    struct nh_cfg_ha *ha = base;
    const struct nh_ynode *v = want_scalar(c, kv, path, "a key prefix such as /nodeherd/");
    char q[64];
    if (v == NULL)
        return -EINVAL;
    bool ok = v->len >= 1 && v->len <= 200 && v->str[0] == '/' && v->str[v->len - 1] == '/';
    for (size_t i = 0; ok && i < v->len; i++)
        ok = (unsigned char)v->str[i] > 0x20 && (unsigned char)v->str[i] < 0x7f;
    if (!ok) {
        nh_perr(c, kv->line, kv->col, path,
                "expected a key prefix of printable characters that starts and ends with \"/\" "
                "(e.g. /nodeherd/prod/), got %s",
                nh_quote(v->str, q, sizeof(q)));
        return -EINVAL;
    }
    char *s = strdup(v->str);
    if (s == NULL)
        return -ENOMEM;
    free(ha->prefix);
    ha->prefix = s;
    return 0;
}

static int read_order(struct nh_pctx *c, const struct nh_ypair *kv, const char *path, void *base)
{
    struct nh_cfg_scale_in *si = base;
    const struct nh_ynode *v = kv->val;
    char ip[360], q[64];
    if (v->type != NH_Y_SEQ || v->n == 0) {
        nh_perr(c, kv->line, kv->col, path,
                "expected a non-empty list of unhealthy, emptiest, newest, oldest, name, got %s",
                v->type == NH_Y_SEQ ? "an empty list" : nh_ytype_name(v));
        return -EINVAL;
    }
    enum nh_victim_order got[NH_ORDER_MAX];
    size_t n = 0;
    int rc = 0;
    for (size_t i = 0; i < v->n; i++) {
        const struct nh_ynode *it = v->items[i];
        snprintf(ip, sizeof(ip), "%s[%zu]", path, i);
        int found = -1;
        for (int o = NH_ORDER_UNHEALTHY; it->type == NH_Y_SCALAR && o <= NH_ORDER_EMPTIEST; o++)
            if (strcmp(it->str, nh_victim_order_name((enum nh_victim_order)o)) == 0)
                found = o;
        if (found < 0) {
            nh_perr(c, it->line, it->col, ip,
                    "expected one of unhealthy, emptiest, newest, oldest, name, got %s",
                    it->type == NH_Y_SCALAR ? nh_quote(it->str, q, sizeof(q)) : nh_ytype_name(it));
            rc = -EINVAL;
            continue;
        }
        bool dup = false;
        for (size_t j = 0; j < n; j++)
            dup = dup || got[j] == (enum nh_victim_order)found;
        if (dup || n == NH_ORDER_MAX) {
            nh_perr(c, it->line, it->col, ip, "\"%s\" is listed twice; list each order once",
                    nh_victim_order_name((enum nh_victim_order)found));
            rc = -EINVAL;
            continue;
        }
        got[n++] = (enum nh_victim_order)found;
    }
    if (rc == 0) {
        memcpy(si->order, got, n * sizeof(got[0]));
        si->n_order = n;
    }
    return rc;
}

static bool node_ok(const char *s)
{
    return nh_is_pathid(s);
}

/* remove: and scale_in.protect: the same list of node ids or names. */
static int node_list(struct nh_pctx *c, const struct nh_ypair *kv, const char *path, char ***ret,
                     size_t *n)
{
    return nh_schema_strlist(c, kv, path, node_ok,
                             "a node id or name (letters, digits, \".\", \"_\", \"~\", \"-\")", ret,
                             n);
}

static int read_protect(struct nh_pctx *c, const struct nh_ypair *kv, const char *path, void *base)
{
    struct nh_cfg_scale_in *si = base;
    return node_list(c, kv, path, &si->protect, &si->n_protect);
}

static int read_remove(struct nh_pctx *c, const struct nh_ypair *kv, const char *path, void *base)
{
    struct nh_cfg_cluster *cl = base;
    return node_list(c, kv, path, &cl->remove, &cl->n_remove);
}

static bool label_ok(const char *s)
{
    const char *eq = strchr(s, '=');
    size_t kl = eq ? (size_t)(eq - s) : strlen(s);
    if (kl == 0 || kl > 253)
        return false;
    for (size_t i = 0; i < kl; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || strchr("._-/", s[i]) != NULL))
            return false;
    if (eq == NULL)
        return true;
    const char *val = eq + 1;
    if (strlen(val) > 63)
        return false;
    for (; *val; val++)
        if (!((*val >= 'a' && *val <= 'z') || (*val >= 'A' && *val <= 'Z') ||
              (*val >= '0' && *val <= '9') || strchr("._-", *val) != NULL))
            return false;
    return true;
}

static void labels_free(struct nh_cfg_label *l, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(l[i].key);
        free(l[i].value);
    }
    free(l);
}

static int set_labels(struct nh_cfg_scale_in *si, char **strs, size_t n)
{
    struct nh_cfg_label *l = calloc(n ? n : 1, sizeof(*l));
    if (l == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        char *eq = strchr(strs[i], '=');
        l[i].key = eq ? strndup(strs[i], (size_t)(eq - strs[i])) : strdup(strs[i]);
        l[i].value = eq ? strdup(eq + 1) : NULL;
        if (l[i].key == NULL || (eq && l[i].value == NULL)) {
            labels_free(l, i + 1);
            return -ENOMEM;
        }
    }
    labels_free(si->protect_labels, si->n_protect_labels);
    si->protect_labels = l;
    si->n_protect_labels = n;
    return 0;
}

static int read_labels(struct nh_pctx *c, const struct nh_ypair *kv, const char *path, void *base)
{
    char **strs = NULL;
    size_t n = 0;
    int rc = nh_schema_strlist(c, kv, path, label_ok,
                               "a label selector \"key\" or \"key=value\" (Kubernetes label "
                               "syntax)",
                               &strs, &n);
    if (rc == 0)
        rc = set_labels(base, strs, n);
    if (rc == 0)
        ((struct nh_cfg_scale_in *)base)->protect_labels_given = true;
    for (size_t i = 0; i < n; i++)
        free(strs[i]);
    free(strs);
    return rc;
}

/* ---------- the tables ---------- */

#define MS(x) ((long long)(x))
#define SEC *1000LL
#define MIN *60000LL
#define HOUR *3600000LL

static const struct nh_enum_name log_levels[] = {
    {"err", LOG_ERR},   {"warning", LOG_WARNING}, {"notice", LOG_NOTICE},
    {"info", LOG_INFO}, {"debug", LOG_DEBUG},     {NULL, 0},
};

static const struct nh_field daemon_fields[] = {
    {"poll_interval", NH_T_DURATION, offsetof(struct nh_cfg_daemon, poll_interval_ms), .min = 1 SEC,
     .max = 24 HOUR, .def = "30s"},
    {"job_poll_interval", NH_T_DURATION, offsetof(struct nh_cfg_daemon, job_poll_interval_ms),
     .min = 100, .max = 10 MIN, .def = "5s"},
    {"job_timeout", NH_T_DURATION, offsetof(struct nh_cfg_daemon, job_timeout_ms), .min = 1 SEC,
     .max = 48 HOUR, .def = "30m"},
    {"state_dir", NH_T_ABSPATH, offsetof(struct nh_cfg_daemon, state_dir),
     .def = "/var/lib/nodeherd"},
    {"listen", NH_T_CUSTOM, 0, .custom = read_listen, .def = "127.0.0.1:9464"},
    {"listen_names", NH_T_CUSTOM, 0, .custom = read_listen_names},
    {"dry_run", NH_T_BOOL, offsetof(struct nh_cfg_daemon, dry_run), .def = "false"},
    {"max_removal_share", NH_T_CUSTOM, 0, .custom = read_share, .def = "50%"},
    {"log_level", NH_T_ENUM, offsetof(struct nh_cfg_daemon, log_level), .names = log_levels,
     .def = "info"},
    {.key = NULL},
};

static const struct nh_enum_name signings[] = {
    {"acs3", NH_SIGN_ACS3},
    {"roa", NH_SIGN_ROA},
    {NULL, 0},
};

#define HUAWEI (NH_KIND_CCE | NH_KIND_MA)

static const struct nh_field credential_fields[] = {
    {"access_key_id", NH_T_SECRET, offsetof(struct nh_cfg_provider, access_key_id),
     .kinds = NH_KIND_ACK, .req_kinds = NH_KIND_ACK, .use = NH_USE_CLOUD_READ},
    {"access_key_secret", NH_T_SECRET, offsetof(struct nh_cfg_provider, access_key_secret),
     .kinds = NH_KIND_ACK, .req_kinds = NH_KIND_ACK, .use = NH_USE_CLOUD_READ},
    {"ak", NH_T_SECRET, offsetof(struct nh_cfg_provider, access_key_id), .kinds = HUAWEI,
     .use = NH_USE_CLOUD_READ},
    {"sk", NH_T_SECRET, offsetof(struct nh_cfg_provider, access_key_secret), .kinds = HUAWEI,
     .use = NH_USE_CLOUD_READ},
    {"token", NH_T_SECRET, offsetof(struct nh_cfg_provider, token), .kinds = HUAWEI,
     .use = NH_USE_CLOUD_READ},
    {.key = NULL},
};

static const struct nh_field rate_fields[] = {
    {"qps", NH_T_DOUBLE, offsetof(struct nh_cfg_provider, qps), .dmin = 0.01, .dmax = 1000,
     .def = "2"},
    {"burst", NH_T_UINT, offsetof(struct nh_cfg_provider, burst), .min = 1, .max = 1000,
     .def = "4"},
    {.key = NULL},
};

static const struct nh_field provider_fields[] = {
    {"kind", NH_T_KIND, offsetof(struct nh_cfg_provider, kind), .required = true},
    {"region", NH_T_REGION, offsetof(struct nh_cfg_provider, region), .required = true},
    {"endpoint", NH_T_CUSTOM, 0, .custom = read_endpoint},
    {"project_id", NH_T_PROJECT, offsetof(struct nh_cfg_provider, project_id), .kinds = HUAWEI,
     .req_kinds = HUAWEI},
    {"signing", NH_T_ENUM, offsetof(struct nh_cfg_provider, signing), .kinds = NH_KIND_ACK,
     .names = signings, .def = "acs3"},
    {"credentials", NH_T_SUB, 0, .required = true, .sub = credential_fields},
    {"rate_limit", NH_T_SUB, 0, .sub = rate_fields},
    {"timeout", NH_T_DURATION, offsetof(struct nh_cfg_provider, timeout_ms), .min = 1 SEC,
     .max = 10 MIN, .def = "30s"},
    {"connect_timeout", NH_T_DURATION, offsetof(struct nh_cfg_provider, connect_timeout_ms),
     .min = 100, .max = 1 MIN, .def = "5s"},
    {"ca_file", NH_T_ABSPATH, offsetof(struct nh_cfg_provider, ca_file), .required = false},
    {.key = NULL},
};

static const struct nh_field disk_fields[] = {
    {"category", NH_T_STR, offsetof(struct nh_cfg_scale_out, system_disk_category),
     .required = true},
    {"size_gb", NH_T_INT, offsetof(struct nh_cfg_scale_out, system_disk_size_gb), .required = true,
     .min = 20, .max = 2048, .why = "ECS system disk GiB"},
    {.key = NULL},
};

static const struct nh_field scale_out_fields[] = {
    {"instance_type", NH_T_STR, offsetof(struct nh_cfg_scale_out, instance_type), .required = true},
    {"system_disk", NH_T_SUB, 0, .required = true, .sub = disk_fields},
    {"login_password", NH_T_SECRET, offsetof(struct nh_cfg_scale_out, login_password),
     .required = true, .use = NH_USE_CLOUD_WRITE},
    {"timeout_mins", NH_T_INT, offsetof(struct nh_cfg_scale_out, timeout_mins), .min = 1,
     .max = 1440, .def = "60"},
    {"disable_rollback", NH_T_BOOL, offsetof(struct nh_cfg_scale_out, disable_rollback),
     .def = "true"},
    {.key = NULL},
};

static const struct nh_field scale_in_fields[] = {
    /* ACK's removal calls take release_node and drain_node; CCE picks
     * DeleteNode or RemoveNode by release_instances (issue #19) and drains
     * only through the cluster's Kubernetes API (check_kube_facts: drain:
     * true is refused without it). ModelArts' BatchDeletePoolNodes always
     * deletes the nodes and its nodes have no Kubernetes API: both keys are
     * refused there rather than silently ignored. */
    {"release_instances", NH_T_BOOL, offsetof(struct nh_cfg_scale_in, release_instances),
     .kinds = NH_KIND_ACK | NH_KIND_CCE, .def = "true",
     .kinds_why = "ModelArts deletes removed nodes with their servers, it cannot keep them"},
    {"drain", NH_T_BOOL, offsetof(struct nh_cfg_scale_in, drain),
     .kinds = NH_KIND_ACK | NH_KIND_CCE, .def = "true",
     .kinds_why = "ModelArts nodes have no Kubernetes API to drain through"},
    {"drain_timeout", NH_T_DURATION, offsetof(struct nh_cfg_scale_in, drain_timeout_ms),
     .kinds = NH_KIND_ACK | NH_KIND_CCE, .min = 10 SEC, .max = 24 HOUR, .def = "10m",
     .kinds_why = "ModelArts nodes have no Kubernetes API to drain through"},
    {"order", NH_T_CUSTOM, 0, .custom = read_order},
    {"protect", NH_T_CUSTOM, 0, .custom = read_protect},
    {"protect_labels", NH_T_CUSTOM, 0, .custom = read_labels},
    {"max_per_cycle", NH_T_INT, offsetof(struct nh_cfg_scale_in, max_per_cycle), .min = 1,
     .max = 200, .def = "1"},
    {.key = NULL},
};

static const struct nh_field login_fields[] = {
    {"ssh_key", NH_T_STR, offsetof(struct nh_cfg_login, ssh_key), .required = false},
    {"username", NH_T_STR, offsetof(struct nh_cfg_login, username), .def = "root"},
    {"password", NH_T_SECRET, offsetof(struct nh_cfg_login, password), .required = false,
     .use = NH_USE_CLOUD_WRITE},
    {.key = NULL},
};

static const struct nh_field pool_fields[] = {
    {"name", NH_T_PATHID, offsetof(struct nh_cfg_pool, name), .required = true},
    {"id", NH_T_PATHID, offsetof(struct nh_cfg_pool, id), .required = false},
    {"nodes", NH_T_INT, offsetof(struct nh_cfg_pool, nodes), .max = NH_KIND_MAX_NODES,
     .klimit = NH_KLIMIT_POOL, .kwhy = true},
    {"min", NH_T_INT, offsetof(struct nh_cfg_pool, min), .max = NH_KIND_MAX_NODES,
     .klimit = NH_KLIMIT_POOL, .def = "0"},
    {"max", NH_T_INT, offsetof(struct nh_cfg_pool, max), .max = NH_KIND_MAX_NODES,
     .klimit = NH_KLIMIT_POOL},
    {"flavor", NH_T_STR, offsetof(struct nh_cfg_pool, flavor), .kinds = NH_KIND_MA,
     .req_kinds = NH_KIND_MA},
    {"manage_autoscaling", NH_T_BOOL, offsetof(struct nh_cfg_pool, manage_autoscaling),
     .def = "false"},
    {.key = NULL},
};

static int read_pools(struct nh_pctx *c, const struct nh_ypair *kv, const char *path, void *base);
static int read_kube(struct nh_pctx *c, const struct nh_ypair *kv, const char *path, void *base);

static const struct nh_field cluster_fields[] = {
    {"name", NH_T_NAME, offsetof(struct nh_cfg_cluster, name), .required = true},
    {"provider", NH_T_NAME, offsetof(struct nh_cfg_cluster, provider_name), .required = true},
    {"id", NH_T_PATHID, offsetof(struct nh_cfg_cluster, id), .kinds = NH_KIND_ACK | NH_KIND_CCE,
     .req_kinds = NH_KIND_ACK | NH_KIND_CCE},
    {"pool", NH_T_PATHID, offsetof(struct nh_cfg_cluster, pool), .kinds = NH_KIND_MA,
     .req_kinds = NH_KIND_MA},
    {"workers", NH_T_INT, offsetof(struct nh_cfg_cluster, workers), .max = NH_KIND_MAX_NODES,
     .kinds = NH_KIND_ACK | NH_KIND_CCE, .klimit = NH_KLIMIT_WORKERS, .kwhy = true},
    {"min", NH_T_INT, offsetof(struct nh_cfg_cluster, min), .max = NH_KIND_MAX_NODES,
     .kinds = NH_KIND_ACK | NH_KIND_CCE, .klimit = NH_KLIMIT_WORKERS, .def = "0"},
    {"max", NH_T_INT, offsetof(struct nh_cfg_cluster, max), .max = NH_KIND_MAX_NODES,
     .kinds = NH_KIND_ACK | NH_KIND_CCE, .klimit = NH_KLIMIT_WORKERS},
    {"poll_interval", NH_T_DURATION, offsetof(struct nh_cfg_cluster, poll_interval_ms),
     .min = 1 SEC, .max = 24 HOUR},
    {"scale_out", NH_T_SUB, offsetof(struct nh_cfg_cluster, scale_out), .kinds = NH_KIND_ACK,
     .sub = scale_out_fields},
    {"scale_in", NH_T_SUB, offsetof(struct nh_cfg_cluster, scale_in), .sub = scale_in_fields},
    {"remove", NH_T_CUSTOM, 0, .custom = read_remove},
    {"login", NH_T_SUB, offsetof(struct nh_cfg_cluster, login), .kinds = NH_KIND_CCE,
     .sub = login_fields},
    {"prune", NH_T_BOOL, offsetof(struct nh_cfg_cluster, prune), .def = "false"},
    {"confirm_mass_removal", NH_T_BOOL, offsetof(struct nh_cfg_cluster, confirm_mass_removal),
     .def = "false"},
    {"node_pools", NH_T_CUSTOM, 0, .custom = read_pools},
    {"suspend", NH_T_BOOL, offsetof(struct nh_cfg_cluster, suspend), .def = "false"},
    {"kubernetes", NH_T_CUSTOM, 0, .custom = read_kube},
    {.key = NULL},
};

/* kubernetes.kubeconfig: `from-cloud`, or a secret reference holding a
 * kubeconfig, checked here (nh_config_set_kubeconfig_check) so that a
 * kubeconfig nodeherd would refuse (exec or auth-provider plugins, TLS
 * verification off, file references, ...) is refused at load. The value of
 * a scalar is never echoed: it may be a pasted kubeconfig. */
static int read_kubeconfig(struct nh_pctx *c, const struct nh_ypair *kv, const char *path,
                           void *base)
{
    struct nh_cfg_kube *k = base;
    const struct nh_ynode *v = kv->val;
    char err[512];
    size_t len;

    if (v->type == NH_Y_SCALAR && v->plain && strcmp(v->str, "from-cloud") == 0) {
        k->from_cloud = true;
        return 0;
    }
    if (v->type != NH_Y_MAP) {
        nh_perr(c, kv->line, kv->col, path,
                "expected from-cloud, or a secret reference { file: NAME } or { env: NAME } "
                "holding a kubeconfig, got %s",
                v->type == NH_Y_SCALAR ? "another string (not repeated here)" : nh_ytype_name(v));
        return -EINVAL;
    }
    nh_secret_free(k->kubeconfig);
    k->kubeconfig = NULL;
    /* read with the provider credentials: every Kubernetes call needs it */
    if (nh_schema_secret(c, kv, path, NH_USE_CLOUD_READ, &k->kubeconfig) < 0)
        return -EINVAL;
    if (k->kubeconfig == NULL || kubeconfig_check == NULL)
        return 0; /* not read by this load (checked as a reference), or no checker */
    const unsigned char *b = nh_secret_bytes(k->kubeconfig, &len);
    if (kubeconfig_check(b, len, err, sizeof(err)) < 0) {
        nh_perr(c, kv->line, kv->col, path, "the kubeconfig in %s is refused: %s",
                nh_secret_describe(k->kubeconfig), err);
        return -EINVAL;
    }
    return 0;
}

static const struct nh_enum_name kube_networks[] = {
    {"private", NH_KUBE_NETWORK_PRIVATE},
    {"public", NH_KUBE_NETWORK_PUBLIC},
    {NULL, 0},
};

static const struct nh_field kube_fields[] = {
    {"kubeconfig", NH_T_CUSTOM, 0, .required = true, .custom = read_kubeconfig},
    {"network", NH_T_ENUM, offsetof(struct nh_cfg_kube, network), .names = kube_networks,
     .def = "private"},
    /* client-go has no default request timeout; kubectl's --request-timeout
     * is 0 (none): nodeherd bounds every request so that a silent API
     * server cannot hold an observation or a drain step for good. */
    {"request_timeout", NH_T_DURATION, offsetof(struct nh_cfg_kube, request_timeout_ms),
     .min = 1 SEC, .max = 10 MIN, .def = "30s"},
    {"ready_timeout", NH_T_DURATION, offsetof(struct nh_cfg_kube, ready_timeout_ms), .min = 1 SEC,
     .max = 24 HOUR, .def = "15m"},
    {.key = NULL},
};

/* The cluster's `kubernetes:` key: ACK and CCE clusters have an API server
 * their users reach; ModelArts standard resource pools do not
 * (shared/api/kubernetes.md). CCE's kubeconfig has only one verified
 * context, "internal" (the VPC address): its "external" context sets
 * insecure-skip-tls-verify, so network: public is refused there. */
static int read_kube(struct nh_pctx *c, const struct nh_ypair *kv, const char *path, void *base)
{
    struct nh_cfg_cluster *cl = base;
    const struct nh_kind *k = c->kind >= 0 ? nh_kind_get((enum nh_provider_kind)c->kind) : NULL;
    char kp[200];

    if (k != NULL && !(k->caps & NH_CAP_KUBE_API)) {
        nh_perr(c, kv->line, kv->col, path,
                "%s has no Kubernetes API that its users can reach; remove kubernetes: (protect "
                "nodes by name with scale_in.protect)",
                k->cloud);
        return -EINVAL;
    }
    if (kv->val->type != NH_Y_MAP) {
        nh_perr(c, kv->line, kv->col, path,
                "expected a map with kubeconfig (from-cloud, or { file: NAME } / { env: NAME }) "
                "and optionally network (private or public), request_timeout and ready_timeout "
                "(durations), got %s",
                nh_ytype_name(kv->val));
        return -EINVAL;
    }
    cl->kube.line = kv->line;
    cl->kube.col = kv->col;
    if (nh_schema_walk(c, kv->val, path, kube_fields, &cl->kube) != 0)
        return -EINVAL;
    const struct nh_ypair *net = nh_ymap_find(kv->val, "network");
    if (net != NULL && !cl->kube.from_cloud) {
        nh_perr(c, net->line, net->col, nh_key_path(kp, sizeof(kp), path, "network"),
                "network chooses the address of a kubeconfig fetched from the cloud; a kubeconfig "
                "given as a secret names its own server: remove network, or use kubeconfig: "
                "from-cloud");
        return -EINVAL;
    }
    if (net != NULL && cl->kube.network == NH_KUBE_NETWORK_PUBLIC && k != NULL &&
        k->kind == NH_PROVIDER_CCE) {
        nh_perr(c, net->line, net->col, nh_key_path(kp, sizeof(kp), path, "network"),
                "CCE's public (\"external\") kubeconfig context turns TLS verification off "
                "(insecure-skip-tls-verify); use network: private (the VPC address), or give "
                "a kubeconfig of your own as a secret");
        return -EINVAL;
    }
    cl->kube_access = true;
    return 0;
}

static const struct nh_field ha_etcd_fields[] = {
    {"endpoints", NH_T_CUSTOM, 0, .required = true, .custom = read_ha_endpoints},
    {"prefix", NH_T_CUSTOM, 0, .custom = read_ha_prefix, .def = "/nodeherd/"},
    {"lease_ttl", NH_T_DURATION, offsetof(struct nh_cfg_ha, lease_ttl_ms), .min = 2 SEC,
     .max = 5 MIN, .def = "15s"},
    {"poll_interval", NH_T_DURATION, offsetof(struct nh_cfg_ha, poll_interval_ms), .min = 100,
     .max = 1 MIN, .def = "1s"},
    {"timeout", NH_T_DURATION, offsetof(struct nh_cfg_ha, timeout_ms), .min = 100, .max = 30 SEC,
     .def = "2s"},
    {"username", NH_T_SECRET, offsetof(struct nh_cfg_ha, username), .required = false,
     .use = NH_USE_HA},
    {"password", NH_T_SECRET, offsetof(struct nh_cfg_ha, password), .required = false,
     .use = NH_USE_HA},
    {"ca_file", NH_T_ABSPATH, offsetof(struct nh_cfg_ha, ca_file), .required = false},
    {.key = NULL},
};

static const struct nh_field ha_fields[] = {
    {"name", NH_T_NAME, offsetof(struct nh_cfg_ha, name), .required = false},
    {"etcd", NH_T_SUB, 0, .required = true, .sub = ha_etcd_fields},
    {.key = NULL},
};

/* ha.etcd.<key> (at its place in et, else at et) must be at most half of
 * lease_ttl; risk says what goes wrong otherwise. */
static void ha_at_most_half_ttl(struct nh_pctx *c, const struct nh_ypair *et, const char *key,
                                uint64_t ms, uint64_t ttl_ms, const char *risk)
{
    char path[64], a[32], b[32];
    if (ms * 2 <= ttl_ms)
        return;
    const struct nh_ypair *at = nh_ymap_find(et->val, key);
    if (at == NULL)
        at = et;
    snprintf(path, sizeof(path), "ha.etcd.%s", key);
    nh_perr(c, at->line, at->col, path,
            "%s is more than half of lease_ttl %s; %s (make %s at most lease_ttl / 2)",
            nh_duration_format(ms, a, sizeof(a)), nh_duration_format(ttl_ms, b, sizeof(b)), risk,
            key);
}

/* ha: present turns high availability on; the cross-key rules follow the walk. */
static int read_ha(struct nh_pctx *c, const struct nh_ypair *kv, const char *path, void *base)
{
    struct nh_config *cfg = base;
    struct nh_cfg_ha *ha = &cfg->ha;
    char kp[160];
    ha->enabled = true;
    ha->line = kv->line;
    ha->col = kv->col;
    if (nh_schema_walk(c, kv->val, path, ha_fields, ha) != 0 || kv->val->type != NH_Y_MAP)
        return -EINVAL;
    const struct nh_ypair *et = nh_ymap_find(kv->val, "etcd");
    if (et == NULL || et->val->type != NH_Y_MAP)
        return 0;
    const struct nh_ypair *user = nh_ymap_find(et->val, "username"),
                          *pw = nh_ymap_find(et->val, "password");
    if ((user == NULL) != (pw == NULL)) {
        const struct nh_ypair *at = user ? user : pw;
        nh_perr(c, at->line, at->col, nh_key_path(kp, sizeof(kp), "ha.etcd", at->key),
                "give username and password together (etcd authentication), or neither");
    }
    ha_at_most_half_ttl(c, et, "poll_interval", ha->poll_interval_ms, ha->lease_ttl_ms,
                        "a follower would notice a lost leader too late");
    ha_at_most_half_ttl(c, et, "timeout", ha->timeout_ms, ha->lease_ttl_ms,
                        "a fence could outlive the lease");
    return 0;
}

static int stash_providers(struct nh_pctx *c, const struct nh_ypair *kv, const char *path,
                           void *base)
{
    c->providers = kv;
    return 0;
}

static int stash_clusters(struct nh_pctx *c, const struct nh_ypair *kv, const char *path,
                          void *base)
{
    c->clusters = kv;
    return 0;
}

static const struct nh_field top_fields[] = {
    {"revision", NH_T_STR, offsetof(struct nh_config, revision), .required = false},
    {"daemon", NH_T_SUB, offsetof(struct nh_config, daemon), .sub = daemon_fields},
    {"providers", NH_T_CUSTOM, 0, .required = true, .custom = stash_providers},
    {"clusters", NH_T_CUSTOM, 0, .required = true, .custom = stash_clusters},
    {"ha", NH_T_CUSTOM, 0, .custom = read_ha},
    {.key = NULL},
};

/* ---------- per-object checks ---------- */

static const struct nh_ypair *find(const struct nh_ynode *map, const char *key)
{
    return nh_ymap_find(map, key);
}

/* Reports min > max and value outside min..max at the offending key. */
static void check_bounds(struct nh_pctx *c, const struct nh_ynode *map, const char *path,
                         const char *vkey, int val, int min, int max)
{
    char kp[360];
    const struct nh_ypair *pmax = find(map, "max"), *pmin = find(map, "min");
    if (min > max) {
        const struct nh_ypair *at = pmax ? pmax : pmin;
        nh_perr(c, at ? at->line : map->line, at ? at->col : map->col,
                nh_key_path(kp, sizeof(kp), path, at == pmax ? "max" : "min"),
                "min %d is greater than max %d; min must be <= max", min, max);
        return;
    }
    const struct nh_ypair *pv = find(map, vkey);
    if (val >= 0 && pv != NULL && (val < min || val > max))
        nh_perr(c, pv->line, pv->col, nh_key_path(kp, sizeof(kp), path, vkey),
                "%d is outside min..max (%d..%d); change %s or the bounds", val, min, max, vkey);
}

static int read_pools(struct nh_pctx *c, const struct nh_ypair *kv, const char *path, void *base)
{
    struct nh_cfg_cluster *cl = base;
    const struct nh_ynode *v = kv->val;
    char ip[360], kp[400], q[64];
    if (v->type != NH_Y_SEQ) {
        nh_perr(c, kv->line, kv->col, path,
                "expected a list of node pools (write [] for none), got %s", nh_ytype_name(v));
        return -EINVAL;
    }
    cl->pools_declared = true;
    cl->pools = calloc(v->n ? v->n : 1, sizeof(*cl->pools));
    if (cl->pools == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < v->n; i++) {
        const struct nh_ynode *it = v->items[i];
        struct nh_cfg_pool *p = &cl->pools[cl->n_pools++];
        p->nodes = -1;
        p->max = -1;
        p->line = it->line;
        p->col = it->col;
        snprintf(ip, sizeof(ip), "%s[%zu]", path, i);
        if (nh_schema_walk(c, it, ip, pool_fields, p) != 0 || it->type != NH_Y_MAP)
            continue;
        if (p->max < 0)
            p->max = c->kind >= 0 ? nh_kind_get((enum nh_provider_kind)c->kind)->max_pool
                                  : NH_KIND_MAX_NODES;
        check_bounds(c, it, ip, "nodes", p->nodes, p->min, p->max);
        /* Pool names are unique within the cluster. */
        const struct nh_ypair *nm = find(it, "name");
        for (size_t j = 0; nm != NULL && p->name != NULL && j < i; j++) {
            const struct nh_ypair *other = find(v->items[j], "name");
            if (other && other->val->type == NH_Y_SCALAR && strcmp(other->val->str, p->name) == 0) {
                nh_perr(c, nm->line, nm->col, nh_key_path(kp, sizeof(kp), ip, "name"),
                        "duplicate node pool name %s (first at %d:%d)",
                        nh_quote(p->name, q, sizeof(q)), other->line, other->col);
                break;
            }
        }
    }
    return 0;
}

/* What only the cluster's Kubernetes API can tell (issues #19, #20):
 * labels, pods, and a drain done by nodeherd. With Kubernetes access (the
 * cluster's `kubernetes:` key) the default protect_labels applies, drain
 * defaults to true on every kind (nodeherd drains; the cloud's own drain is
 * off) and the default order is [unhealthy, emptiest, newest]. Without it
 * the default protect_labels is empty (the planner says labels are not
 * checked) and an explicit list is an error; `drain` defaults to what the
 * cloud does itself (ACK drain_node) and `drain: true` is an error where
 * nobody could drain; `emptiest` is an error (no pods can be counted).
 * Never silently protecting everything or nothing. */
static void check_kube_facts(struct nh_pctx *c, const struct nh_ynode *it, const char *path,
                             struct nh_cfg_cluster *cl, const struct nh_cfg_provider *prov)
{
    const struct nh_ypair *si = find(it, "scale_in");
    const struct nh_ypair *pl = NULL, *dr = NULL, *od = NULL;
    const struct nh_kind *k = prov != NULL ? nh_kind_get(prov->kind) : NULL;
    char kp[160];

    if (si != NULL && si->val->type == NH_Y_MAP) {
        pl = find(si->val, "protect_labels");
        dr = find(si->val, "drain");
        od = find(si->val, "order");
    }
    if (cl->kube_access && od == NULL) {
        cl->scale_in.order[0] = NH_ORDER_UNHEALTHY;
        cl->scale_in.order[1] = NH_ORDER_EMPTIEST;
        cl->scale_in.order[2] = NH_ORDER_NEWEST;
        cl->scale_in.n_order = 3;
    }
    if (k == NULL || cl->kube_access)
        return;
    snprintf(kp, sizeof(kp), "%s.scale_in", path);
    for (size_t i = 0; od != NULL && i < cl->scale_in.n_order; i++) {
        if (cl->scale_in.order[i] != NH_ORDER_EMPTIEST)
            continue;
        char op[200];
        nh_key_path(op, sizeof(op), kp, "order");
        nh_perr(c, od->line, od->col, op,
                "emptiest counts the pods each node runs, which only the cluster's Kubernetes "
                "API can tell; add `kubernetes:` to the cluster, or remove emptiest");
    }
    if (pl != NULL && !cl->scale_in.protect_labels_given)
        return; /* the list itself was wrong: said where it was read */
    if (pl != NULL && cl->scale_in.n_protect_labels > 0) {
        char lp[200];
        nh_key_path(lp, sizeof(lp), kp, "protect_labels");
        if (k->caps & NH_CAP_KUBE_API)
            nh_perr(c, pl->line, pl->col, lp,
                    "labels cannot be read: the cluster has no Kubernetes access (%s node lists "
                    "carry no Kubernetes labels); add `kubernetes:` to the cluster so labels can "
                    "be read, or protect by id/name with scale_in.protect",
                    k->cloud);
        else
            nh_perr(c, pl->line, pl->col, lp,
                    "labels cannot be read: %s nodes carry only the service's own labels and "
                    "have no Kubernetes API; protect by node name with scale_in.protect",
                    k->cloud);
    } else if (pl == NULL) {
        labels_free(cl->scale_in.protect_labels, cl->scale_in.n_protect_labels);
        cl->scale_in.protect_labels = NULL;
        cl->scale_in.n_protect_labels = 0;
    }
    if (k->caps & NH_CAP_CLOUD_DRAINS)
        return;
    if (dr == NULL) {
        cl->scale_in.drain = false;
    } else if (cl->scale_in.drain) {
        char dp[200];
        nh_key_path(dp, sizeof(dp), kp, "drain");
        nh_perr(c, dr->line, dr->col, dp,
                "%s cannot drain a node and the cluster has no Kubernetes access: a drain "
                "needs the cluster's Kubernetes API (`kubernetes:` on the cluster, issue #20: "
                "Kubernetes-aware scale-in); set drain: false to remove nodes without draining",
                k->cloud);
    }
}

/* Defaults that are lists or depend on the kind (the tables hold the rest). */
static int cluster_init(struct nh_cfg_cluster *cl)
{
    static char label[] = "nodeherd.io/protect=true";
    char *labels[] = {label};
    cl->workers = -1;
    cl->max = -1;
    cl->scale_in.order[0] = NH_ORDER_UNHEALTHY;
    cl->scale_in.order[1] = NH_ORDER_NEWEST;
    cl->scale_in.n_order = 2;
    return set_labels(&cl->scale_in, labels, 1);
}

static void read_cluster(struct nh_pctx *c, const struct nh_ynode *seq, size_t i,
                         struct nh_cfg_cluster *cl)
{
    const struct nh_ynode *it = seq->items[i];
    char path[64], kp[128], q[64];
    snprintf(path, sizeof(path), "clusters[%zu]", i);
    if (cluster_init(cl) < 0) {
        nh_perr(c, it->line, it->col, path, "out of memory");
        return;
    }
    cl->line = it->line;
    cl->col = it->col;

    /* The provider decides which keys and ranges apply: look it up first. */
    const struct nh_ypair *pp = find(it, "provider");
    const struct nh_cfg_provider *prov = NULL;
    if (pp != NULL && pp->val->type == NH_Y_SCALAR && pp->val->len > 0) {
        prov = nh_config_provider(c->cfg, pp->val->str);
        if (prov == NULL) {
            const char *names[256];
            size_t n = c->cfg->n_providers < 256 ? c->cfg->n_providers : 256;
            for (size_t j = 0; j < n; j++)
                names[j] = c->cfg->providers[j].name;
            const char *dym = nh_did_you_mean(pp->val->str, names, n);
            if (dym)
                nh_perr(c, pp->line, pp->col, nh_key_path(kp, sizeof(kp), path, "provider"),
                        "no provider named %s; did you mean \"%s\"?",
                        nh_quote(pp->val->str, q, sizeof(q)), dym);
            else
                nh_perr(c, pp->line, pp->col, nh_key_path(kp, sizeof(kp), path, "provider"),
                        "no provider named %s; define it under providers:",
                        nh_quote(pp->val->str, q, sizeof(q)));
        }
    }
    c->kind = prov ? (int)prov->kind : -1;
    cl->provider = prov;

    size_t errs = nh_schema_walk(c, it, path, cluster_fields, cl);
    if (it->type != NH_Y_MAP) {
        c->kind = -1;
        return;
    }
    cl->has_scale_out = find(it, "scale_out") != NULL && prov && prov->kind == NH_PROVIDER_ACK;
    cl->has_login = find(it, "login") != NULL && prov && prov->kind == NH_PROVIDER_CCE;
    if (cl->max < 0)
        cl->max = prov != NULL ? nh_kind_get(prov->kind)->max_workers : 0;
    if (prov != NULL && nh_kind_has(prov->kind, NH_CAP_LOOSE_WORKERS))
        check_bounds(c, it, path, "workers", cl->workers, cl->min, cl->max);

    const struct nh_ypair *pr = find(it, "prune");
    if (cl->prune && !cl->pools_declared && pr != NULL && find(it, "node_pools") == NULL)
        nh_perr(c, pr->line, pr->col, nh_key_path(kp, sizeof(kp), path, "prune"),
                "prune needs a node_pools list; an absent list would delete every pool");

    check_kube_facts(c, it, path, cl, prov);

    const struct nh_ypair *lg = find(it, "login");
    if (cl->has_login && lg->val->type == NH_Y_MAP) {
        bool key = cl->login.ssh_key != NULL, pw = find(lg->val, "password") != NULL;
        if (key == pw)
            nh_perr(c, lg->line, lg->col, nh_key_path(kp, sizeof(kp), path, "login"),
                    "give exactly one of ssh_key or password (with username, default root)");
        else if (key && find(lg->val, "username") != NULL)
            nh_perr(c, lg->line, lg->col, nh_key_path(kp, sizeof(kp), path, "login"),
                    "username goes with password, not with ssh_key; remove it");
    }

    /* Cluster names are unique. */
    const struct nh_ypair *nm = find(it, "name");
    for (size_t j = 0; nm != NULL && cl->name != NULL && j < i; j++) {
        const struct nh_ypair *other = find(seq->items[j], "name");
        if (other && other->val->type == NH_Y_SCALAR && strcmp(other->val->str, cl->name) == 0) {
            nh_perr(c, nm->line, nm->col, nh_key_path(kp, sizeof(kp), path, "name"),
                    "duplicate cluster name %s (first at %d:%d)", nh_quote(cl->name, q, sizeof(q)),
                    other->line, other->col);
            break;
        }
    }
    (void)errs;
    c->kind = -1;
}

static void read_provider(struct nh_pctx *c, const struct nh_ypair *kv, struct nh_cfg_provider *p)
{
    char path[128], kp[160];
    nh_key_path(path, sizeof(path), "providers", kv->key);
    p->line = kv->line;
    p->col = kv->col;
    p->name = strdup(kv->key);
    if (p->name == NULL) {
        nh_perr(c, kv->line, kv->col, path, "out of memory");
        return;
    }
    if (!nh_is_name(kv->key))
        nh_perr(c, kv->line, kv->col, path,
                "provider names are 1..63 letters, digits, \".\", \"_\" or \"-\"");
    const struct nh_ypair *k = find(kv->val, "kind");
    c->kind = -1;
    const struct nh_kind *kr =
        k && k->val->type == NH_Y_SCALAR ? nh_kind_by_name(k->val->str) : NULL;
    if (kr != NULL)
        c->kind = (int)kr->kind;
    nh_schema_walk(c, kv->val, path, provider_fields, p);

    const struct nh_ypair *cr = find(kv->val, "credentials");
    if (kr != NULL && (kr->caps & NH_CAP_TOKEN_AUTH) && cr != NULL && cr->val->type == NH_Y_MAP) {
        bool ak = find(cr->val, "ak") != NULL, sk = find(cr->val, "sk") != NULL,
             tok = find(cr->val, "token") != NULL;
        if (!((ak && sk && !tok) || (tok && !ak && !sk)))
            nh_perr(c, cr->line, cr->col, nh_key_path(kp, sizeof(kp), path, "credentials"),
                    "give ak and sk together, or token alone");
    }
    c->kind = -1;
}

/* ---------- life cycle ---------- */

static void scale_in_free(struct nh_cfg_scale_in *si)
{
    for (size_t i = 0; i < si->n_protect; i++)
        free(si->protect[i]);
    free(si->protect);
    labels_free(si->protect_labels, si->n_protect_labels);
}

static void cluster_free(struct nh_cfg_cluster *cl)
{
    free(cl->name);
    free(cl->provider_name);
    free(cl->id);
    free(cl->pool);
    free(cl->scale_out.instance_type);
    free(cl->scale_out.system_disk_category);
    nh_secret_free(cl->scale_out.login_password);
    scale_in_free(&cl->scale_in);
    for (size_t i = 0; i < cl->n_remove; i++)
        free(cl->remove[i]);
    free(cl->remove);
    free(cl->login.ssh_key);
    free(cl->login.username);
    nh_secret_free(cl->login.password);
    nh_secret_free(cl->kube.kubeconfig);
    for (size_t i = 0; i < cl->n_pools; i++) {
        free(cl->pools[i].name);
        free(cl->pools[i].id);
        free(cl->pools[i].flavor);
    }
    free(cl->pools);
}

static void config_free(struct nh_config *c)
{
    if (c == NULL)
        return;
    free(c->path);
    free(c->revision);
    free(c->daemon.state_dir);
    free(c->daemon.listen);
    for (size_t i = 0; i < c->daemon.n_listen_names; i++)
        free(c->daemon.listen_names[i]);
    free(c->daemon.listen_names);
    for (size_t i = 0; i < c->n_providers; i++) {
        struct nh_cfg_provider *p = &c->providers[i];
        free(p->name);
        free(p->region);
        free(p->endpoint);
        free(p->project_id);
        nh_secret_free(p->access_key_id);
        nh_secret_free(p->access_key_secret);
        nh_secret_free(p->token);
        free(p->ca_file);
    }
    free(c->providers);
    for (size_t i = 0; i < c->n_clusters; i++)
        cluster_free(&c->clusters[i]);
    free(c->clusters);
    free(c->ha.name);
    for (size_t i = 0; i < c->ha.n_endpoints; i++)
        free(c->ha.endpoints[i]);
    free(c->ha.endpoints);
    free(c->ha.prefix);
    nh_secret_free(c->ha.username);
    nh_secret_free(c->ha.password);
    free(c->ha.ca_file);
    free(c);
}

struct nh_config *nh_config_ref(struct nh_config *c)
{
    if (c != NULL)
        c->refs++;
    return c;
}

void nh_config_unref(struct nh_config *c)
{
    if (c == NULL || --c->refs > 0)
        return;
    config_free(c);
}

const struct nh_cfg_cluster *nh_config_cluster(const struct nh_config *c, const char *name)
{
    for (size_t i = 0; c != NULL && name != NULL && i < c->n_clusters; i++)
        if (c->clusters[i].name != NULL && strcmp(c->clusters[i].name, name) == 0)
            return &c->clusters[i];
    return NULL;
}

const struct nh_cfg_provider *nh_config_provider(const struct nh_config *c, const char *name)
{
    for (size_t i = 0; c != NULL && name != NULL && i < c->n_providers; i++)
        if (c->providers[i].name != NULL && strcmp(c->providers[i].name, name) == 0)
            return &c->providers[i];
    return NULL;
}

/* ---------- the cloud resource behind a declaration ---------- */

static int strcmp_null(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == NULL ? (b == NULL ? 0 : -1) : 1;
    return strcmp(a, b);
}

int nh_cfg_target_cmp(const struct nh_cfg_cluster *a, const struct nh_cfg_cluster *b)
{
    const struct nh_cfg_provider *pa = a->provider, *pb = b->provider;
    int r;

    if (pa == NULL || pb == NULL) {
        if (pa != NULL || pb != NULL)
            return pa == NULL ? -1 : 1;
        return a == b ? 0 : a < b ? -1 : 1; /* unresolved: equal to nothing else */
    }
    if (pa->kind != pb->kind)
        return pa->kind < pb->kind ? -1 : 1;
    /* Defensive: what could name one resource counts as one. ACK cluster
     * ids are unique (UUIDs), so neither the region nor the account (two
     * keys may belong to one account) is compared; the Huawei project id
     * names account and region together, and ModelArts pool names are
     * unique within a project. Endpoints are not compared: an override
     * reaches the same cloud. */
    if ((r = strcmp_null(pa->project_id, pb->project_id)) != 0)
        return r;
    if ((r = strcmp_null(a->id, b->id)) != 0)
        return r;
    return strcmp_null(a->pool, b->pool);
}

const char *nh_cfg_target_describe(const struct nh_cfg_cluster *c, char *buf, size_t len)
{
    const struct nh_cfg_provider *p = c->provider;
    char q[64], proj[80] = "";

    if (p == NULL) {
        snprintf(buf, len, "cluster %s", nh_quote(c->name ? c->name : "?", q, sizeof(q)));
        return buf;
    }
    if (p->project_id != NULL)
        snprintf(proj, sizeof(proj), "project %.40s, ", p->project_id);
    if (nh_kind_has(p->kind, NH_CAP_POOL_SCOPED))
        snprintf(buf, len, "the %s resource pool %.80s (%sregion %.40s)",
                 nh_provider_kind_name(p->kind), c->pool ? c->pool : "?", proj,
                 p->region ? p->region : "?");
    else
        snprintf(buf, len, "the %s cluster %.80s (%sregion %.40s)", nh_provider_kind_name(p->kind),
                 c->id ? c->id : "?", proj, p->region ? p->region : "?");
    return buf;
}

/* Appends to buf at *off (bounded; the text is cut, never overflowed). */
static void bcat(char *buf, size_t len, size_t *off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void bcat(char *buf, size_t len, size_t *off, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (*off >= len)
        return;
    va_start(ap, fmt);
    n = vsnprintf(buf + *off, len - *off, fmt, ap);
    va_end(ap);
    if (n > 0)
        *off = *off + (size_t)n < len ? *off + (size_t)n : len;
}

const char *nh_cfg_duplicate_message(const struct nh_cfg_decl *decl, size_t n, bool across_files,
                                     char *buf, size_t len)
{
    char what[256], q[64];
    size_t off = 0, shown = n < NH_CFG_DUP_LISTED ? n : NH_CFG_DUP_LISTED;

    if (len == 0)
        return buf;
    buf[0] = '\0';
    if (n == 0)
        return buf;
    nh_cfg_target_describe(decl[0].cluster, what, sizeof(what));
    bcat(buf, len, &off, "clusters[%zu]: %s is declared %zu times: ", decl[n > 1].index, what, n);
    for (size_t i = 0; i < shown; i++) {
        const struct nh_cfg_cluster *c = decl[i].cluster;
        bcat(buf, len, &off, "%s%s at %s:%d:%d", i ? ", " : "",
             nh_quote(c->name ? c->name : "?", q, sizeof(q)), decl[i].file ? decl[i].file : "-",
             c->line, c->col);
    }
    if (n > shown)
        bcat(buf, len, &off, " and %zu more", n - shown);
    if (across_files)
        bcat(buf, len, &off,
             "; declare each cloud cluster in one file only: two daemons would fight over it");
    else
        bcat(buf, len, &off,
             "; declare each cloud cluster once: two declarations would fight over it");
    return buf;
}

static int decl_cmp(const void *pa, const void *pb)
{
    const struct nh_cfg_decl *a = pa, *b = pb;
    int r = nh_cfg_target_cmp(a->cluster, b->cluster);
    if (r != 0)
        return r;
    return a->index < b->index ? -1 : a->index > b->index;
}

/* Two entries of this file that name one cloud resource: one error per
 * resource, at its second declaration, naming every declaration. */
static int check_duplicate_targets(struct nh_pctx *c)
{
    struct nh_config *cfg = c->cfg;
    struct nh_cfg_decl *v;
    size_t n = 0;

    if (cfg->n_clusters < 2)
        return 0;
    v = calloc(cfg->n_clusters, sizeof(*v));
    if (v == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < cfg->n_clusters; i++)
        if (cfg->clusters[i].provider != NULL)
            v[n++] =
                (struct nh_cfg_decl){.file = c->file, .cluster = &cfg->clusters[i], .index = i};
    qsort(v, n, sizeof(*v), decl_cmp);
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && nh_cfg_target_cmp(v[i].cluster, v[j].cluster) == 0)
            j++;
        if (j - i > 1) {
            char msg[2048];
            const struct nh_cfg_cluster *second = v[i + 1].cluster;
            nh_cfg_duplicate_message(&v[i], j - i, false, msg, sizeof(msg));
            nh_diag_add(c->d, NH_DIAG_ERROR, c->file, second->line, second->col, "%s", msg);
        }
        i = j;
    }
    free(v);
    return 0;
}

static int build(struct nh_pctx *c, const struct nh_ynode *root)
{
    struct nh_config *cfg = c->cfg;
    char q[64];
    if (root->type != NH_Y_MAP) {
        nh_perr(c, root->line, root->col, "",
                "expected a map at the top level (with providers: and clusters:), got %s",
                nh_ytype_name(root));
        return -EINVAL;
    }
    nh_schema_walk(c, root, "", top_fields, cfg);

    if (c->providers != NULL) {
        const struct nh_ypair *kv = c->providers;
        if (kv->val->type != NH_Y_MAP) {
            nh_perr(c, kv->line, kv->col, "providers",
                    "expected a map of provider name -> provider, got %s", nh_ytype_name(kv->val));
        } else {
            cfg->providers = calloc(kv->val->n ? kv->val->n : 1, sizeof(*cfg->providers));
            if (cfg->providers == NULL)
                return -ENOMEM;
            for (size_t i = 0; i < kv->val->n; i++) {
                const struct nh_ypair *pkv = &kv->val->pairs[i];
                const struct nh_ypair *first = nh_ymap_find(kv->val, pkv->key);
                char path[128];
                if (first != pkv) {
                    nh_perr(c, pkv->line, pkv->col,
                            nh_key_path(path, sizeof(path), "providers", pkv->key),
                            "duplicate provider %s (first at %d:%d)",
                            nh_quote(pkv->key, q, sizeof(q)), first->line, first->col);
                    continue;
                }
                read_provider(c, pkv, &cfg->providers[cfg->n_providers++]);
            }
        }
    }
    if (c->clusters != NULL) {
        const struct nh_ypair *kv = c->clusters;
        if (kv->val->type != NH_Y_SEQ) {
            nh_perr(c, kv->line, kv->col, "clusters",
                    "expected a list of clusters (write [] for none), got %s",
                    nh_ytype_name(kv->val));
        } else {
            cfg->clusters = calloc(kv->val->n ? kv->val->n : 1, sizeof(*cfg->clusters));
            if (cfg->clusters == NULL)
                return -ENOMEM;
            for (size_t i = 0; i < kv->val->n; i++)
                read_cluster(c, kv->val, i, &cfg->clusters[cfg->n_clusters++]);
            if (check_duplicate_targets(c) < 0)
                return -ENOMEM;
        }
    }
    return 0;
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

static int load(const char *name, const char *path, const char *data, size_t len,
                const struct nh_load_opts *opts, struct nh_config **ret, struct nh_diag *d)
{
    unsigned secrets = opts ? opts->secrets : NH_SECRETS_ALL;
    *ret = NULL;
    size_t before = d->n_errors;
    struct nh_ynode *root = NULL;
    int r = nh_yaml_parse(name, data, len, &root, d);
    if (r < 0) {
        nh_diag_sort(d);
        return r;
    }
    struct nh_config *cfg = calloc(1, sizeof(*cfg));
    char *base = dir_of(name);
    if (cfg == NULL || base == NULL) {
        free(cfg);
        free(base);
        nh_ynode_free(root);
        return -ENOMEM;
    }
    cfg->refs = 1;
    cfg->path = strdup(name);
    cfg->secrets = secrets;
    struct nh_pctx c = {
        .file = name, .base_dir = base, .d = d, .kind = -1, .cfg = cfg, .secrets = secrets};
    r = cfg->path ? build(&c, root) : -ENOMEM;
    nh_ynode_free(root);
    free(base);
    if (r == 0 && d->n_errors > before)
        r = -EINVAL;
    if (r == 0 && cfg->revision == NULL) {
        cfg->revision = nh_config_revision(path, data, len);
        if (cfg->revision == NULL)
            r = -ENOMEM;
    }
    nh_diag_sort(d);
    if (r < 0) {
        config_free(cfg);
        return r;
    }
    *ret = cfg;
    return 0;
}

int nh_config_load_buffer_with(const char *name, const char *data, size_t len,
                               const struct nh_load_opts *opts, struct nh_config **ret,
                               struct nh_diag *diag)
{
    return load(name ? name : "<buffer>", NULL, data, len, opts, ret, diag);
}

int nh_config_load_buffer(const char *name, const char *data, size_t len, struct nh_config **ret,
                          struct nh_diag *diag)
{
    return nh_config_load_buffer_with(name, data, len, NULL, ret, diag);
}

int nh_config_load_with(const char *path, const struct nh_load_opts *opts, struct nh_config **ret,
                        struct nh_diag *diag)
{
    char *data = NULL;
    size_t len = 0;
    *ret = NULL;
    int r = nh_yaml_read_file(path, &data, &len, diag);
    if (r < 0)
        return r;
    r = load(path, path, data, len, opts, ret, diag);
    free(data);
    return r;
}

int nh_config_load(const char *path, struct nh_config **ret, struct nh_diag *diag)
{
    return nh_config_load_with(path, NULL, ret, diag);
}
