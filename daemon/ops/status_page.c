/* status_page.c - the status page served at GET /: one self-contained HTML
 * document (no external assets) whose small inline script fetches
 * api/v1/status every 3 s and renders it with textContent only (never
 * innerHTML), so nothing in the status document can become markup.
 *
 * The page is kept as arrays of lines because -Wpedantic limits one string
 * literal to 4095 characters. The Content-Security-Policy allows exactly this
 * script by its SHA-256 (of the text between <script> and </script>):
 * after editing page_script, update NH_STATUS_PAGE_SCRIPT_SHA256 to the
 * value unit.ops_httpd prints when they differ. */
#include "status_page.h"

#define NH_STATUS_PAGE_SCRIPT_SHA256 "ujlSunyiuoN2BBIVAky1DarE/tS2CEXkL/kF7vBEEeY="

const char nh_status_page_csp[] =
    "default-src 'none'; script-src 'sha256-" NH_STATUS_PAGE_SCRIPT_SHA256 "'; "
    "style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'";

static const char *const page_head[] = {
    "<!doctype html>",
    "<html lang=\"en\">",
    "<head>",
    "<meta charset=\"utf-8\">",
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
    "<meta name=\"referrer\" content=\"no-referrer\">",
    "<link rel=\"icon\" href=\"data:,\">",
    "<title>nodeherd status</title>",
    "<style>",
    ":root { --bg: #f6f7f9; --fg: #1d2330; --muted: #5b6474; --card: #fff; --line: #dde1e8;",
    "  --ok: #1a7f37; --warn: #9a6700; --bad: #cf222e; --info: #0969da; }",
    "@media (prefers-color-scheme: dark) {",
    "  :root { --bg: #0f1216; --fg: #e6e9ee; --muted: #9aa4b2; --card: #171b21; --line: #2b313a;",
    "    --ok: #3fb950; --warn: #d29922; --bad: #f85149; --info: #58a6ff; } }",
    "* { box-sizing: border-box; }",
    "[hidden] { display: none !important; }",
    "body { margin: 0; font: 15px/1.45 system-ui, -apple-system, \"Segoe UI\", sans-serif;",
    "  background: var(--bg); color: var(--fg); }",
    "header { padding: 12px 16px; border-bottom: 1px solid var(--line); background: var(--card);",
    "  display: flex; flex-wrap: wrap; gap: 6px 16px; align-items: baseline; }",
    "header h1 { font-size: 18px; margin: 0 8px 0 0; }",
    "main { padding: 12px 16px; max-width: 1200px; margin: 0 auto; }",
    ".meta { color: var(--muted); font-size: 13px; }",
    ".badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px;",
    "  font-weight: 600; border: 1px solid currentColor; }",
    ".s-converged, .s-done, .s-leader, .s-single, .s-ready { color: var(--ok); }",
    ".s-converging, .s-waiting, .s-follower, .s-sent, .s-running, .s-issued { color: var(--info); }",
    ".s-blocked, .s-refused, .s-unknown, .s-timed_out, .s-stale { color: var(--warn); }",
    ".s-failing, .s-failed, .s-error, .s-notready { color: var(--bad); }",
    ".card { background: var(--card); border: 1px solid var(--line); border-radius: 8px;",
    "  padding: 12px 14px; margin: 0 0 14px; }",
    ".card h2 { font-size: 17px; margin: 0 8px 0 0; display: inline; }",
    ".card h3 { font-size: 14px; margin: 14px 0 6px; color: var(--muted); text-transform: uppercase;",
    "  letter-spacing: .04em; }",
    ".err { color: var(--bad); margin: 6px 0; word-break: break-word; }",
    "#banner { display: none; margin: 0 0 12px; padding: 8px 12px; border-radius: 6px;",
    "  border: 1px solid var(--bad); color: var(--bad); background: var(--card); }",
    "table { border-collapse: collapse; width: 100%; font-size: 14px; }",
    "th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line);",
    "  vertical-align: top; word-break: break-word; }",
    "th { color: var(--muted); font-weight: 600; }",
    "td.num { font-variant-numeric: tabular-nums; }",
    ".diff { color: var(--warn); font-weight: 600; }",
    "ul.notes { margin: 0; padding-left: 18px; }",
    "ul.notes li { margin: 4px 0; }",
    ".fix { color: var(--muted); }",
    "progress { width: 80px; vertical-align: middle; }",
    ".empty { color: var(--muted); font-style: italic; }",
    "@media (max-width: 640px) {",
    "  header { padding: 10px 12px; }",
    "  main { padding: 10px 8px; }",
    "  table, thead, tbody, tr, th, td { display: block; }",
    "  thead { display: none; }",
    "  tr { border: 1px solid var(--line); border-radius: 6px; margin: 0 0 8px; padding: 4px 0; }",
    "  td { border: 0; padding: 2px 10px; }",
    "  td::before { content: attr(data-label) \": \"; color: var(--muted); font-weight: 600; }",
    "}",
    "</style>",
    "</head>",
    "<body>",
    "<header>",
    "<h1>nodeherd</h1>",
    "<span id=\"role\" class=\"badge\">loading</span>",
    "<span id=\"ready\" class=\"badge\" hidden></span>",
    "<span id=\"dry\" class=\"badge s-waiting\" hidden>dry run</span>",
    "<span id=\"meta\" class=\"meta\"></span>",
    "</header>",
    "<main>",
    "<noscript><div class=\"card\">This page needs JavaScript to read",
    "<a href=\"api/v1/status\">/api/v1/status</a> every few seconds. The same data is",
    "available there as JSON, and the Prometheus metrics at <a href=\"metrics\">/metrics</a>.</div></noscript>",
    "<div id=\"banner\" role=\"alert\"></div>",
    "<div id=\"clusters\"></div>",
    "</main>",
};

/* Everything between <script> and </script>: a newline, then each line
 * followed by a newline. */
static const char *const page_script[] = {
    "(function () {",
    "  'use strict';",
    "  var PERIOD_MS = 3000;",
    "  var STATES = ['converged', 'converging', 'failing', 'blocked', 'waiting', 'sent', 'running',",
    "    'done', 'failed', 'unknown', 'timed_out', 'issued', 'refused', 'single', 'leader',",
    "    'follower'];",
    "  var last = null;",
    "",
    "  function $(id) { return document.getElementById(id); }",
    "  function txt(v) { return v === null || v === undefined ? '' : String(v); }",
    "  function el(tag, cls, text) {",
    "    var e = document.createElement(tag);",
    "    if (cls) e.className = cls;",
    "    if (text !== undefined) e.textContent = txt(text);",
    "    return e;",
    "  }",
    "  /* class names only from a fixed list, never from the document */",
    "  function stateBadge(s) {",
    "    var b = el('span', 'badge', s);",
    "    if (STATES.indexOf(s) >= 0) b.className = 'badge s-' + s;",
    "    return b;",
    "  }",
    "  function dur(s) {",
    "    s = Math.max(0, Math.round(Number(s) || 0));",
    "    if (s < 60) return s + 's';",
    "    if (s < 3600) return Math.floor(s / 60) + 'm ' + (s % 60) + 's';",
    "    if (s < 86400) return Math.floor(s / 3600) + 'h ' + Math.floor(s % 3600 / 60) + 'm';",
    "    return Math.floor(s / 86400) + 'd ' + Math.floor(s % 86400 / 3600) + 'h';",
    "  }",
    "  function ago(now, t) { return t ? dur(now - t) + ' ago' : 'never'; }",
    "  function when(t) { return t ? new Date(t * 1000).toLocaleString() : ''; }",
    "  function pool(p) { return p === null || p === undefined || p === '' ? '(workers)' : p; }",
    "  function table(heads, rows, numeric) {",
    "    var t = el('table'), thead = el('thead'), tr = el('tr'), tb = el('tbody');",
    "    heads.forEach(function (h) { tr.appendChild(el('th', null, h)); });",
    "    thead.appendChild(tr);",
    "    t.appendChild(thead);",
    "    rows.forEach(function (r) {",
    "      var row = el('tr');",
    "      r.forEach(function (c, i) {",
    "        var td = el('td', numeric && numeric.indexOf(i) >= 0 ? 'num' : null);",
    "        td.setAttribute('data-label', heads[i]);",
    "        if (c instanceof Node) td.appendChild(c); else td.textContent = txt(c);",
    "        row.appendChild(td);",
    "      });",
    "      tb.appendChild(row);",
    "    });",
    "    t.appendChild(tb);",
    "    return t;",
    "  }",
    "  function progress(p) {",
    "    var box = el('span'), v = Math.max(0, Math.min(100, Number(p) || 0));",
    "    var bar = el('progress');",
    "    bar.max = 100;",
    "    bar.value = v;",
    "    box.appendChild(bar);",
    "    box.appendChild(document.createTextNode(' ' + v + '%'));",
    "    return box;",
    "  }",
    "  function section(card, title, node) {",
    "    card.appendChild(el('h3', null, title));",
    "    card.appendChild(node);",
    "  }",
    "  function cluster(c, now) {",
    "    var card = el('section', 'card');",
    "    card.appendChild(el('h2', null, c.name));",
    "    card.appendChild(stateBadge(c.state));",
    "    card.appendChild(el('div', 'meta', txt(c.provider) + ' \\u00b7 ' + txt(c.kind) +",
    "      ' \\u00b7 last successful poll ' + ago(now, c.last_poll)));",
    "    if (c.last_error) card.appendChild(el('div', 'err', 'Last error: ' + c.last_error));",
    "",
    "    var groups = (c.groups || []).map(function (g) {",
    "      var d = el('span', g.declared !== g.observed ? 'diff' : null,",
    "        txt(g.observed) + ' / ' + txt(g.declared));",
    "      return [pool(g.pool), g.declared, g.observed, g.ready, d];",
    "    });",
    "    section(card, 'Declared vs observed', groups.length ?",
    "      table(['Pool', 'Declared', 'Observed', 'Ready', 'Observed / declared'], groups,",
    "        [1, 2, 3]) : el('div', 'empty', 'nothing declared'));",
    "",
    "    var fl = (c.in_flight || []).map(function (o) {",
    "      return [o.seq, o.kind, pool(o.pool), o.target, (o.nodes || []).join(', '), o.job,",
    "        stateBadge(o.state), progress(o.progress), o.phase, dur(o.age_s)];",
    "    });",
    "    section(card, 'In flight', fl.length ?",
    "      table(['#', 'Kind', 'Pool', 'Target', 'Nodes', 'Job', 'State', 'Progress', 'Phase',",
    "        'Age'], fl, [0, 3]) : el('div', 'empty', 'no operation in flight'));",
    "",
    "    if ((c.notes || []).length) {",
    "      var ul = el('ul', 'notes');",
    "      c.notes.forEach(function (n) {",
    "        var li = el('li');",
    "        li.appendChild(stateBadge(n.kind));",
    "        li.appendChild(document.createTextNode(' ' + (n.rule ? n.rule + ': ' : '') +",
    "          txt(n.msg)));",
    "        if (n.fix) li.appendChild(el('div', 'fix', 'Fix: ' + n.fix));",
    "        ul.appendChild(li);",
    "      });",
    "      section(card, 'Blocked / refused', ul);",
    "    }",
    "",
    "    var rec = (c.recent || []).map(function (a) {",
    "      return [when(a.time), a.kind, pool(a.pool), a.target, stateBadge(a.result), a.rule,",
    "        a.revision, a.job];",
    "    });",
    "    section(card, 'Recent actions', rec.length ?",
    "      table(['Time', 'Kind', 'Pool', 'Target', 'Result', 'Rule', 'Revision', 'Job'], rec,",
    "        [3]) : el('div', 'empty', 'none yet'));",
    "    return card;",
    "  }",
    "  function render(d) {",
    "    var now = Number(d.now) || Math.floor(Date.now() / 1000);",
    "    var role = $('role');",
    "    role.textContent = txt(d.role);",
    "    role.className = 'badge' + (STATES.indexOf(d.role) >= 0 ? ' s-' + d.role : '');",
    "    $('ready').textContent = d.ready ? 'ready' : 'not ready';",
    "    $('ready').className = 'badge ' + (d.ready ? 's-ready' : 's-notready');",
    "    $('ready').hidden = false;",
    "    $('dry').hidden = !d.dry_run;",
    "    $('meta').textContent = 'version ' + txt(d.version) + ' \\u00b7 revision ' +",
    "      txt(d.revision) + ' \\u00b7 up ' + dur(now - d.started) + ' \\u00b7 updated ' +",
    "      new Date(now * 1000).toLocaleTimeString();",
    "    var box = $('clusters');",
    "    while (box.firstChild) box.removeChild(box.firstChild);",
    "    var cs = d.clusters || [];",
    "    if (!cs.length) box.appendChild(el('div', 'card empty', 'No cluster is configured.'));",
    "    cs.forEach(function (c) { box.appendChild(cluster(c, now)); });",
    "  }",
    "  function banner(msg) {",
    "    var b = $('banner');",
    "    b.textContent = msg || '';",
    "    b.style.display = msg ? 'block' : 'none';",
    "  }",
    "  function tick() {",
    "    fetch('api/v1/status', { cache: 'no-store', headers: { Accept: 'application/json' } })",
    "      .then(function (r) {",
    "        if (!r.ok) throw new Error('HTTP ' + r.status);",
    "        return r.json();",
    "      })",
    "      .then(function (d) { last = d; render(d); banner(''); })",
    "      .catch(function (e) {",
    "        banner('Cannot read /api/v1/status (' + e.message + '); retrying every ' +",
    "          PERIOD_MS / 1000 + ' s.' + (last ? ' Showing the last answer.' : ''));",
    "      })",
    "      .then(function () { setTimeout(tick, PERIOD_MS); });",
    "  }",
    "  tick();",
    "})();",
};

static const char *const page_tail[] = {
    "</body>",
    "</html>",
};

static int append_lines(struct nh_buf *out, const char *const *lines, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int r = nh_buf_appends(out, lines[i]);
        if (r == 0)
            r = nh_buf_append(out, "\n", 1);
        if (r < 0)
            return r;
    }
    return 0;
}

#define NLINES(a) (sizeof(a) / sizeof((a)[0]))

int nh_status_page_render(struct nh_buf *out)
{
    int r = append_lines(out, page_head, NLINES(page_head));
    if (r == 0)
        r = nh_buf_appends(out, "<script>\n");
    if (r == 0)
        r = append_lines(out, page_script, NLINES(page_script));
    if (r == 0)
        r = nh_buf_appends(out, "</script>\n");
    if (r == 0)
        r = append_lines(out, page_tail, NLINES(page_tail));
    return r;
}
