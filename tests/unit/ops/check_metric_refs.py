#!/usr/bin/env python3
"""check_metric_refs.py - the Grafana dashboard and the Prometheus alerts use
only metrics (and labels) that nodeherd exports, as listed in
contrib/prometheus/exported-metrics.txt; names follow Prometheus naming
(a plural base-unit suffix, _total on counters); they cover what operators
need; no alert aggregates over every daemon a Prometheus scrapes (each
aggregation keeps `instance` or `fleet`); and `promtool check rules` accepts
the alerts and `promtool test rules` runs contrib/prometheus/alerts.test.yaml
when promtool is installed ($PROMTOOL names one outside $PATH).
Prints 'N passed, N failed'."""
import json
import os
import re
import shutil
import subprocess

from checklib import SRC, check, done

LIST = os.path.join(SRC, "contrib", "prometheus", "exported-metrics.txt")
ALERTS = os.path.join(SRC, "contrib", "prometheus", "alerts.yaml")
DASH = os.path.join(SRC, "contrib", "grafana", "nodeherd.json")


def load_list(path):
    metrics = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split()
            ok = (2 <= len(parts) <= 3 and re.fullmatch(r"nodeherd_[a-z0-9_]+", parts[0])
                  and parts[1] in ("counter", "gauge", "histogram")
                  and (parts[1] != "counter" or parts[0].endswith("_total"))
                  and parts[0] not in metrics)
            check(bool(ok), "%s:%d: well-formed entry %s" % (os.path.basename(path), n, parts[0]))
            labels = set(parts[2].split(",")) if len(parts) == 3 else set()
            metrics[parts[0]] = (parts[1], labels)
    return metrics


def resolve(metrics, name):
    """(base, labels allowed) for an exported series name, or None."""
    if name in metrics:
        return name, metrics[name][1]
    for sfx in ("_bucket", "_sum", "_count"):
        base = name[: -len(sfx)]
        if name.endswith(sfx) and metrics.get(base, ("",))[0] == "histogram":
            return base, metrics[base][1] | ({"le"} if sfx == "_bucket" else set())
    return None


# Labels Prometheus adds to every series it scrapes.
TARGET_LABELS = {"instance", "job"}


def problems(metrics, expr):
    """Unknown metric names, and selector labels a metric does not have."""
    out = []
    for name in re.findall(r"\bnodeherd_[A-Za-z0-9_:]+", expr):
        if resolve(metrics, name) is None:
            out.append("unknown metric " + name)
    for name, sel in re.findall(r"\b(nodeherd_[A-Za-z0-9_:]+)\{([^}]*)\}", expr):
        r = resolve(metrics, name)
        if r is None:
            continue
        for label in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)", sel):
            if label not in r[1] | TARGET_LABELS:
                out.append("%s has no label %s" % (name, label))
    return out


def walk_strings(node, keys, acc):
    if isinstance(node, dict):
        for k, v in node.items():
            if k in keys and isinstance(v, str):
                acc.append(v)
            walk_strings(v, keys, acc)
    elif isinstance(node, list):
        for v in node:
            walk_strings(v, keys, acc)
    return acc


def unscoped_aggregations(expr):
    """Aggregations in a PromQL expression that drop both `instance` and
    `fleet`, i.e. that add up every daemon one Prometheus scrapes."""
    out = []
    for m in re.finditer(r"\b(sum|min|max|avg|count|topk|bottomk|quantile)\s*"
                         r"(?:(by|without)\s*\(([^)]*)\))?\s*\(", expr):
        how, labels = m.group(2), {x.strip() for x in (m.group(3) or "").split(",")}
        if how == "by" and labels & {"instance", "fleet"}:
            continue
        if how == "without" and not labels & {"instance", "fleet"}:
            continue
        out.append(m.group(0).strip())
    return out


# Prometheus naming (https://prometheus.io/docs/practices/naming/): a unit
# suffix in plural base units; these are the units nodeherd's metrics use.
# Counts of things (nodes, clusters, jobs) and 0/1 states need none.
UNITLESS = {"nodeherd_build_info", "nodeherd_clusters", "nodeherd_desired_nodes",
            "nodeherd_observed_nodes", "nodeherd_nodes", "nodeherd_cluster_converged",
            "nodeherd_cluster_blocked", "nodeherd_jobs_in_flight", "nodeherd_config_last_reload_successful",
            "nodeherd_leader", "nodeherd_journal_healthy", "nodeherd_kube_reachable",
            "nodeherd_kube_held_nodes", "nodeherd_drains_in_progress", "nodeherd_drain_pods_left"}
UNITS = ("_seconds", "_requests_per_second")

metrics = load_list(LIST)
check(len(metrics) == 26, "exported-metrics.txt lists the 26 metrics (%d)" % len(metrics))
for name, (typ, _) in sorted(metrics.items()):
    base = name[: -len("_total")] if typ == "counter" else name
    check(typ == "counter" or name in UNITLESS or base.endswith(UNITS),
          "%s names its unit (%s) or counts things" % (name, "|".join(UNITS)))

check(unscoped_aggregations("sum(nodeherd_leader) > 1") == ["sum("] and
      unscoped_aggregations("sum by (fleet) (x) + max by (instance, cluster) (y)") == [] and
      unscoped_aggregations("max by (cluster) (x)") == ["max by (cluster) ("],
      "checker catches an aggregation over every daemon")

# The checker must catch what it is there for.
check(problems(metrics, "rate(nodeherd_bogus_total[5m])") == ["unknown metric nodeherd_bogus_total"],
      "checker catches an unknown metric")
check(problems(metrics, 'nodeherd_leader{cluster="x"}') == ["nodeherd_leader has no label cluster"],
      "checker catches an unknown label")
check(problems(metrics, 'nodeherd_ratelimit_wait_seconds_bucket{le="1"}') == []
      and problems(metrics, "nodeherd_clusters_bucket") != [],
      "checker knows histogram suffixes, and only for histograms")

# ---- the dashboard ----
with open(DASH, encoding="utf-8") as f:
    dash = json.load(f)
exprs = walk_strings(dash, {"expr", "definition"}, [])
check(len(exprs) >= 20, "dashboard has queries (%d)" % len(exprs))
for e in exprs:
    p = problems(metrics, e)
    check(not p, "dashboard: " + e[:90], "; ".join(p))
ids = []
for p in dash["panels"]:
    ids.append(p["id"])
    g = p["gridPos"]
    check(0 <= g["x"] and g["x"] + g["w"] <= 24 and g["h"] > 0,
          "panel %r fits the 24-column grid" % p["title"])
    if p["type"] != "row":
        check(bool(p.get("targets")) and p.get("datasource", {}).get("uid") == "${datasource}",
              "panel %r has queries on the ${datasource} variable" % p["title"])
check(len(ids) == len(set(ids)), "panel ids are unique")
used = " ".join(exprs)
for area, metric in [("convergence", "nodeherd_cluster_converged"),
                     ("declared vs observed", "nodeherd_observed_nodes"),
                     ("nodes by state (ready, not ready, ...)", "nodeherd_nodes"),
                     ("actions", "nodeherd_actions_total"),
                     ("API latency", "nodeherd_api_request_duration_seconds_bucket"),
                     ("throttling", "nodeherd_throttled_total"),
                     ("jobs in flight", "nodeherd_jobs_in_flight"),
                     ("reloads", "nodeherd_config_reloads_total"),
                     ("leadership", "nodeherd_leader")]:
    check(metric in used, "dashboard shows %s (%s)" % (area, metric))

# ---- the alerts (no YAML parser in the stdlib: rules are read by layout) ----
with open(ALERTS, encoding="utf-8") as f:
    text = f.read()
rules = re.split(r"^\s*- alert:\s*", text, flags=re.M)[1:]
check(len(rules) >= 5, "alerts.yaml has rules (%d)" % len(rules))
names = {}
for r in rules:
    name = r.split("\n", 1)[0].strip()
    names[name] = r
    check(re.search(r"^\s+expr:", r, re.M) is not None and
          re.search(r"^\s+for:\s*\d+[smh]", r, re.M) is not None and
          re.search(r"^\s+severity:\s*(warning|critical)\s*$", r, re.M) is not None and
          re.search(r"^\s+summary:", r, re.M) is not None,
          "alert %s has expr, for, severity and summary" % name)
    p = problems(metrics, r)
    check(not p, "alert %s uses exported metrics and labels only" % name, "; ".join(p))
    m = re.search(r"^\s+expr:\s*(\|\n((?:\s{10,}.*\n)+)|(.*))", r, re.M)
    expr = (m.group(2) or m.group(3) or "") if m else ""
    u = unscoped_aggregations(expr)
    check(not u, "alert %s keeps instance or fleet in every aggregation" % name, "; ".join(u))
for what, metric in [("not converging", "nodeherd_cluster_converged"),
                     ("job stuck", "nodeherd_job_oldest_age_seconds"),
                     ("throttled for long", "nodeherd_throttled_total"),
                     ("config reload failing", "nodeherd_config_last_reload_successful"),
                     ("no leader", "nodeherd_leader")]:
    check(any(re.search(r"expr:.*\b%s\b" % metric, r) or
              re.search(r"expr: \|\n(\s+.*\n)*?.*\b%s\b" % metric, r) for r in rules),
          "an alert covers %s (%s)" % (what, metric))

tool = os.environ.get("PROMTOOL") or shutil.which("promtool")
if tool:
    res = subprocess.run([tool, "check", "rules", ALERTS], capture_output=True, text=True,
                         timeout=60)
    check(res.returncode == 0, "promtool check rules alerts.yaml", res.stdout + res.stderr)
    res = subprocess.run([tool, "test", "rules", "alerts.test.yaml"], capture_output=True,
                         text=True, timeout=60, cwd=os.path.dirname(ALERTS))
    check(res.returncode == 0, "promtool test rules alerts.test.yaml (alerts fire when meant)",
          res.stdout + res.stderr)
else:
    print("SKIP promtool is not installed (apt-get install prometheus); "
          "alerts.yaml not checked by promtool")

done()
