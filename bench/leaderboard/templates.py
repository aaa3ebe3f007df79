"""The site's templates, stylesheet and table sorter (kept in Python so they ship with the package).

Rules: every value is inserted through Jinja2 autoescaping (no ``|safe``, no ``Markup`` anywhere);
links are relative (``root`` is "" or "../"), so the pages work from ``file://`` and on any static host;
no external scripts, fonts or stylesheets; a Content-Security-Policy that only allows this site's own
script and stylesheet files, so even a missed escape could not run injected code.
"""

from __future__ import annotations

CSP = ("default-src 'none'; img-src 'self' data:; style-src 'self'; script-src 'self'; base-uri 'none'; "
       "form-action 'none'")

BASE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{{ csp }}">
<meta name="generator" content="brainvis-bench {{ harness_version }}">
<meta name="description" content="{{ description | default(page_title ~ ' · ' ~ site_title, true) | clip(300) }}">
<title>{{ page_title }} · {{ site_title }}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{{ root }}assets/site.css">
<script src="{{ root }}assets/sort.js" defer></script>
</head>
<body>
<header class="site">
  <a class="brand" href="{{ root }}index.html">{{ site_title }}</a>
  <nav><a href="{{ root }}index.html">Tasks</a> <a href="{{ root }}reported.html">Reported in papers</a>
  <a href="{{ root }}about.html">Method</a></nav>
</header>
<main>
{% block main %}{% endblock %}
</main>
<footer>
  Built {{ built }} with brainvis-bench {{ harness_version }}{% if last_update %} · results last updated {{ last_update }}{% endif %}.
  Static page: no server, no external resources. Reported numbers from papers are shown, never tested.
  Machine-readable: <a href="{{ root }}leaderboard.json">leaderboard.json</a>.
</footer>
</body>
</html>
"""

MACROS = """
{% macro th(label, type="text", first="ascending", title="") -%}
<th scope="col" data-type="{{ type }}" data-first="{{ first }}"{% if title %} title="{{ title }}"{% endif %}><button type="button" class="sort">{{ label }}</button></th>
{%- endmacro %}
{% macro num(value, shown, cls="") -%}
<td class="num {{ cls }}" data-value="{{ value | sortable }}">{{ shown }}</td>
{%- endmacro %}
{% macro tier_badge(entry) -%}
{% if entry.tier is not none %}<span class="tier tier-{{ [entry.tier, 6] | min }}">Tier {{ entry.tier }}</span>{% elif entry.conflicting %}<span class="flag">conflicting</span>{% elif not entry.complete %}<span class="flag">incomplete</span>{% else %}<span class="untiered" title="too few subjects (or seeds) to tier">not tiered</span>{% endif %}
{%- endmacro %}
{% macro reported_table(rows, id) -%}
<div class="scroll"><table class="sortable reported" id="{{ id }}">
<thead><tr>{{ th("Source") }}{{ th("Entry") }}{{ th("Subject") }}{{ th("Metric") }}{{ th("Value", "number", "descending") }}{{ th("±", "number") }}{{ th("Note") }}</tr></thead>
<tbody>
{% for r in rows %}<tr class="reported-row"><td>{{ r.label }}</td><td>{{ r.entry }}</td><td>{{ r.subject }}</td><td>{{ r.metric_label }}</td>{{ num(r.value, r.value_text) }}{{ num(r.spread, r.spread_text) }}<td class="note">{{ r.note }}{% if r.note %} · {% endif %}<span class="src">{{ r.source }}</span></td></tr>
{% endfor %}</tbody>
</table></div>
{%- endmacro %}
"""

INDEX = """{% extends "base.html" %}{% from "macros.html" import tier_badge %}
{% block main %}
<h1>{{ site_title }}</h1>
<p class="lead">Visual decoding from brain signals: every entry is a brain encoder × image model × training recipe,
run on every subject × seed the task demands. Scores are the mean over subjects of the mean over seeds, ± the
standard error across subjects. Entries in the same <strong>tier</strong> are not significantly different from
the tier's best (paired tests over subjects, corrected for multiple comparisons; see <a href="about.html">Method</a>).
Numbers reported in papers are listed separately and never enter a test or a tier.</p>
<dl class="meta">
  <dt>Harness (build)</dt><dd>brainvis-bench {{ harness_version }}</dd>
  <dt>Harness (records)</dt><dd>{{ site.harness_versions | join(", ") or "not recorded" }}</dd>
  <dt>Last update</dt><dd>{{ last_update or "unknown" }}</dd>
  <dt>Built</dt><dd>{{ built }}</dd>
</dl>
<section class="tasks">
{% for t in site.tasks %}
<article class="task-card" id="task-{{ t.slug }}">
  <h2><a href="tasks/{{ t.slug }}.html">{{ t.name }}</a> <span class="badge">v{{ t.version }}</span>
  <span class="badge variant">{{ t.variant }}</span>{% if t.simulated %} <span class="badge sim">simulated data</span>{% endif %}</h2>
  <p class="desc">{{ t.spec.description | default("", true) | clip(300) }}</p>
  <p class="small">{{ t.entries | length }} entries ({{ t.complete_entries | length }} complete){% if t.failed_attempts %} · {{ t.failed_attempts | length }} failed attempt{{ "s" if t.failed_attempts | length > 1 }}{% endif %} · metric {{ t.metric | metric_label }}
  · chance {{ t.chance | fmt_unit(t.metric) if t.chance is not none else "not recorded" }}
  · last update {{ t.last_update or "unknown" }}</p>
  {% if t.tiers.withheld %}<p class="flag-line">Not tiered: {{ t.tiers.withheld }}.</p>{% endif %}
  {% if t.top %}
  <div class="scroll"><table class="top"><thead><tr><th scope="col">Submission</th><th scope="col">{{ t.metric | metric_label }} ± SE</th><th scope="col">95% CI</th><th scope="col">Tier</th><th scope="col">Subjects × seeds</th></tr></thead><tbody>
  {% for e in t.top %}<tr><td><a href="submissions/{{ e.slug }}.html">{{ e.submission }}</a></td><td class="num score">{{ e.summary.mean | fmt_pm(e.summary.se, t.metric) }}</td><td class="num ci">{{ e.ci_text }}</td><td>{{ tier_badge(e) }}</td><td>{{ e.units_text }}</td></tr>
  {% endfor %}</tbody></table></div>
  {% else %}<p class="flag-line">No complete entry yet.</p>{% endif %}
</article>
{% endfor %}
</section>
{% endblock %}
"""

TASK = """{% extends "base.html" %}{% from "macros.html" import th, num, tier_badge, reported_table %}
{% block main %}
<p class="crumbs"><a href="../index.html">Tasks</a> › {{ t.name }}</p>
<h1>{{ t.name }} <span class="badge">v{{ t.version }}</span> <span class="badge variant">variant: {{ t.variant }}</span></h1>
{% if t.spec.description %}<p class="lead">{{ t.spec.description }}</p>{% endif %}
{% if t.simulated %}<p class="warn">Simulated data: these numbers exercise the harness and are not comparable to results on real recordings or to numbers reported in papers.</p>{% endif %}
{% if t.n_specs > 1 %}<p class="warn">The records of this task come from {{ t.n_specs }} different resolved task specifications (the task file changed between runs); the first is shown below.</p>{% endif %}
<dl class="meta">
  <dt>Protocol variant</dt><dd>{{ t.variant }}{% if t.spec.reference %} — {{ t.spec.reference }}{% endif %}</dd>
  <dt>Version</dt><dd>{{ t.version }}</dd>
  <dt>Kind / scheme</dt><dd>{{ t.spec.kind }} / {{ t.spec.scheme }}</dd>
  <dt>Dataset</dt><dd>{{ t.dataset.name }}{% if t.dataset.variant %} ({{ t.dataset.variant }}){% endif %}, {{ t.dataset.source | default("real") }} data; subjects {{ t.dataset.subjects | join(", ") }}; train repetitions: {{ t.dataset.train_repetitions | default("average") }}</dd>
  <dt>Seeds</dt><dd>{{ t.spec.seeds | join(", ") }}</dd>
  {% if t.spec.protocol %}<dt>Protocol</dt><dd>{% for k, v in t.spec.protocol | dictsort %}{{ k }}: {{ v | show }}{% if not loop.last %}; {% endif %}{% endfor %}</dd>{% endif %}
  {% if t.spec.validation %}<dt>Validation</dt><dd>by {{ t.spec.validation.by }}, fraction {{ t.spec.validation.fraction }} of training data (checkpoints chosen on validation only)</dd>{% endif %}
  <dt>Metric</dt><dd>{{ t.metric | metric_label }}{% if t.metric != t.spec.headline_metric %} (task headline: {{ t.spec.headline_metric }}){% endif %}</dd>
  <dt>Chance level</dt><dd id="chance">{{ t.chance | fmt_unit(t.metric) if t.chance is not none else "not recorded" }}</dd>
  {% if t.ceiling %}<dt>Noise ceiling</dt><dd id="ceiling-summary">{{ t.ceiling.mean | fmt_unit(t.ceiling.metric) }} {{ t.ceiling.metric | metric_label }} (mean over {{ t.ceiling.subjects | length }} subjects; chance {{ t.ceiling.chance | fmt_unit(t.ceiling.metric) }}) — <a href="{{ t.slug }}.html#ceiling">per subject and method</a></dd>{% endif %}
  <dt>Factorial analysis</dt><dd id="factorial-summary">{% if t.factorial and t.factorial.available %}<a href="../factorial/{{ t.slug }}.html">{{ t.factorial.factors | join(" × ") }}: main effects, interaction, effect sizes</a>{% else %}not a complete design — see <a href="{{ t.slug }}.html#factorial">below</a>{% endif %}</dd>
  <dt>Design</dt><dd id="design">{{ t.design.describe() if t.design else "unknown" }}</dd>
  <dt>Test</dt><dd id="test">two-sided paired t-test over matched {{ "seeds" if t.design and t.design.pooled else "subjects" }}; identical values tie; a constant non-zero difference is decided by the exact sign-flip permutation test (p = 2/2<sup>n</sup>); {{ t.correction }} correction; α = {{ t.alpha }}</dd>
  <dt>Power</dt><dd id="power">{{ t.power }}</dd>
  <dt>Tiers</dt><dd>{% if t.tiers.withheld %}<span class="flag">Not tiered: {{ t.tiers.withheld }}.</span> {% endif %}{{ t.tiers.describe() }}</dd>
  {% if t.conflicted %}<dt>Conflicts</dt><dd id="conflicts" class="flag">{% for e in t.conflicted %}{{ e.submission }}: {{ e.conflicting | length }} unit(s) with conflicting records excluded ({{ e.conflicting | join(", ") | clip(200) }}); fix: {{ e.conflict_fix }}{% if not loop.last %}<br>{% endif %}{% endfor %}</dd>{% endif %}
  {% if t.caveats %}<dt>Data caveats</dt><dd id="caveats">{% for c in t.caveats %}{% if t.simulated %}On the real recordings: {% endif %}{{ c }}{% if not loop.last %} {% endif %}{% endfor %}</dd>{% endif %}
  <dt>Last update</dt><dd>{{ t.last_update or "unknown" }}</dd>
  <dt>Harness</dt><dd>{{ t.harness_versions | join(", ") or "not recorded" }}</dd>
</dl>

<h2 id="leaderboard">Leaderboard</h2>
<p class="downloads">Results of this task with every metric (top-k, k-way per k, per subject): <a href="../data/{{ t.slug }}.csv">CSV</a> (one row per unit) · <a href="../data/{{ t.slug }}.json">JSON</a> (per entry, metric and subject).</p>
<p class="filter-row"><label for="filter-board">Filter entries</label> <input type="search" id="filter-board" class="filter" data-table="board" placeholder="name, encoder, image model, status" autocomplete="off"></p>
<p class="small">Click a column header to sort. Incomplete entries show the mean of the units that finished, flagged; they get no tier and are not compared. Entries with conflicting records show the mean of their non-conflicting units only and get no tier.</p>
<div class="scroll"><table class="sortable board" id="board">
<thead><tr>{{ th("#", "number") }}{{ th("Submission") }}{{ th(t.metric | metric_label + " ± SE", "number", "descending") }}{{ th("Tier", "number") }}{{ th("95% CI") }}{{ th("Encoder") }}{{ th("Image model") }}{{ th("Alignment") }}{{ th("Recipe") }}{% for m in t.secondary_metrics %}{{ th(m | metric_label + " ± SE", "number", "descending") }}{% endfor %}{{ th("Subjects × seeds") }}{{ th("Units", "number", "descending") }}{{ th("Status") }}{{ th("Checks") }}</tr></thead>
<tbody>
{% for e in t.entries %}<tr class="entry{% if not e.complete %} incomplete{% endif %}">
{{ num(loop.index, loop.index) }}<td class="name"><a href="../submissions/{{ e.slug }}.html">{{ e.submission }}</a></td>
{{ num(e.summary.mean, e.summary.mean | fmt_pm(e.summary.se, t.metric) ~ (" (partial)" if not e.complete else ""), "score") }}
<td class="tier-cell" data-value="{{ e.tier if e.tier is not none else '' }}">{{ tier_badge(e) }}</td><td class="num ci">{{ e.ci_text }}</td>
<td title="{{ e.encoder_full }}">{{ e.encoder }}</td><td title="{{ e.image_model_full }}">{{ e.image_model }}</td><td>{{ e.alignment }}</td>
<td class="recipe">{{ e.recipe }}</td>
{% for m in t.secondary_metrics %}{% set s = e.secondary.get(m) %}{{ num(s.mean if s else none, s.mean | fmt_pm(s.se, m) if s else "—") }}{% endfor %}
<td>{{ e.units_text }}</td>{{ num(e.summary.n_units, e.summary.n_units ~ " / " ~ e.expected) }}
<td class="status{% if not e.complete %} flag{% endif %}">{{ e.status }}</td>
<td class="checks{% if e.checks_failed %} flag{% endif %}">{{ e.checks_text }}</td>
</tr>
{% endfor %}</tbody>
</table></div>

{% if t.failed_attempts %}
<h2 id="failed">Failed attempts</h2>
<p class="small">Submissions whose every unit on this task failed: they are not entries (nothing finished, so there is no score), and they did not go missing. Fix the error and re-run <code>bench evaluate</code>.</p>
<ul class="failed-attempts">{% for a in t.failed_attempts %}<li><strong>{{ a.submission }}</strong>: {{ a.n_failed }} unit{{ "s" if a.n_failed != 1 }} failed{% for err, n in a.errors[:3] %}{% if loop.first %} — {% else %}; {% endif %}{{ n }} × <code>{{ err | clip(240) }}</code>{% endfor %}</li>
{% endfor %}</ul>
{% endif %}

<details class="rounds"{% if t.tiers.withheld %} open{% endif %}><summary>How the tiers were decided</summary>
{% if t.tiers.withheld %}<p class="flag-line">No tiers: {{ t.tiers.withheld }}. {{ t.power }}</p>{% endif %}
{% for rnd in t.tiers.rounds %}
<h3>Tier {{ rnd.tier }}: leader {{ rnd.leader }}</h3>
{% if rnd.comparisons %}
<div class="scroll"><table><thead><tr><th scope="col">Compared with</th><th scope="col">{{ "Seeds" if t.design and t.design.pooled else "Subjects" }}</th><th scope="col">Mean difference</th><th scope="col">Test</th><th scope="col">p</th><th scope="col">p ({{ t.correction }})</th><th scope="col">Detectable (80% power)</th><th scope="col">Verdict</th></tr></thead><tbody>
{% for c in rnd.comparisons %}<tr><td>{{ c.b }}</td><td class="num">{{ c.n_pairs }}</td><td class="num">{{ c.mean_diff | fmt(t.metric) }}</td><td>{{ c.test }}</td><td class="num">{{ c.p | fmt_p }}</td><td class="num">{{ c.p_corrected | fmt_p }}</td><td class="num">{{ c.mdd | fmt(t.metric) }}</td><td>{% if c.b in rnd.members %}same tier{% elif c.significant %}significantly different{% if c.b == rnd.boundary %} (closes the tier){% endif %}{% else %}not significant, but ranked below {{ rnd.boundary }}{% endif %}</td></tr>
{% endfor %}</tbody></table></div>
{% else %}<p>No other entry left to compare.</p>{% endif %}
{% endfor %}
{% for name, why in t.tiers.notes | dictsort %}<p class="small note">{{ name }}: {{ why }}.</p>{% endfor %}
</details>

<h2 id="ceiling">Noise ceiling</h2>
{% if t.ceiling %}
{% set c = t.ceiling %}
{% if c.stale %}<p class="warn">This ceiling was computed for another resolved specification of the task (its task hash differs from the records'); recompute it with <code>bench analyze ceiling --task {{ t.name }} --out FILE.ceiling.json</code>.</p>{% endif %}
<p>What the data allow: <strong>{{ c.mean | fmt_unit(c.metric) }}</strong> {{ c.metric | metric_label }} (mean over subjects), against chance {{ c.chance | fmt_unit(c.metric) }}. Computed from the test repetitions alone, no model: {{ c.method }}. A model can exceed it (image embeddings carry no measurement noise); its fraction is then above 1 and shown as such.</p>
<div class="scroll"><table class="ceiling-subjects"><thead><tr><th scope="col">Subject</th><th scope="col">Images × repetitions</th><th scope="col">Split-half (largest half)</th><th scope="col">Ceiling</th><th scope="col">Chance</th></tr></thead><tbody>
{% for row in c.subjects %}<tr><td>sub-{{ "%02d" | format(row.subject) }}</td><td class="num">{{ row.n_images }} × {{ row.repetitions }}{% if row.n_dropped %} ({{ row.n_dropped }} left out){% endif %}</td><td class="num">{{ row.split_half | fmt_unit(c.metric) }}</td><td class="num">{{ row.ceiling | fmt_unit(c.metric) }}</td><td class="num">{{ row.chance | fmt_unit(c.metric) }}</td></tr>
{% endfor %}<tr class="mean"><td>mean</td><td></td><td></td><td class="num">{{ c.mean | fmt_unit(c.metric) }}</td><td class="num">{{ c.chance | fmt_unit(c.metric) }}</td></tr></tbody></table></div>
<h3>Entries as a fraction of the ceiling</h3>
<p class="small">Per subject: the entry's {{ c.metric | metric_label }} (mean over seeds) ÷ that subject's ceiling; the fraction shown is the mean over subjects.</p>
<div class="scroll"><table class="sortable ceiling-fractions"><thead><tr>{{ th("Submission") }}{{ th("Fraction of ceiling", "number", "descending") }}{{ th("Per subject") }}</tr></thead><tbody>
{% for row in c.fractions %}<tr><td><a href="../submissions/{{ row.slug }}.html">{{ row.submission }}</a></td>{{ num(row.mean, row.mean | fmt("", 3)) }}<td class="small">{% for k, v in row.per_subject | dictsort %}{{ k }} {{ v | fmt("", 3) }}{% if not loop.last %}, {% endif %}{% endfor %}</td></tr>
{% endfor %}</tbody></table></div>
{% elif t.spec.kind in ("retrieval", "cross-subject") %}
<p class="small" id="ceiling-missing">No noise ceiling for this task yet: it is computed from the task's data, not from the records. Run <code>bench analyze ceiling --task {{ t.name }} --out {{ t.slug }}.ceiling.json</code> and rebuild with <code>--analyses {{ t.slug }}.ceiling.json</code>.</p>
{% else %}<p class="small">Noise ceilings are defined for retrieval tasks.</p>{% endif %}

<h2 id="factorial">Factorial analysis</h2>
{% if t.factorial and t.factorial.available %}
<p><a href="../factorial/{{ t.slug }}.html">{{ t.factorial.factors | join(" × ") }} design of {{ t.factorial.result.cells | length }} complete entries</a>: {% for e in t.factorial.result.effects %}{{ e.term }} F({{ e.df_num | fmt("", 0) }}, {{ e.df_den | fmt("", 0) }}) = {{ e.f | fmt("", 2) }}, p {{ "" if (e.p | fmt_p).startswith("<") else "= " }}{{ e.p | fmt_p }}{% if not loop.last %}; {% endif %}{% endfor %}.</p>
{% elif t.factorial %}
<p class="flag-line" id="factorial-missing">Not a complete design ({{ t.factorial.factors | join(" × ") }}): missing {{ t.factorial.missing | join("; ") }}.</p>
{% endif %}

<h2 id="plots">Plots</h2>
<div class="figures">
{% for fig in figures %}<figure><div class="plot"><img src="../{{ fig.path }}" alt="{{ fig.alt }}" width="{{ fig.width }}" height="{{ fig.height }}"></div><figcaption>{{ fig.caption }}</figcaption></figure>
{% endfor %}</div>

{% if t.comparisons %}
<h2 id="pairs">Pairwise comparisons</h2>
<p class="small">All pairs of complete entries; two-sided paired test over matched {{ "seeds (pooled design)" if t.design and t.design.pooled else "subjects (seed-averaged)" }}, p corrected with {{ t.correction }} over all {{ t.comparisons | length }} pairs; Cohen's d<sub>z</sub> where the t-test decides; {{ (t.comparisons[0].ci_level * 100) | round | int }}% BCa bootstrap CI of the mean difference (A − B); "detectable" = the minimum difference the design detects with 80% power at α = {{ t.alpha }} given the observed spread.</p>
<div class="scroll"><table class="sortable" id="pairs-table">
<thead><tr>{{ th("A") }}{{ th("B") }}{{ th("Mean A − B", "number") }}{{ th("CI low", "number") }}{{ th("CI high", "number") }}{{ th("Test") }}{{ th("p", "number") }}{{ th("p corrected", "number") }}{{ th("d_z", "number") }}{{ th("Detectable", "number") }}{{ th("Pairs", "number") }}</tr></thead>
<tbody>
{% for c in t.comparisons %}<tr><td>{{ c.a }}</td><td>{{ c.b }}</td>{{ num(c.mean_diff, c.mean_diff | fmt(t.metric)) }}{{ num(c.ci_low, c.ci_low | fmt(t.metric)) }}{{ num(c.ci_high, c.ci_high | fmt(t.metric)) }}<td>{{ c.test }}</td>{{ num(c.p, c.p | fmt_p) }}{{ num(c.p_corrected, c.p_corrected | fmt_p) }}{{ num(c.cohens_dz, c.cohens_dz | fmt("", 2)) }}{{ num(c.mdd, c.mdd | fmt(t.metric)) }}{{ num(c.n_pairs, c.n_pairs ~ " " ~ c.pair_by) }}</tr>
{% endfor %}</tbody></table></div>
{% endif %}

<h2 id="reported">Reported in papers</h2>
{% if t.reported %}
<p class="small">Figures as printed in the papers (accuracies in %), with their own protocol and checkpoint choices. Shown for orientation only: they are not recomputed here, not tested and not tiered.</p>
{% set avg = t.reported | selectattr("is_average") | list %}
{% set per = t.reported | rejectattr("is_average") | list %}
{% if avg %}{{ reported_table(avg, "reported-avg") }}{% endif %}
{% if per %}<details><summary>Per-subject rows ({{ per | length }})</summary>{{ reported_table(per, "reported-per-subject") }}</details>{% endif %}
<ul class="small reported-protocols">{% for r in t.reported | unique(attribute="label") %}{% if r.protocol %}<li>{{ r.label }}: {{ r.protocol.label }}{% if r.optimistic %} — <strong>the paper chose its checkpoint on the test set: its figures are optimistic by construction</strong> (selection here is on validation){% endif %}</li>{% endif %}{% endfor %}</ul>
{% else %}
<p class="small">No reported number matches this task{% if t.simulated %} (simulated data are never compared with papers){% elif mismatched %} (paper figures are attached only to the variant task whose protocol matches theirs){% endif %}. All reported numbers are on the <a href="../reported.html">reported-in-papers page</a>.</p>
{% endif %}
{% if mismatched %}<p class="small" id="reported-mismatch">Not comparable with this task's protocol:</p>
<ul class="small reported-mismatch">{% for m in mismatched %}<li>{{ m.label }} ({{ m.n_rows }} figures; {{ m.protocol.label }}): {{ m.reasons | join("; ") }}{% if m.optimistic %}; selected on the test set, optimistic by construction{% endif %}</li>{% endfor %}</ul>{% endif %}
{% endblock %}
"""

SUBMISSION = """{% extends "base.html" %}{% from "macros.html" import th, num, tier_badge %}
{% block main %}
<p class="crumbs"><a href="../index.html">Tasks</a> › submission</p>
<h1 class="subname">{{ s.name }}</h1>
{% set spec = s.spec %}
{% if spec.description %}<p class="lead">{{ spec.description }}</p>{% endif %}
<dl class="meta">
  <dt>Authors</dt><dd class="authors">{{ spec.authors | show if spec.authors else "not given" }}</dd>
  <dt>Brain encoder</dt><dd>{{ spec.encoder | component }}</dd>
  <dt>Image model</dt><dd>{{ spec.image_model | component }}</dd>
  <dt>Recipe</dt><dd>{{ spec.recipe | recipe }}</dd>
  <dt>Tags</dt><dd class="tags">{% if spec.tags is mapping %}{% for k, v in spec.tags | dictsort %}<span class="tag">{{ k }}: {{ v | show }}</span> {% endfor %}{% else %}{{ spec.tags | show }}{% endif %}</dd>
  <dt>Tasks</dt><dd>{% for t, e in s.sections %}<a href="../tasks/{{ t.slug }}.html">{{ t.name }}</a>{% if not loop.last %}, {% endif %}{% endfor %}</dd>
</dl>
{% if s.specs | length > 1 %}<p class="warn">This name has records from {{ s.specs | length }} different resolved specifications; all are listed at the end of the page.</p>{% endif %}

{% for t, e in s.sections %}
{% set sec = sections[loop.index0] %}
<section class="task-section" id="task-{{ t.slug }}">
<h2>On <a href="../tasks/{{ t.slug }}.html">{{ t.name }}</a> <span class="badge variant">{{ t.variant }}</span></h2>
<dl class="meta">
  <dt>{{ t.metric | metric_label }}</dt><dd class="score">{{ e.summary.mean | fmt_pm(e.summary.se, t.metric) }} {% if e.complete %}(mean over subjects of seed means ± SE across subjects){% else %}<span class="flag">(partial: mean of the units that finished; not comparable with complete entries)</span>{% endif %}</dd>
  {% if e.last_epoch %}<dt>Last-epoch checkpoint</dt><dd>{{ e.last_epoch.mean | fmt_pm(e.last_epoch.se, t.metric) }}</dd>{% endif %}
  {% for m, sm in e.secondary | dictsort %}<dt>{{ m | metric_label }}</dt><dd>{{ sm.mean | fmt_pm(sm.se, m) }}</dd>{% endfor %}
  <dt>Tier</dt><dd>{{ tier_badge(e) }}</dd>
  <dt>Completed</dt><dd>{{ e.units_text }} subjects × seeds, {{ e.summary.n_units }} of {{ e.expected }} units — {{ e.status }}</dd>
  {% if e.summary.failed %}<dt>Failed units</dt><dd class="flag">{% for sp, sd, err in e.summary.failed[:10] %}{{ sp }}/seed{{ sd }}: <code>{{ err | clip(160) }}</code>{% if not loop.last %}; {% endif %}{% endfor %}{% if e.summary.failed | length > 10 %} (and {{ e.summary.failed | length - 10 }} more){% endif %}</dd>{% endif %}
  {% if e.summary.missing %}<dt>Never run</dt><dd class="flag">{% for sp, sd in e.summary.missing %}{{ sp }}/seed{{ sd }}{% if not loop.last %}, {% endif %}{% endfor %}</dd>{% endif %}
  {% if e.conflicting %}<dt>Conflicting units</dt><dd class="flag">{{ e.conflicting | join(", ") | clip(400) }}: {{ e.conflicts | map(attribute="reason") | unique | join("; ") }}; excluded from the score, tests and tiers. Fix: {{ e.conflict_fix }}</dd>{% endif %}
  {% if e.note %}<dt>Tier note</dt><dd>{{ e.note }}</dd>{% endif %}
  <dt>Chance level</dt><dd>{{ t.chance | fmt_unit(t.metric) if t.chance is not none else "not recorded" }}</dd>
  {% if t.ceiling %}{% set frac = t.ceiling.fractions | selectattr("submission", "equalto", e.submission) | first %}<dt>Noise ceiling</dt><dd>{{ t.ceiling.mean | fmt_unit(t.ceiling.metric) }}{% if frac %}; this entry reaches {{ frac.mean | fmt("", 3) }} of it{% endif %} (<a href="../tasks/{{ t.slug }}.html#ceiling">method</a>)</dd>{% endif %}
  <dt>Validity checks</dt><dd class="checks">{% for b in e.badges %}<span class="check check-{{ b.status | replace(" ", "-") | replace("/", "") }}" title="{{ b.title }}">{{ b.label }}</span> {% endfor %}<a href="../about.html#checks">checklist and thresholds</a>
  {% if e.checks_failed %}<ul class="failed-checks flag">{% for c in e.checks.checks if c.status == "fail" %}<li>{{ c.name }} failed: {{ c.detail }}</li>{% endfor %}</ul>{% endif %}</dd>
  <dt>Verification</dt><dd class="verification{% if e.verification != "unverified" and not e.verification.startswith("verified") %} flag{% endif %}">{{ e.verification }}</dd>
</dl>
<div class="figures">
{% for fig in sec.figures %}<figure><div class="plot"><img src="../{{ fig.path }}" alt="{{ fig.alt }}" width="{{ fig.width }}" height="{{ fig.height }}"></div><figcaption>{{ fig.caption }}</figcaption></figure>
{% endfor %}</div>

<h3>Per subject ({{ t.metric | metric_label }}; mean ± std over seeds)</h3>
<div class="scroll"><table class="sortable per-subject">
<thead><tr>{{ th("Subject") }}{% for seed in sec.seeds %}{{ th("seed " ~ seed, "number", "descending") }}{% endfor %}{{ th("Mean", "number", "descending") }}{{ th("Std", "number") }}{{ th("Seeds", "number") }}</tr></thead>
<tbody>
{% for row in sec.rows %}<tr><td>{{ row.split }}</td>{% for v in row.values %}{% if v is none %}<td class="num flag" data-value="">missing</td>{% else %}{{ num(v, v | fmt(t.metric)) }}{% endif %}{% endfor %}{{ num(row.mean, row.mean | fmt(t.metric)) }}{{ num(row.std, row.std | fmt(t.metric)) }}{{ num(row.n, row.n) }}</tr>
{% endfor %}</tbody></table></div>

<h3>Per seed (mean over subjects)</h3>
<div class="scroll"><table class="per-seed"><thead><tr><th scope="col">Seed</th><th scope="col">Mean</th><th scope="col">Subjects</th></tr></thead><tbody>
{% for seed, mean, n in sec.per_seed %}<tr><td>{{ seed }}</td><td class="num">{{ mean | fmt(t.metric) }}</td><td class="num">{{ n }}</td></tr>
{% endfor %}</tbody></table></div>

<h3>Pairwise comparisons</h3>
{% if not e.complete %}<p class="flag-line">This entry is {{ e.status }}: it is not compared until every unit has finished.</p>
{% elif sec.comparisons %}
<p class="small">{{ s.name }} − other; {{ t.design.describe() if t.design else "" }}; p corrected with {{ t.correction }} over all pairs of complete entries on this task; d<sub>z</sub> = mean / sd of the paired differences (where the t-test decides); {{ (sec.comparisons[0].ci_level * 100) | round | int }}% BCa bootstrap CI; "detectable": minimum difference detected with 80% power at α = {{ t.alpha }}; unit-level (subject × seed) paired t and Wilcoxon p for reference. {{ t.power }}</p>
<div class="scroll"><table class="sortable comparisons">
<thead><tr>{{ th("Against") }}{{ th("Difference", "number") }}{{ th("CI low", "number") }}{{ th("CI high", "number") }}{{ th("Test") }}{{ th("p", "number") }}{{ th("p corrected", "number") }}{{ th("d_z", "number") }}{{ th("Detectable", "number") }}{{ th("p (units)", "number") }}{{ th("p (Wilcoxon)", "number") }}{{ th("Pairs", "number") }}</tr></thead>
<tbody>
{% for c in sec.comparisons %}<tr><td><a href="{{ sec.links[c.other] }}">{{ c.other }}</a></td>{{ num(c.diff, c.diff | fmt(t.metric)) }}{{ num(c.ci_low, c.ci_low | fmt(t.metric)) }}{{ num(c.ci_high, c.ci_high | fmt(t.metric)) }}<td>{{ c.test }}</td>{{ num(c.p, c.p | fmt_p) }}{{ num(c.p_corrected, c.p_corrected | fmt_p) }}{{ num(c.dz, c.dz | fmt("", 2)) }}{{ num(c.mdd, c.mdd | fmt(t.metric)) }}{{ num(c.p_unit, c.p_unit | fmt_p) }}{{ num(c.p_wilcoxon, c.p_wilcoxon | fmt_p) }}{{ num(c.n_pairs, c.n_pairs ~ " " ~ c.pair_by) }}</tr>
{% endfor %}</tbody></table></div>
{% else %}<p class="small">No other complete entry on this task.</p>{% endif %}

<details><summary>Units and provenance ({{ e.records | length }} finished{% if e.failed %}, {{ e.failed | length }} failed{% endif %})</summary>
<div class="scroll"><table class="sortable units">
<thead><tr>{{ th("Split") }}{{ th("Seed", "number") }}{{ th(t.metric | metric_label, "number", "descending") }}{{ th("Chosen epoch", "number") }}{{ th("Key") }}{{ th("Harness") }}{{ th("Code") }}{{ th("Data checksum") }}{{ th("Weights checksum") }}</tr></thead>
<tbody>
{% for r in e.records %}<tr><td>{{ r.split }}</td>{{ num(r.seed, r.seed) }}{{ num(r.metrics.get(t.metric), r.metrics.get(t.metric) | fmt(t.metric)) }}{{ num(r.chosen_epoch, r.chosen_epoch if r.chosen_epoch is not none else "—") }}<td class="mono">{{ r.key | clip(16) }}</td><td>{{ r.provenance.get("harness_version", "") | show }}</td><td class="mono">{{ r.provenance.get("code_version", "") | show | clip(14) }}</td><td class="mono">{{ r.provenance.get("data_checksum", "") | show | clip(14) }}</td><td class="mono">{{ r.provenance.get("weights_checksum", "") | show | clip(14) }}</td></tr>
{% endfor %}</tbody></table></div>
{% if e.failed %}<h4>Failed units</h4><ul class="failed">{% for unit, err in e.failed_lines %}<li>{{ unit }}: <code>{{ err | clip(300) }}</code></li>{% endfor %}</ul>{% endif %}
</details>
</section>
{% endfor %}

<h2 id="yaml">Resolved specification{% if s.specs | length > 1 %}s{% endif %}</h2>
{% for y in yamls %}<pre class="yaml">{{ y }}</pre>
{% endfor %}
{% endblock %}
"""

REPORTED = """{% extends "base.html" %}{% from "macros.html" import reported_table %}
{% block main %}
<h1>Reported in papers</h1>
<p class="lead">Figures as printed in the source papers, one row per printed number, each labelled with its paper and
table. They come with the papers' own protocols (checkpoint choice, preprocessing, averaging) and are shown for
orientation only: they are not recomputed, not tested and never part of a tier. Accuracies are in percent.</p>
<ul>{% for p in papers %}<li><strong>{{ p.label }}</strong>: {{ p.citation }}, <em>{{ p.title }}</em> ({{ p.count }} numbers)</li>{% endfor %}</ul>
{% for ds in datasets %}
<section id="dataset-{{ ds.key }}">
<h2>{{ ds.name }}</h2>
{% for g in ds.groups %}
<details{% if g.rows | length <= 12 %} open{% endif %}><summary>reported in {{ g.paper }}, {{ g.table }} — {{ g.task_text }} ({{ g.rows | length }} rows){% if g.rows[0].protocol %} · {{ g.rows[0].protocol.label }}{% if g.rows[0].optimistic %} (selected on test: optimistic by construction){% endif %}{% endif %}{% if g.tasks %} · shown on {% for t in g.tasks %}<a href="tasks/{{ t.slug }}.html">{{ t.name }}</a>{% if not loop.last %}, {% endif %}{% endfor %}{% endif %}</summary>
{{ reported_table(g.rows, "reported-" ~ ds.key ~ "-" ~ loop.index) }}
</details>
{% endfor %}
</section>
{% endfor %}
{% endblock %}
"""

ABOUT = """{% extends "base.html" %}
{% block main %}
<h1>Method</h1>
<h2>Units and scores</h2>
<p>A unit is (task, submission, subject or held-out-subject fold, seed). Each finished unit is one record with its content
key (a hash of the resolved task and submission, the split, the seed, the data and weights checksums and the harness
version). An entry's score is the mean over subjects of the mean over seeds; ± is the standard error across subjects.
An entry is complete when every unit its task demands has finished; an incomplete entry shows the mean of what finished,
flagged, and gets no tier.</p>
<h2 id="records">Which records count</h2>
<p>One entry = one resolved specification. A unit with finished records under more than one key (the configuration, a data
or weight file, or the harness changed and the superseded runs are still stored), or an entry whose records come from more
than one resolved specification, is a <strong>conflict</strong>: its units are excluded from the score, every test and
every tier, and flagged on the task and submission pages with the fix (re-run <code>bench evaluate</code> to produce
current records, then delete the superseded runs with <code>bench store prune</code>). Nothing averages two specifications.
<code>bench results</code>, <code>bench compare</code> and these pages use the same definition. A failed unit is
not a missing one: pages list failed units with the first line of their error, apart from units never run, and a
submission none of whose units finished is not an entry — it is listed under "Failed attempts" on the task page.</p>
<h2 id="decision">The decision procedure</h2>
<p><strong>Design.</strong> Within-subject and leave-one-subject-out tasks pair two entries over matched subjects (each
subject's value is its mean over the matched seeds). Pooled tasks (one split, e.g. ImageNet-EEG) have no subject-level
replication, so they pair over matched seeds; their pages say so.</p>
<p><strong>Test.</strong> A two-sided paired t-test on the n paired differences. Two degenerate cases are decided, not
skipped: identical values are a tie (p = 1); a constant non-zero difference (zero variance, where the t statistic is
undefined) is decided by the exact sign-flip permutation test of the mean difference — under the null hypothesis each of
the 2<sup>n</sup> sign patterns is equally likely and only the observed one and its mirror are as extreme, so p = 2/2<sup>n</sup>.
With 5 or fewer pairs that is at least 0.0625, and the page says that no test can reach α = 0.05 with so few pairs.
Cohen's d<sub>z</sub> (mean / sd of the differences) is reported only where the t-test decides.</p>
<p><strong>Power.</strong> Every task page and comparison states the minimum detectable difference: the smallest
|d<sub>z</sub>| a two-sided paired t-test with n pairs detects at α = 0.05 with 80% power (statsmodels' TTestPower),
times the observed sd of the differences. With 2 subjects |t| must exceed 12.7 and only |d<sub>z</sub>| ≥ 11.5 is
detectable; with 4, |d<sub>z</sub>| ≥ 2.13; with 10, |d<sub>z</sub>| ≥ 1.0. Below a declared minimum of {{ min_pairs }}
subjects (seeds, for pooled tasks) no tiers are assigned ("too few subjects to tier"), because a shared tier would read as
evidence of a tie that the design could not have detected.</p>
<p><strong>Intervals.</strong> Bias-corrected and accelerated (BCa) bootstrap CIs of the mean paired difference
(scipy.stats.bootstrap, seeded), which correct the percentile interval for bias and skew.</p>
<h2>Significance tiers</h2>
<p>{{ tier_text }}</p>
<p>This is a step-down procedure of many-to-one comparisons with the leader (as in Dunnett's comparisons with a control),
with Holm's (1979) step-down correction over each round's family (Benjamini–Hochberg when declared). Tiers are kept
contiguous in the score, as in the significance clusters of shared-task rankings (systems ordered by score, a boundary
where a test separates): an entry with a lower mean is never placed above one with a higher mean. The price is stated
on the page: an entry ranked below the first separated entry goes to the next tier even when its own comparison with
the leader was not significant, and a note says so.</p>
<h2>Pairwise comparisons</h2>
<p>The design's paired test for every pair of complete entries, with the unit-level (subject, seed) paired t-test and
the Wilcoxon signed-rank test for reference, Cohen's d<sub>z</sub>, the BCa bootstrap CI and the minimum detectable
difference. The deciding p-values of all pairs on a task are corrected as one family with the declared correction
({{ correction }}); a p of exactly 0 is significant.</p>
<h2>Data caveats</h2>
<p>Facts about a dataset's published preprocessing that affect what its numbers mean are declared by the dataset's
loader and shown on its task pages under "Data caveats" (for THINGS-EEG2: the official release whitens with multivariate noise
normalisation, MVNN, whose covariance is computed from training and test data).</p>
<h2>Reported numbers</h2>
<p>Numbers printed in papers are displayed in their own rows and sections, labelled "reported in &lt;paper&gt;, &lt;table&gt;".
We do not have their per-seed values, so they are never tested and never tiered. Each carries how it was made (gallery,
similarity, where the checkpoint was selected, single draw or expectation, MindEye batch size) and is shown only beside
the variant task whose protocol matches (e.g. AlignVis's Pearson-r figures beside the <code>*-alignvis</code> tasks); other
task pages list it as not comparable, with the reason. A figure selected on the test set is marked optimistic by construction.</p>
<h2 id="retrieval">Retrieval scoring and ties</h2>
<p>The rank of the true gallery item counts every other item whose similarity is greater than <em>or equal to</em> the
true one: <strong>a tie counts against the submission</strong> (as ATM's top-1 does). The peers differ, and tests document
each difference (tests/metrics/test_retrieval_peers.py): NICE and AlignVis break ties by <code>torch.topk</code> order,
MindEye1 gives a tie to the higher index, and AlignVis's self-matched label (topk of the query's own image embedding)
makes duplicate images hits. The headline k-way value is exact and seedless: the expectation over uniformly drawn sets of
k−1 distractor gallery columns, mean<sub>i</sub> C(N−1−r<sub>i</sub>, k−1)/C(N−1, k−1) from the ranks r<sub>i</sub>
(hypergeometric for top-5), which is what ATM's single random draw estimates; one seeded draw per k, identical across
submissions, is reported beside it as <code>kway/&lt;k&gt;/top1/sampled</code>. Paper-variant tasks reproduce NICE's
concept-centre gallery, ATM's k-way, AlignVis's Pearson r and MindEye's 300-way batches; selection stays on validation
in all of them.</p>
{% if analyses %}
<h2 id="controls">ImageNet-EEG block-design controls</h2>
<p>{{ analyses.controls.rule }}</p>
<ul>{% for c in analyses.controls.controls %}<li><code>{{ c.metric }}</code>: {{ c.what }}</li>{% endfor %}</ul>
<h2 id="checks">Validity checklist (<code>bench check</code>)</h2>
<ul>{% for c in analyses.checks.checks %}<li><strong>{{ c.check }}</strong>: {{ c.rule }}</li>{% endfor %}</ul>
<p>A failed check is shown on the entry, never hidden; a check nobody ran says "not run". Thresholds: chance tests at
&alpha; = {{ analyses.check_alpha }} (pass when p &ge; &alpha;); images within {{ analyses.max_distance }} bits of
perceptual hash count as the same image; pre-stimulus window {{ analyses.checks.prestimulus_window_s | join(" … ") }} s.
{{ analyses.checks.reference }}. {{ analyses.checks_source }}</p>
<h2 id="verification">Verified entries (<code>bench leaderboard verify</code>)</h2>
<p>{{ analyses.verification }}</p>
<h2 id="analyses">Factorial analysis and noise ceilings</h2>
<p>{{ analyses.factorial }}</p>
<p>Noise ceiling: {{ analyses.ceiling }}. {{ analyses.ceiling_source }}</p>
{% endif %}
<h2>Rebuilding these pages</h2>
<p>The pages are a pure function of the records: <code>bench leaderboard build --out DIR --snapshot results.json</code>
rebuilds them from an exported results snapshot, without the MLflow database.</p>
{% endblock %}
"""

FACTORIAL = """{% extends "base.html" %}
{% block main %}
<p class="crumbs"><a href="../index.html">Tasks</a> › <a href="../tasks/{{ t.slug }}.html">{{ t.name }}</a> › factorial analysis</p>
<h1>{{ t.name }}: {{ f.factors | join(" × ") }}</h1>
{% if t.simulated %}<p class="warn">Simulated data: these effects exercise the harness and say nothing about real recordings.</p>{% endif %}
<p class="lead">The complete entries of this task as a factorial design over {{ f.factors | join(" and ") }} (read from the
submissions), {{ f.n_blocks }} {{ f.block }}s as the repeated unit; metric {{ f.metric | metric_label }}; α = {{ f.alpha }}.</p>
<h2 id="cells">Cells</h2>
<div class="scroll"><table class="cells"><thead><tr>{% for x in f.factors %}<th scope="col">{{ x }}</th>{% endfor %}<th scope="col">Entry</th><th scope="col">Mean</th><th scope="col">SE over {{ f.block }}s</th></tr></thead><tbody>
{% for c in cells %}<tr>{% for x in f.factors %}<td>{{ c[x] }}</td>{% endfor %}<td>{{ c.submission }}</td><td class="num">{{ c.mean | fmt(f.metric) }}</td><td class="num">{{ c.se | fmt(f.metric) }}</td></tr>
{% endfor %}</tbody></table></div>
<h2 id="effects">Main effects and interaction (repeated-measures ANOVA)</h2>
<div class="scroll"><table class="effects"><thead><tr><th scope="col">Term</th><th scope="col">F</th><th scope="col">df</th><th scope="col">p</th><th scope="col">Partial η²</th><th scope="col">Verdict</th></tr></thead><tbody>
{% for e in f.effects %}<tr><td>{{ e.term }}</td><td class="num">{{ e.f | fmt("", 3) }}</td><td class="num">{{ e.df_num | fmt("", 0) }}, {{ e.df_den | fmt("", 0) }}</td><td class="num">{{ e.p | fmt_p }}</td><td class="num">{{ e.partial_eta_sq | fmt("", 3) }}</td><td>{{ "significant" if e.p < f.alpha else "not significant" }}</td></tr>
{% endfor %}</tbody></table></div>
<h2 id="sizes">Effect sizes with 95% CIs</h2>
<p class="small">In metric units{% if f.metric | metric_label != f.metric %} ({{ f.metric | metric_label }}){% endif %}: per {{ f.block }}, a level's marginal mean minus the reference level's (main effects) or the difference of differences (interaction); mean, t-based 95% CI over {{ f.block }}s and Cohen's d<sub>z</sub>.</p>
<div class="scroll"><table class="contrasts"><thead><tr><th scope="col">Effect</th><th scope="col">Estimate</th><th scope="col">95% CI</th><th scope="col">d<sub>z</sub></th><th scope="col">n</th></tr></thead><tbody>
{% for c in f.contrasts %}<tr><td>{{ c.label }}</td><td class="num">{{ c.estimate | fmt(f.metric) }}</td><td class="num">[{{ c.ci_low | fmt(f.metric) }}, {{ c.ci_high | fmt(f.metric) }}]</td><td class="num">{{ c.dz | fmt("", 2) }}</td><td class="num">{{ c.n }}</td></tr>
{% endfor %}</tbody></table></div>
{% if f.mixed %}<h2 id="mixed">Linear mixed model</h2>
<p class="small"><code>{{ f.mixed.formula }}</code>, random intercept per {{ f.block }} (REML; {{ "converged" if f.mixed.converged else "did not converge" }}); {{ f.block }} variance {{ f.mixed.block_variance | fmt("", 3) }}, residual variance {{ f.mixed.residual_variance | fmt("", 3) }}. The ANOVA's F-tests are the verdict.</p>
<div class="scroll"><table class="mixed"><thead><tr><th scope="col">Fixed effect</th><th scope="col">Estimate</th><th scope="col">95% Wald CI</th><th scope="col">p</th></tr></thead><tbody>
{% for name, v in f.mixed.fixed | dictsort %}<tr><td>{{ name }}</td><td class="num">{{ v.estimate | fmt(f.metric) }}</td><td class="num">[{{ v.ci_low | fmt(f.metric) }}, {{ v.ci_high | fmt(f.metric) }}]</td><td class="num">{{ v.p | fmt_p }}</td></tr>
{% endfor %}</tbody></table></div>{% endif %}
<h2 id="plot">Interaction plot</h2>
{% if figure %}<figure><div class="plot"><img src="../{{ figure.path }}" alt="{{ figure.alt }}" width="{{ figure.width }}" height="{{ figure.height }}"></div><figcaption>{{ figure.caption }}</figcaption></figure>{% endif %}
<h2>Method</h2>
<p class="small">{{ f.to_dict().method }} Reproduce: <code>bench analyze factorial --task {{ t.name }}</code>.</p>
{% endblock %}
"""

CSS = """
:root { --fg: #1b1f23; --muted: #5b6570; --line: #d8dde3; --bg: #ffffff; --soft: #f5f7f9; --accent: #1f5fa8;
        --t1: #f6d365; --t2: #c9ddf2; --t3: #d9ead3; --t4: #eadcf2; --t5: #f2e2cf; --t6: #e6e6e6; --warn: #b3541e; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: var(--fg); background: var(--bg); }
header.site { display: flex; flex-wrap: wrap; gap: .3rem 1.5rem; align-items: baseline; padding: .7rem 1.5rem; border-bottom: 1px solid var(--line);
              background: var(--soft); }
header.site .brand { font-weight: 700; color: var(--fg); text-decoration: none; }
header.site nav a { margin-right: 1rem; }
main { max-width: 1280px; margin: 0 auto; padding: 1rem 1.5rem 3rem; }
footer { color: var(--muted); font-size: 13px; padding: 1rem 1.5rem; border-top: 1px solid var(--line); }
a { color: var(--accent); }
h1 { font-size: 1.6rem; margin: .6rem 0; overflow-wrap: anywhere; }
h2 { font-size: 1.25rem; margin-top: 2rem; border-bottom: 1px solid var(--line); padding-bottom: .2rem; overflow-wrap: anywhere; }
h3 { font-size: 1.05rem; margin-top: 1.4rem; }
.lead { color: #333; max-width: 70rem; overflow-wrap: anywhere; }
.small { color: var(--muted); font-size: 13px; }
.crumbs { font-size: 13px; color: var(--muted); margin: 0; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; font-size: 14px; }
dl.meta dt { color: var(--muted); }
dl.meta dd { margin: 0; overflow-wrap: anywhere; }
.badge { display: inline-block; font-size: 12px; font-weight: 500; padding: 1px 7px; border-radius: 10px;
         background: var(--soft); border: 1px solid var(--line); vertical-align: middle; }
.badge.variant { background: #eef3fb; }
.badge.sim, .warn { color: var(--warn); }
.warn { border-left: 3px solid var(--warn); padding: .3rem .7rem; background: #fbf3ee; }
table { border-collapse: collapse; margin: .6rem 0; font-size: 14px; }
th, td { border-bottom: 1px solid var(--line); padding: .3rem .55rem; text-align: left; vertical-align: top; }
td { overflow-wrap: break-word; }
thead th { background: var(--soft); position: sticky; top: 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.score { font-weight: 600; }
td.recipe, td.note { font-size: 12px; color: #333; max-width: 22rem; }
td.recipe { min-width: 13rem; }
.src, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; color: var(--muted); }
button.sort { font: inherit; font-weight: 600; background: none; border: 0; padding: 0; cursor: pointer; color: var(--fg); text-align: left; }
button.sort::after { content: " \\2195"; color: #9aa4ae; font-weight: 400; }
th[aria-sort="ascending"] button.sort::after { content: " \\2191"; color: var(--fg); }
th[aria-sort="descending"] button.sort::after { content: " \\2193"; color: var(--fg); }
.tier { display: inline-block; white-space: nowrap; padding: 1px 8px; border-radius: 4px; font-weight: 600; font-size: 13px; white-space: nowrap; }
.tier-1 { background: var(--t1); } .tier-2 { background: var(--t2); } .tier-3 { background: var(--t3); }
.tier-4 { background: var(--t4); } .tier-5 { background: var(--t5); } .tier-6 { background: var(--t6); }
.flag { color: var(--warn); font-weight: 600; }
span.flag { white-space: nowrap; }
dd span.flag, p span.flag { white-space: normal; }
.flag-line { color: var(--warn); }
tr.incomplete td { background: #fcfaf7; }
tr.incomplete td.num { color: var(--muted); font-weight: 400; font-style: italic; }
.scroll { overflow-x: auto; max-width: 100%; }
.figures { display: flex; flex-wrap: wrap; gap: 1.2rem; }
figure { margin: .4rem 0; max-width: 100%; min-width: 0; }
figure .plot { max-width: 100%; overflow-x: auto; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); background: #fff; }
.filter-row input { font: inherit; padding: .2rem .4rem; min-width: 14rem; max-width: 100%; }
.downloads { font-size: 14px; }
.untiered { color: var(--muted); white-space: nowrap; }
.check { display: inline-block; font-size: 12px; padding: 0 6px; margin: 0 3px 2px 0; border-radius: 4px; border: 1px solid var(--line); white-space: nowrap; }
.check-pass { background: #e3f1e0; } .check-fail { background: #f8d7cf; color: #7a1f0a; font-weight: 600; }
.check-na, .check-not-run { background: var(--soft); color: var(--muted); }
code { overflow-wrap: anywhere; }
figcaption { font-size: 13px; color: var(--muted); max-width: 48rem; }
.task-card { border: 1px solid var(--line); border-radius: 6px; padding: .2rem 1rem .6rem; margin: 1rem 0; }
.task-card h2 { border: 0; margin-top: .6rem; }
.tag { display: inline-block; background: var(--soft); border: 1px solid var(--line); border-radius: 4px; padding: 0 6px;
       margin: 0 4px 2px 0; font-size: 13px; overflow-wrap: anywhere; }
pre.yaml { background: var(--soft); border: 1px solid var(--line); padding: .8rem; overflow: auto; font-size: 13px;
           white-space: pre-wrap; overflow-wrap: anywhere; }
details { margin: .8rem 0; }
summary { cursor: pointer; font-weight: 500; }
.subname { overflow-wrap: anywhere; }
@media (max-width: 800px) { main { padding: .5rem; } table { font-size: 12px; } }
/* Phones: plots keep their drawn size (legible text) and scroll sideways inside their own box. */
@media (max-width: 600px) { figure .plot img { max-width: none; } dl.meta { grid-template-columns: 1fr; }
  dl.meta dt { margin-top: .3rem; } .filter-row input { min-width: 0; width: 100%; } }
"""

JS = """/* Sortable tables: click a column header (a button) to sort; again to reverse. Cells may carry
   data-value (numbers); empty or non-numeric values always sort last. No dependencies. */
(function () {
  "use strict";
  function key(cell, numeric) {
    var raw = cell.hasAttribute("data-value") ? cell.getAttribute("data-value") : cell.textContent.trim();
    if (numeric) {
      var n = parseFloat(raw);
      return isNaN(n) ? null : n;
    }
    return raw === "" ? null : raw.toLowerCase();
  }
  function sortBy(table, index, numeric, direction) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var position = new Map();
    rows.forEach(function (row, i) { position.set(row, i); });
    rows.sort(function (a, b) {
      var x = key(a.cells[index], numeric), y = key(b.cells[index], numeric);
      if (x === null || y === null) {
        if (x === y) { return position.get(a) - position.get(b); }
        return x === null ? 1 : -1;
      }
      var c = x < y ? -1 : (x > y ? 1 : 0);
      if (c === 0) { return position.get(a) - position.get(b); }
      return direction === "ascending" ? c : -c;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  }
  function init() {
    var tables = document.querySelectorAll("table.sortable");
    Array.prototype.forEach.call(tables, function (table) {
      if (!table.tHead || !table.tBodies.length) { return; }
      var heads = table.tHead.rows[0].cells;
      Array.prototype.forEach.call(heads, function (th, index) {
        var button = th.querySelector("button.sort");
        if (!button) { return; }
        button.addEventListener("click", function () {
          var current = th.getAttribute("aria-sort");
          var direction = current ? (current === "ascending" ? "descending" : "ascending")
                                  : (th.getAttribute("data-first") || "ascending");
          Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
          th.setAttribute("aria-sort", direction);
          sortBy(table, index, th.getAttribute("data-type") === "number", direction);
        });
      });
    });
  }
  /* Filter boxes: <input class="filter" data-table="ID"> hides the rows of table#ID whose text lacks the query. */
  function initFilters() {
    var inputs = document.querySelectorAll("input.filter[data-table]");
    Array.prototype.forEach.call(inputs, function (input) {
      var table = document.getElementById(input.getAttribute("data-table"));
      if (!table || !table.tBodies.length) { return; }
      input.addEventListener("input", function () {
        var query = input.value.trim().toLowerCase();
        Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
          row.hidden = query !== "" && row.textContent.toLowerCase().indexOf(query) === -1;
        });
      });
    });
  }
  function start() { init(); initFilters(); }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
}());
"""

TEMPLATES = {"base.html": BASE, "macros.html": MACROS, "index.html": INDEX, "task.html": TASK,
             "submission.html": SUBMISSION, "reported.html": REPORTED, "about.html": ABOUT,
             "factorial.html": FACTORIAL}
