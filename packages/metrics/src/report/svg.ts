/**
 * @internal Minimal inline-SVG chart primitives for the HTML report: grouped bars with CI whiskers,
 * histograms and line charts. Every drawn mark carries `data-mark` so the page's self-check (and the
 * browser test) can verify something was actually drawn.
 */

export const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];

/** Escape text for HTML/SVG content and attribute values. */
export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/** Compact number formatting for labels and tables; null → en dash. */
export function fmt(v: number | null | undefined): string {
  if (v === null || v === undefined) return '\u2013';
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(2);
  if (a >= 100) return v.toFixed(1);
  return v.toFixed(3);
}

/** Axis tick label: shortest exact-looking form (`8`, `0.25`, `-1`). */
function fmtTick(v: number): string {
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(1);
  return String(parseFloat(v.toPrecision(6)));
}

const r2 = (x: number): string => (Math.round(x * 100) / 100).toString();

/** Nice tick values covering [lo, hi]. */
function ticks(lo: number, hi: number, integer: boolean, count = 5): number[] {
  const span = hi - lo;
  const raw = span / count;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  // Counts get whole-number steps only.
  const candidates = [1, 2, 2.5, 5, 10].map((m) => m * mag).filter((s) => !integer || Number.isInteger(s));
  const step = candidates.find((s) => span / s <= count) ?? 10 * Math.max(mag, 1);
  const out: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(Math.abs(t) < step * 1e-9 ? 0 : t);
  return out;
}

/** Domain that contains all values and 0; [0, 1] when everything lies in it. */
function domain(values: number[]): [number, number] {
  const fin = values.filter((v) => Number.isFinite(v));
  if (fin.length === 0) return [0, 1];
  let lo = Math.min(0, ...fin);
  let hi = Math.max(0, ...fin);
  if (lo >= 0 && hi <= 1) return [0, 1];
  if (hi === lo) hi = lo + 1;
  const pad = (hi - lo) * 0.05;
  if (lo < 0) lo -= pad;
  if (hi > 0) hi += pad;
  return [lo, hi];
}

function yAxis(x0: number, y: (v: number) => number, lo: number, hi: number, width: number, integer = false): string {
  return ticks(lo, hi, integer)
    .map(
      (t) =>
        `<line x1="${x0}" x2="${r2(x0 + width)}" y1="${r2(y(t))}" y2="${r2(y(t))}" class="grid"/>` +
        `<text x="${x0 - 4}" y="${r2(y(t) + 3)}" text-anchor="end" class="tick">${esc(fmtTick(t))}</text>`,
    )
    .join('');
}

/** One bar per method: `mean` with a `ci95` whisker. */
export function barChart(title: string, items: { label: string; mean: number | null; ci95: [number, number] | null; color: string }[]): string {
  const W = 380;
  const H = 230;
  const L = 48;
  const R = 10;
  const T = 24;
  const B = 46;
  const pw = W - L - R;
  const ph = H - T - B;
  const [lo, hi] = domain(items.flatMap((i) => [i.mean ?? 0, ...(i.ci95 ?? [])]));
  const y = (v: number): number => T + ph * (1 - (v - lo) / (hi - lo));
  const slot = pw / Math.max(items.length, 1);
  const bw = Math.min(48, slot * 0.7);
  const parts: string[] = [yAxis(L, y, lo, hi, pw)];
  items.forEach((it, i) => {
    const cx = L + slot * (i + 0.5);
    const label = it.label.length > 16 ? it.label.slice(0, 15) + '\u2026' : it.label;
    parts.push(`<text x="${r2(cx)}" y="${H - B + 14}" text-anchor="middle" class="tick"><title>${esc(it.label)}</title>${esc(label)}</text>`);
    if (it.mean === null) {
      parts.push(`<text x="${r2(cx)}" y="${r2(y(0) - 4)}" text-anchor="middle" class="na">n/a</text>`);
      return;
    }
    const top = Math.min(y(it.mean), y(0));
    const h = Math.abs(y(it.mean) - y(0));
    parts.push(
      `<rect data-mark x="${r2(cx - bw / 2)}" y="${r2(top)}" width="${r2(bw)}" height="${r2(Math.max(h, 0.5))}" fill="${it.color}"><title>${esc(`${it.label}: ${fmt(it.mean)}`)}</title></rect>`,
    );
    if (it.ci95) {
      const [a, b] = it.ci95;
      parts.push(
        `<path data-mark class="whisker" d="M${r2(cx)} ${r2(y(a))}V${r2(y(b))}M${r2(cx - 6)} ${r2(y(a))}H${r2(cx + 6)}M${r2(cx - 6)} ${r2(y(b))}H${r2(cx + 6)}"/>`,
      );
    }
    parts.push(`<text x="${r2(cx)}" y="${H - B + 28}" text-anchor="middle" class="val">${esc(fmt(it.mean))}</text>`);
  });
  parts.push(`<line x1="${L}" x2="${L + pw}" y1="${r2(y(0))}" y2="${r2(y(0))}" class="axis"/>`);
  return svg('bar', title, W, H, parts.join(''));
}

/** Histogram of `values` over `[lo, hi]` with `bins` equal-width bins (last bin closed). */
export function histogram(title: string, values: number[], bins: number, range: [number, number], color: string): string {
  const W = 300;
  const H = 180;
  const L = 40;
  const R = 10;
  const T = 24;
  const B = 30;
  const pw = W - L - R;
  const ph = H - T - B;
  let [lo, hi] = range;
  if (hi === lo) {
    lo -= 0.5;
    hi += 0.5;
  }
  const counts = new Array<number>(bins).fill(0);
  for (const v of values) {
    const k = Math.min(bins - 1, Math.max(0, Math.floor(((v - lo) / (hi - lo)) * bins)));
    counts[k]++;
  }
  const cmax = Math.max(1, ...counts);
  const y = (c: number): number => T + ph * (1 - c / cmax);
  const bw = pw / bins;
  const parts: string[] = [yAxis(L, y, 0, cmax, pw, true)];
  counts.forEach((c, k) => {
    if (c === 0) return;
    const x0 = lo + ((hi - lo) * k) / bins;
    const x1 = lo + ((hi - lo) * (k + 1)) / bins;
    parts.push(
      `<rect data-mark x="${r2(L + k * bw + 0.5)}" y="${r2(y(c))}" width="${r2(Math.max(bw - 1, 0.5))}" height="${r2(T + ph - y(c))}" fill="${color}"><title>[${esc(fmt(x0))}, ${esc(fmt(x1))}): ${c}</title></rect>`,
    );
  });
  parts.push(`<line x1="${L}" x2="${L + pw}" y1="${T + ph}" y2="${T + ph}" class="axis"/>`);
  parts.push(`<text x="${L}" y="${H - 12}" text-anchor="start" class="tick">${esc(fmtTick(lo))}</text>`);
  parts.push(`<text x="${L + pw}" y="${H - 12}" text-anchor="end" class="tick">${esc(fmtTick(hi))}</text>`);
  if (lo < 0 && hi > 0) {
    const x0 = L + (pw * (0 - lo)) / (hi - lo);
    parts.push(`<line x1="${r2(x0)}" x2="${r2(x0)}" y1="${T}" y2="${T + ph}" class="zero"/>`);
    parts.push(`<text x="${r2(x0)}" y="${H - 12}" text-anchor="middle" class="tick">0</text>`);
  }
  return svg('hist', title, W, H, parts.join(''));
}

/** Lines of (step, value) per series; nulls break the line. */
export function lineChart(title: string, series: { label: string; color: string; points: [number, number | null][] }[]): string {
  const W = 420;
  const H = 240;
  const L = 48;
  const R = 110;
  const T = 24;
  const B = 34;
  const pw = W - L - R;
  const ph = H - T - B;
  const steps = series.flatMap((s) => s.points.map((p) => p[0]));
  const vals = series.flatMap((s) => s.points.map((p) => p[1]).filter((v): v is number => v !== null));
  let x0 = Math.min(...steps);
  let x1 = Math.max(...steps);
  if (!Number.isFinite(x0)) [x0, x1] = [0, 1];
  if (x1 === x0) x1 = x0 + 1;
  const [lo, hi] = domain(vals);
  const x = (s: number): number => L + (pw * (s - x0)) / (x1 - x0);
  const y = (v: number): number => T + ph * (1 - (v - lo) / (hi - lo));
  const parts: string[] = [yAxis(L, y, lo, hi, pw)];
  parts.push(`<line x1="${L}" x2="${L + pw}" y1="${T + ph}" y2="${T + ph}" class="axis"/>`);
  parts.push(`<text x="${L}" y="${H - 14}" class="tick" text-anchor="start">${esc(fmtTick(x0))}</text>`);
  parts.push(`<text x="${L + pw}" y="${H - 14}" class="tick" text-anchor="end">${esc(String(x1))}</text>`);
  parts.push(`<text x="${r2(L + pw / 2)}" y="${H - 4}" class="tick" text-anchor="middle">edits</text>`);
  series.forEach((s, i) => {
    let d = '';
    let pen = false;
    for (const [st, v] of s.points) {
      if (v === null) {
        pen = false;
        continue;
      }
      d += `${pen ? 'L' : 'M'}${r2(x(st))} ${r2(y(v))}`;
      pen = true;
    }
    if (d !== '') parts.push(`<path data-mark d="${d}" fill="none" stroke="${s.color}" stroke-width="2"/>`);
    for (const [st, v] of s.points) {
      if (v !== null) parts.push(`<circle data-mark cx="${r2(x(st))}" cy="${r2(y(v))}" r="2.5" fill="${s.color}"><title>${esc(`${s.label} @ ${st}: ${fmt(v)}`)}</title></circle>`);
    }
    const ly = T + 12 + i * 16;
    const name = s.label.length > 14 ? s.label.slice(0, 13) + '\u2026' : s.label;
    parts.push(`<rect x="${L + pw + 10}" y="${ly - 8}" width="10" height="10" fill="${s.color}"/><text x="${L + pw + 24}" y="${ly + 1}" class="tick">${esc(name)}</text>`);
  });
  return svg('line', title, W, H, parts.join(''));
}

function svg(kind: string, title: string, w: number, h: number, body: string): string {
  return (
    `<svg data-plot="${kind}" role="img" aria-label="${esc(title)}" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}">` +
    `<title>${esc(title)}</title><text x="${w / 2}" y="15" text-anchor="middle" class="ttl">${esc(title)}</text>${body}</svg>`
  );
}
