/**
 * Self-contained HTML rendering of an {@link EvalReport}: summary and efficiency tables, per-metric
 * bar charts across methods (mean with 95% CI), histograms of per-case probability changes, and
 * sequential-editing curves, all as inline SVG. No external assets, fonts or network access; the
 * file opens offline. A tiny inline script records script errors, checks that every plot drew
 * marks and records the page's width (`<body data-medit-plots="ok/total" data-medit-errors="count"
 * data-medit-width="px">`), which the browser test reads.
 */
import { metricDefinition } from './definitions';
import type { EvalReport, JsonValue, MethodReport } from './schema';
import { barChart, esc, fmt, histogram, lineChart, PALETTE } from './svg';

/** Options for {@link renderHtmlReport}. */
export interface HtmlReportOptions {
  /** Page title (default: "medit evaluation: <model> on <dataset>"). */
  title?: string;
  /**
   * Row metrics drawn as per-method histograms (default: every row metric whose name ends in
   * `Magnitude`, i.e. CounterFact's probability changes EM/PM/NM).
   */
  histogramMetrics?: string[];
  /** Histogram bins (default 20). */
  histogramBins?: number;
  /** Most per-case rows listed per method in the collapsible tables (default 500). */
  maxRows?: number;
  /**
   * Cases shown as a gallery: a line of text and images (`src` a `data:` URL, so the page stays
   * self-contained), e.g. MMEdit's edited and rephrased images.
   */
  gallery?: { id: string; text: string; images: { label: string; src: string }[] }[];
}

const CSS = `
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#222;background:#fff}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.meta{color:#555;margin:0 0 12px}table{border-collapse:collapse;margin:8px 0}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:right;font-variant-numeric:tabular-nums}
th:first-child,td:first-child{text-align:left}th{background:#f5f5f5}
.ci{color:#777;font-size:12px}.plots{display:flex;flex-wrap:wrap;gap:12px}
svg{background:#fcfcfc;border:1px solid #eee}.grid{stroke:#eee}.axis{stroke:#888}.zero{stroke:#888;stroke-dasharray:3 3}
.whisker{stroke:#333;stroke-width:1.2;fill:none}.tick{font-size:10px;fill:#555}.val{font-size:10px;fill:#222}
.ttl{font-size:12px;font-weight:600;fill:#222}.na{font-size:10px;fill:#a00}
#medit-errors{color:#a00;white-space:pre-wrap}details{margin:6px 0}code{background:#f3f3f3;padding:0 3px}
.gallery{display:flex;flex-wrap:wrap;gap:10px}.card{border:1px solid #ddd;padding:6px;max-width:330px;font-size:12px}
.card figure{display:inline-block;margin:2px 4px;text-align:center}.card img{width:96px;height:96px;image-rendering:pixelated;border:1px solid #ccc}
.card figcaption{font-size:10px;color:#555}
.wide{max-width:100%;overflow-x:auto}.summary td.def,.summary th.def{text-align:left;min-width:240px;max-width:520px;color:#444;font-size:12px}
`;

// Runs before anything else so it sees every later script error; on load it checks each plot drew.
const SELF_CHECK = `(function(){var errs=[];function show(){var el=document.getElementById('medit-errors');if(el){el.textContent=errs.join('\\n');el.hidden=errs.length===0;}if(document.body)document.body.setAttribute('data-medit-errors',String(errs.length));}
window.addEventListener('error',function(e){errs.push('error: '+(e&&e.message?e.message:String(e)));show();});
window.addEventListener('load',function(){var svgs=document.querySelectorAll('svg[data-plot]'),ok=0;for(var i=0;i<svgs.length;i++){var m=svgs[i].querySelectorAll('[data-mark]'),drawn=false;for(var j=0;j<m.length&&!drawn;j++){var b=m[j].getBBox();drawn=b.width>0||b.height>0;}if(drawn)ok++;else errs.push('plot drew nothing: '+svgs[i].getAttribute('aria-label'));}
document.body.setAttribute('data-medit-plots',ok+'/'+svgs.length);document.body.setAttribute('data-medit-width',String(document.documentElement.scrollWidth));show();});})();`;

function unionKeys(objs: readonly Record<string, unknown>[]): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const o of objs) for (const k of Object.keys(o)) if (!seen.has(k)) (seen.add(k), out.push(k));
  return out;
}

/** One row per metric (methods side by side, then the metric's definition), so many metrics stay within the page width. */
function summaryTable(methods: readonly MethodReport[], metrics: string[]): string {
  const head = `<tr><th>metric</th>${methods.map((m) => `<th>${esc(m.name)}</th>`).join('')}<th class="def">definition</th></tr>`;
  const body = metrics
    .map((k) => {
      const cells = methods.map((m) => {
        const a = m.aggregates[k];
        if (!a) return '<td></td>';
        const ci = a.ci95 ? `<div class="ci">[${esc(fmt(a.ci95[0]))}, ${esc(fmt(a.ci95[1]))}] n=${a.n}</div>` : `<div class="ci">n=${a.n}</div>`;
        return `<td>${esc(fmt(a.mean))}${ci}</td>`;
      });
      return `<tr><td>${esc(k)}</td>${cells.join('')}<td class="def">${esc(metricDefinition(k) ?? '')}</td></tr>`;
    })
    .join('');
  return `<p class="meta">Each cell: the mean over cases; below it the 95% confidence interval of that mean [low, high] and n, the number of cases it is defined for.</p><div class="wide"><table class="summary">${head}${body}</table></div>`;
}

function hparamsTable(methods: readonly MethodReport[]): string {
  const rows = methods
    .map((m) => `<tr><td>${esc(m.name)}</td><td style="text-align:left"><code>${esc(JSON.stringify(m.hparams))}</code></td></tr>`)
    .join('');
  return `<table><tr><th>method</th><th>hparams</th></tr>${rows}</table>`;
}

function efficiencyTable(methods: readonly MethodReport[]): string {
  const rows = methods
    .filter((m) => m.efficiency)
    .map((m) => {
      const e = m.efficiency!;
      const mb = e.peakNativeBytes === null ? null : e.peakNativeBytes / (1024 * 1024);
      return `<tr><td>${esc(m.name)}</td><td>${e.edits}</td><td>${e.batches}</td><td>${esc(fmt(e.totalMs / 1000))}</td><td>${esc(fmt(e.msPerEdit.mean))}</td><td>${esc(fmt(e.msPerBatch.mean))}</td><td>${esc(fmt(e.editsPerSecond))}</td><td>${esc(fmt(mb))}</td></tr>`;
    })
    .join('');
  return rows === ''
    ? ''
    : `<h2>Efficiency</h2><table><tr><th>method</th><th>edits</th><th>calls</th><th>total s</th><th>ms / edit</th><th>ms / call</th><th>edits / s</th><th>peak native MiB</th></tr>${rows}</table>`;
}

function rowsTables(methods: readonly MethodReport[], maxRows: number): string {
  return methods
    .filter((m) => m.rows && m.rows.length > 0)
    .map((m) => {
      const rows = m.rows!;
      const keys = unionKeys(rows.map((r) => r.metrics));
      const shown = rows.slice(0, maxRows);
      const body = shown.map((r) => `<tr><td>${esc(r.id)}</td>${keys.map((k) => `<td>${esc(fmt(r.metrics[k] ?? null))}</td>`).join('')}</tr>`).join('');
      const more = rows.length > shown.length ? `<p class="meta">${rows.length - shown.length} more rows not shown.</p>` : '';
      return `<details><summary>${esc(m.name)}: ${rows.length} cases</summary><table><tr><th>case</th>${keys.map((k) => `<th>${esc(k)}</th>`).join('')}</tr>${body}</table>${more}</details>`;
    })
    .join('');
}

function gallery(items: NonNullable<HtmlReportOptions['gallery']>): string {
  const cards = items
    .map((c) => {
      const figs = c.images.filter((i) => i.src.startsWith('data:')).map((i) => `<figure><img src="${esc(i.src)}" alt="${esc(i.label)}"><figcaption>${esc(i.label)}</figcaption></figure>`);
      return `<div class="card"><div><b>${esc(c.id)}</b> ${esc(c.text)}</div>${figs.join('')}</div>`;
    })
    .join('');
  return `<div class="gallery">${cards}</div>`;
}

/** The report's load edits (`dataset.load`: edited beside the cases, not scored), as HTML; '' without. */
function loadNote(load: JsonValue | undefined): string {
  if (!load || typeof load !== 'object' || Array.isArray(load)) return '';
  const { cases, file, name, sha256 } = load as Record<string, JsonValue>;
  const from = typeof file === 'string' ? file : typeof name === 'string' ? name : 'another dataset';
  const hash = typeof sha256 === 'string' ? ` (sha256 ${esc(sha256.slice(0, 12))}…)` : '';
  return `load: <b>${esc(String(cases))} edits</b> of ${esc(from)}${hash}, edited in the same calls as the cases and not scored`;
}

/**
 * Render a report as one self-contained HTML page (tables + inline SVG, no external assets).
 *
 * @example
 * ```ts
 * writeFileSync('report.html', renderHtmlReport(report));
 * ```
 */
export function renderHtmlReport(report: EvalReport, opts: HtmlReportOptions = {}): string {
  const methods = report.methods;
  const color = (i: number): string => PALETTE[i % PALETTE.length];
  const title = opts.title ?? `medit evaluation: ${report.model.name} on ${report.dataset.name}`;
  const metrics = unionKeys(methods.map((m) => m.aggregates));

  // A metric that is null for every method has nothing to draw; it stays in the summary table.
  const bars = metrics
    .filter((k) => methods.some((m) => typeof m.aggregates[k]?.mean === 'number'))
    .map((k) =>
      barChart(
        k,
        methods.map((m, i) => ({ label: m.name, mean: m.aggregates[k]?.mean ?? null, ci95: m.aggregates[k]?.ci95 ?? null, color: color(i) })),
      ),
    )
    .join('');

  const rowKeys = unionKeys(methods.flatMap((m) => (m.rows ?? []).map((r) => r.metrics)));
  const histKeys = (opts.histogramMetrics ?? rowKeys.filter((k) => k.endsWith('Magnitude'))).filter((k) => rowKeys.includes(k));
  const bins = opts.histogramBins ?? 20;
  const hists = histKeys
    .map((k) => {
      const per = methods.map((m) => (m.rows ?? []).map((r) => r.metrics[k]).filter((v): v is number => typeof v === 'number'));
      const all = per.flat();
      if (all.length === 0) return '';
      // Probability differences live in [-1, 1]; use that range when the data fit, so methods compare.
      const range: [number, number] = all.every((v) => v >= -1 && v <= 1) ? [-1, 1] : [Math.min(...all), Math.max(...all)];
      const charts = per.map((vals, i) => (vals.length === 0 ? '' : histogram(`${k}: ${methods[i].name}`, vals, bins, range, color(i)))).join('');
      return `<h3>${esc(k)}</h3><div class="plots">${charts}</div>`;
    })
    .join('');

  const curveKeys = unionKeys(methods.flatMap((m) => (m.sequentialCurve ?? []).map((p) => p as Record<string, unknown>))).filter((k) => k !== 'step');
  const curves = curveKeys
    .map((k) =>
      methods
        .map((m, i) => ({ label: m.name, color: color(i), points: (m.sequentialCurve ?? []).map((p) => [p.step, p[k] ?? null] as [number, number | null]) }))
        .filter((s) => s.points.some((p) => p[1] !== null)),
    )
    .map((series, i) => (series.length === 0 ? '' : lineChart(curveKeys[i], series)))
    .join('');

  const ds = report.dataset;
  const dsExtra = ['format', 'file', 'size'].filter((k) => ds[k] !== undefined).map((k) => `${k}: ${esc(String(ds[k]))}`).join(', ');
  const load = loadNote(ds.load);
  return [
    '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
    `<meta name="viewport" content="width=device-width,initial-scale=1"><title>${esc(title)}</title>`,
    `<script>${SELF_CHECK}</script><style>${CSS}</style></head><body>`,
    `<h1>${esc(title)}</h1>`,
    `<p class="meta">model: <b>${esc(report.model.name)}</b> &middot; dataset: <b>${esc(ds.name)}</b>${dsExtra ? ` (${dsExtra})` : ''}${load ? ` &middot; ${load}` : ''} &middot; created ${esc(report.createdAt)} &middot; schema v${report.schemaVersion}</p>`,
    '<pre id="medit-errors" hidden></pre>',
    methods.length === 0 ? '<p>No methods in this report.</p>' : '',
    metrics.length > 0 ? `<h2>Summary (mean, 95% CI, n)</h2>${summaryTable(methods, metrics)}<h2>Metrics across methods</h2><div class="plots">${bars}</div>` : '',
    hists ? `<h2>Per-case probability changes</h2>${hists}` : '',
    curves ? `<h2>Sequential editing</h2><div class="plots">${curves}</div>` : '',
    efficiencyTable(methods),
    methods.length > 0 ? `<h2>Hyperparameters</h2>${hparamsTable(methods)}` : '',
    opts.gallery && opts.gallery.length > 0 ? `<h2>Cases</h2>${gallery(opts.gallery)}` : '',
    methods.some((m) => m.rows && m.rows.length > 0) ? `<h2>Per-case metrics</h2>${rowsTables(methods, opts.maxRows ?? 500)}` : '',
    '</body></html>',
  ].join('\n');
}
