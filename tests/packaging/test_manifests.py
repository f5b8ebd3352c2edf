#!/usr/bin/env python3
"""packaging.manifests: the Kubernetes example (contrib/kubernetes/) is a
working sidecar deployment, checked structurally after tests/support/yaml2json
turns the YAML into JSON (no PyYAML: standard library only).

    test_manifests.py YAML2JSON

Every container must have readiness and liveness probes on a port it
declares, CPU and memory requests and limits (requests <= limits), and a
non-root, read-only, no-privilege-escalation security context. git-sync must
gate nodeherd's start on its first clone (a native sidecar with a startup
probe, or a --one-time initial clone). nodeherd must
read its configuration through git-sync's atomic link on the shared volume,
get credentials from a Secret at $CREDENTIALS_DIRECTORY, keep state on a
persistent volume, be probed on /readyz and /healthz and be scraped. The
NetworkPolicy must allow nothing it does not name. The validator is also run
on deliberately broken copies, each of which it must reject.
"""

import copy
import json
import os
import re
import subprocess
import sys

SRC = os.environ.get("NH_SOURCE_DIR") or os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__))))
KDIR = os.path.join(SRC, "contrib", "kubernetes")


def load(yaml2json, path):
    r = subprocess.run([yaml2json, path], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit("FAIL: %s does not parse: %s" % (path, r.stderr.strip()))
    return json.loads(r.stdout)


def quantity(q, what):
    """Kubernetes quantity -> float (cores or bytes)."""
    m = re.fullmatch(r"([0-9.]+)(m|Ki|Mi|Gi|Ti|k|M|G|T)?", str(q))
    if not m:
        raise ValueError("%s: not a Kubernetes quantity: %r" % (what, q))
    mult = {None: 1, "m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40,
            "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}[m.group(2)]
    return float(m.group(1)) * mult


def port_of(container, port):
    ports = container.get("ports") or []
    for p in ports:
        if port == p.get("name") or port == p.get("containerPort"):
            return p.get("containerPort")
    return None


def check_container(c, pod_sc, problems):
    name = c.get("name", "?")
    for probe in ("readinessProbe", "livenessProbe"):
        p = c.get(probe)
        if not isinstance(p, dict):
            problems.append("container %s: no %s" % (name, probe))
            continue
        h = p.get("httpGet") or p.get("tcpSocket") or p.get("grpc")
        if not isinstance(h, dict) and "exec" not in p:
            problems.append("container %s: %s has no handler" % (name, probe))
            continue
        if isinstance(h, dict) and port_of(c, h.get("port")) is None:
            problems.append("container %s: %s port %r is not a declared container port"
                            % (name, probe, h.get("port")))
    res = c.get("resources") or {}
    for kind in ("requests", "limits"):
        for r in ("cpu", "memory"):
            if r not in (res.get(kind) or {}):
                problems.append("container %s: no resources.%s.%s" % (name, kind, r))
    for r in ("cpu", "memory"):
        try:
            req = quantity(res["requests"][r], name)
            lim = quantity(res["limits"][r], name)
            if req > lim:
                problems.append("container %s: %s request above its limit" % (name, r))
        except (KeyError, TypeError):
            pass
        except ValueError as e:
            problems.append(str(e))
    sc = c.get("securityContext") or {}
    merged = dict(pod_sc)
    merged.update(sc)
    if merged.get("runAsNonRoot") is not True:
        problems.append("container %s: runAsNonRoot is not true" % name)
    if merged.get("runAsUser") in (None, 0):
        problems.append("container %s: no non-zero runAsUser" % name)
    if sc.get("allowPrivilegeEscalation") is not False:
        problems.append("container %s: allowPrivilegeEscalation is not false" % name)
    if sc.get("readOnlyRootFilesystem") is not True:
        problems.append("container %s: readOnlyRootFilesystem is not true" % name)
    if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
        problems.append("container %s: capabilities do not drop ALL" % name)
    if (sc.get("capabilities") or {}).get("add"):
        problems.append("container %s: adds capabilities" % name)
    if sc.get("privileged"):
        problems.append("container %s: privileged" % name)


def arg_value(args, flag):
    for a in args:
        if a.startswith(flag + "="):
            return a[len(flag) + 1:]
    for i, a in enumerate(args[:-1]):
        if a == flag:
            return args[i + 1]
    return None


def mount_for(c, path):
    """(volume name, mountPath, readOnly) of the mount that holds path."""
    best = None
    for m in c.get("volumeMounts") or []:
        mp = m["mountPath"].rstrip("/")
        if path == mp or path.startswith(mp + "/"):
            if best is None or len(mp) > len(best[1]):
                best = (m["name"], mp, bool(m.get("readOnly")))
    return best


def validate(docs):
    problems = []
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d.get("kind"), []).append(d)
    deps = by_kind.get("Deployment", [])
    if len(deps) != 1:
        return ["expected exactly one Deployment, found %d" % len(deps)]
    dep = deps[0]
    spec = dep["spec"]
    if spec.get("replicas") != 1:
        problems.append("Deployment: replicas must be 1 (two daemons would fight)")
    if (spec.get("strategy") or {}).get("type") != "Recreate":
        problems.append("Deployment: strategy must be Recreate (no overlap during rollout)")
    tpl = spec["template"]
    labels = tpl["metadata"].get("labels") or {}
    if (spec.get("selector") or {}).get("matchLabels") != labels:
        problems.append("Deployment: selector does not match the template labels")
    pod = tpl["spec"]
    pod_sc = pod.get("securityContext") or {}
    containers = pod.get("containers") or []
    inits = pod.get("initContainers") or []
    names = [c.get("name") for c in containers]
    init_names = [c.get("name") for c in inits]
    if "nodeherd" not in names or "git-sync" not in names + init_names:
        return problems + ["Deployment: needs containers nodeherd and git-sync, has %s" % (
            names + init_names)]
    for c in containers:
        check_container(c, pod_sc, problems)
    for c in inits:
        if c.get("restartPolicy") == "Always":  # a sidecar: probed like any container
            check_container(c, pod_sc, problems)
    vols = {v["name"]: v for v in pod.get("volumes") or []}
    nh = containers[names.index("nodeherd")]
    gs = (containers + inits)[(names + init_names).index("git-sync")]

    # nodeherd must not start before the first clone (it exits 2 on a missing
    # file and would crash-loop): git-sync is a native sidecar whose startup
    # probe (git-sync's /, 5xx until the first sync) gates the containers, or
    # an init container clones once (--one-time) into the same volume first.
    sidecar = gs in inits and gs.get("restartPolicy") == "Always"
    if sidecar:
        sp = gs.get("startupProbe") or {}
        h = sp.get("httpGet") or {}
        if h.get("path") != "/" or port_of(gs, h.get("port")) is None:
            problems.append("git-sync sidecar: no startupProbe on GET / of its --http-bind port "
                            "(nodeherd would start before the first clone)")
        elif "--http-bind" not in " ".join(gs.get("args") or []):
            problems.append("git-sync sidecar: startupProbe without --http-bind")
    else:
        one_time = [c for c in inits if c.get("restartPolicy") != "Always" and
                    "--one-time" in (c.get("args") or [])]
        if gs in inits or not one_time:
            problems.append("git-sync: neither a native sidecar (initContainers, restartPolicy: "
                            "Always, startupProbe) nor preceded by a --one-time initial clone; "
                            "nodeherd would crash-loop until the first clone")

    # probes on the daemon's health endpoints, scraping where it listens
    if ((nh.get("readinessProbe") or {}).get("httpGet") or {}).get("path") != "/readyz":
        problems.append("nodeherd: readiness probe is not GET /readyz")
    if ((nh.get("livenessProbe") or {}).get("httpGet") or {}).get("path") != "/healthz":
        problems.append("nodeherd: liveness probe is not GET /healthz")
    ann = tpl["metadata"].get("annotations") or {}
    if ann.get("prometheus.io/scrape") != "true":
        problems.append("pod: no prometheus.io/scrape: \"true\" annotation (a string)")
    if port_of(nh, int(ann.get("prometheus.io/port", "0") or 0)) is None:
        problems.append("pod: prometheus.io/port is not a nodeherd container port")
    if ann.get("prometheus.io/path") not in (None, "/metrics"):
        problems.append("pod: prometheus.io/path is not /metrics")

    # configuration through git-sync's link on a shared volume
    args = nh.get("args") or []
    gargs = gs.get("args") or []
    cfg = arg_value(args, "--config") or arg_value(args, "-c")
    if "run" not in args:
        problems.append("nodeherd: args do not run the daemon (`run`)")
    g_root, g_link = arg_value(gargs, "--root"), arg_value(gargs, "--link")
    if not cfg or not g_root or not g_link:
        problems.append("nodeherd --config / git-sync --root and --link: missing")
    else:
        link = g_link if g_link.startswith("/") else g_root.rstrip("/") + "/" + g_link
        if not cfg.startswith(link + "/"):
            problems.append("nodeherd --config %s is not under git-sync's link %s (the "
                            "atomic swap the reload watches)" % (cfg, link))
        m_nh, m_gs = mount_for(nh, cfg), mount_for(gs, g_root)
        if not m_nh or not m_gs or m_nh[0] != m_gs[0]:
            problems.append("nodeherd's --config and git-sync's --root are not on one volume")
        elif not m_nh[2]:
            problems.append("nodeherd mounts the git volume writable; make it readOnly")
    env = {e["name"]: e.get("value") for e in nh.get("env") or []}
    cred = env.get("CREDENTIALS_DIRECTORY")
    m = mount_for(nh, cred) if cred else None
    if not m or "secret" not in vols.get(m[0], {}) or m[1] != cred.rstrip("/"):
        problems.append("nodeherd: $CREDENTIALS_DIRECTORY is not a mounted Secret")
    elif (vols[m[0]]["secret"].get("defaultMode", 0o644) & 0o007) != 0:
        problems.append("nodeherd: the credentials Secret is world-readable (defaultMode)")
    state = env.get("STATE_DIRECTORY")
    m = mount_for(nh, state) if state else None
    if not m or "persistentVolumeClaim" not in vols.get(m[0], {}):
        problems.append("nodeherd: $STATE_DIRECTORY is not on a PersistentVolumeClaim")
    else:
        claim = vols[m[0]]["persistentVolumeClaim"]["claimName"]
        if not any(p["metadata"]["name"] == claim
                   for p in by_kind.get("PersistentVolumeClaim", [])):
            problems.append("nodeherd: PersistentVolumeClaim %s is not defined" % claim)
    if pod.get("automountServiceAccountToken") is not False:
        problems.append("pod: automountServiceAccountToken should be false")

    # network policy: selects this pod, both directions, nothing unnamed
    nps = by_kind.get("NetworkPolicy", [])
    if not nps:
        problems.append("no NetworkPolicy")
    for np in nps:
        s = np["spec"]
        sel = (s.get("podSelector") or {}).get("matchLabels") or {}
        if not sel or any(labels.get(k) != v for k, v in sel.items()):
            problems.append("NetworkPolicy %s: does not select the nodeherd pod"
                            % np["metadata"]["name"])
        if sorted(s.get("policyTypes") or []) != ["Egress", "Ingress"]:
            problems.append("NetworkPolicy: policyTypes must be Ingress and Egress")
        for rule in s.get("egress") or []:
            if not rule.get("to") or not rule.get("ports"):
                problems.append("NetworkPolicy: an egress rule without `to` or `ports` "
                                "allows everything")
            for t in rule.get("to") or []:
                cidr = (t.get("ipBlock") or {}).get("cidr", "")
                if cidr.endswith("/0"):
                    problems.append("NetworkPolicy: egress to %s" % cidr)
            for p in rule.get("ports") or []:
                if p.get("port") not in (53, 443, 22):
                    problems.append("NetworkPolicy: unexpected egress port %r" % p.get("port"))
        for rule in s.get("ingress") or []:
            if not rule.get("from"):
                problems.append("NetworkPolicy: an ingress rule without `from`")
            if [p.get("port") for p in rule.get("ports") or []] != [9464]:
                problems.append("NetworkPolicy: ingress beyond the metrics port")
    return problems


def main():
    if len(sys.argv) != 2:
        raise SystemExit("usage: test_manifests.py YAML2JSON")
    y2j = sys.argv[1]
    kust = load(y2j, os.path.join(KDIR, "kustomization.yaml"))[0]
    docs = []
    for res in kust["resources"]:
        p = os.path.join(KDIR, res)
        if not os.path.exists(p):
            raise SystemExit("FAIL: kustomization.yaml lists %s, which does not exist" % res)
        docs += [d for d in load(y2j, p) if d is not None]
    for d in docs:
        ns = d["metadata"].get("namespace")
        if d["kind"] not in ("Namespace",) and ns != kust.get("namespace"):
            raise SystemExit("FAIL: %s %s is not in namespace %s" % (
                d["kind"], d["metadata"]["name"], kust.get("namespace")))
    # every file parses, including those kept out of the kustomization
    extra = {}
    for f in sorted(os.listdir(KDIR)):
        if f.endswith(".yaml"):
            extra[f] = load(y2j, os.path.join(KDIR, f))
    secret = [d for d in extra["secret.example.yaml"] if d and d["kind"] == "Secret"][0]
    problems = validate(docs)
    dep = [d for d in docs if d["kind"] == "Deployment"][0]
    vols = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}
    secret_names = [v["secret"]["secretName"] for v in vols.values() if "secret" in v]
    if secret["metadata"]["name"] not in secret_names:
        problems.append("secret.example.yaml's Secret is not the one the Deployment mounts")
    if problems:
        print("FAIL: contrib/kubernetes:\n  " + "\n  ".join(problems))
        return 1
    ps = dep["spec"]["template"]["spec"]
    print("ok: %d manifests; init containers %s, containers %s: probes, limits, non-root "
          "read-only security contexts; nodeherd starts after git-sync's first clone; config via "
          "git-sync link, Secret credentials, PVC state, NetworkPolicy"
          % (len(docs), [c["name"] for c in ps.get("initContainers", [])],
             [c["name"] for c in ps["containers"]]))

    # The validator must reject each of these breakages.
    def broken(mutate):
        d = copy.deepcopy(docs)
        mutate(d)
        return validate(d)

    def cont(d, name):
        ps = [x for x in d if x["kind"] == "Deployment"][0]["spec"]["template"]["spec"]
        return [c for c in ps["containers"] + ps.get("initContainers", [])
                if c["name"] == name][0]

    def gs_as_plain_container(d):
        ps = pod(d)["spec"]
        gs = cont(d, "git-sync")
        ps["initContainers"].remove(gs)
        gs.pop("restartPolicy")
        ps["containers"].append(gs)

    def pod(d):
        return [x for x in d if x["kind"] == "Deployment"][0]["spec"]["template"]

    cases = {
        "git-sync without liveness probe": lambda d: cont(d, "git-sync").pop("livenessProbe"),
        "nodeherd without limits": lambda d: cont(d, "nodeherd")["resources"].pop("limits"),
        "nodeherd as root": lambda d: (cont(d, "nodeherd")["securityContext"].update(
            runAsUser=0, runAsNonRoot=False), pod(d)["spec"]["securityContext"].update(
            runAsUser=0, runAsNonRoot=False)),
        "writable root fs": lambda d: cont(d, "git-sync")["securityContext"].update(
            readOnlyRootFilesystem=False),
        "readiness on /healthz": lambda d: cont(d, "nodeherd")["readinessProbe"][
            "httpGet"].update(path="/healthz"),
        "config outside the link": lambda d: cont(d, "nodeherd").update(
            args=["--config=/git/fleet.yaml", "run"]),
        "two replicas": lambda d: [x for x in d if x["kind"] == "Deployment"][0][
            "spec"].update(replicas=2),
        "egress to anywhere": lambda d: [x for x in d if x["kind"] == "NetworkPolicy"][0][
            "spec"]["egress"].append({"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}],
                                      "ports": [{"port": 443}]}),
        "no scrape annotation": lambda d: pod(d)["metadata"]["annotations"].pop(
            "prometheus.io/scrape"),
        "git-sync sidecar without a startup probe": lambda d: cont(d, "git-sync").pop(
            "startupProbe"),
        "git-sync as a plain container (crash loop until the clone)": gs_as_plain_container,
        "git-sync as an init container that never ends": lambda d: cont(d, "git-sync").pop(
            "restartPolicy"),
    }
    for what, mutate in cases.items():
        if not broken(mutate):
            print("FAIL: the validator accepted a broken manifest: %s" % what)
            return 1
    print("ok: the validator rejects %d deliberately broken variants" % len(cases))

    # ...and accepts the README's layout for clusters older than 1.29: a
    # one-time clone as an init container, git-sync as a plain container.
    def initial_clone(d):
        gs_as_plain_container(d)
        gs = cont(d, "git-sync")
        clone = copy.deepcopy(gs)
        clone["name"] = "git-clone"
        clone["args"] = [a for a in gs["args"] if not a.startswith(("--period", "--http-bind",
                                                                    "--max-failures"))]
        clone["args"].append("--one-time")
        for k in ("ports", "readinessProbe", "livenessProbe", "startupProbe"):
            clone.pop(k, None)
            gs.pop("startupProbe", None)
        pod(d)["spec"]["initContainers"] = [clone]

    got = broken(initial_clone)
    if got:
        print("FAIL: the validator refused the README's initial-clone layout:\n  " +
              "\n  ".join(got))
        return 1
    print("ok: the validator accepts the initial-clone layout (clusters before 1.29)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
