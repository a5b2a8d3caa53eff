/**
 * The SVG plot of docs/poc-gc.md: GC data WAF against utilisation, a line
 * per policy (solid: measured in the guest; dashed: a future-knowledge
 * bound on the LFS model). Plain SVG text, no library: a dozen elements
 * per series.
 */

export interface Series {
  name: string;
  /** x: utilisation in percent, y: GC data WAF; drawn in x order */
  points: Array<{ x: number; y: number }>;
  /** drawn dashed: a bound, not a measurement */
  bound?: boolean;
}

const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22'];

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** A "nice" tick step near span/5: 1, 2 or 5 times a power of ten. */
function step(span: number): number {
  const raw = span / 5;
  const p = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw) ?? 10 * p;
}

/**
 * The plot as an SVG document. Throws RangeError when no series has a
 * finite point (nothing to draw).
 */
export function wafPlot(title: string, series: Series[], opts: { width?: number; height?: number } = {}): string {
  const W = opts.width ?? 800;
  const H = opts.height ?? 420;
  const m = { l: 60, r: 280, t: 40, b: 50 };
  const pts = series.flatMap((s) => s.points).filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  if (pts.length === 0) throw new RangeError('wafPlot: no finite point to draw');
  const xs = pts.map((p) => p.x);
  const ys = pts.map((p) => p.y);
  const x0 = Math.min(...xs) - 5;
  const x1 = Math.max(...xs) + 5;
  const ySpan = Math.max(...ys) - Math.min(1, ...ys);
  const yStep = step(Math.max(ySpan, 0.5));
  const y0 = Math.floor(Math.min(1, ...ys) / yStep) * yStep;
  const y1 = Math.max(y0 + yStep, Math.ceil(Math.max(...ys) / yStep) * yStep);
  const px = (x: number): number => m.l + ((x - x0) / (x1 - x0)) * (W - m.l - m.r);
  const py = (y: number): number => H - m.b - ((y - y0) / (y1 - y0)) * (H - m.t - m.b);
  const f = (n: number): string => n.toFixed(1);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="14">${esc(title)}</text>`,
  ];
  // axes, grid and ticks
  out.push(`<line x1="${m.l}" y1="${H - m.b}" x2="${W - m.r}" y2="${H - m.b}" stroke="black"/>`, `<line x1="${m.l}" y1="${m.t}" x2="${m.l}" y2="${H - m.b}" stroke="black"/>`);
  for (const x of [...new Set(xs)].sort((a, b) => a - b)) {
    out.push(`<line x1="${f(px(x))}" y1="${H - m.b}" x2="${f(px(x))}" y2="${H - m.b + 5}" stroke="black"/>`, `<text x="${f(px(x))}" y="${H - m.b + 18}" text-anchor="middle">${x}%</text>`);
  }
  for (let y = y0; y <= y1 + 1e-9; y += yStep) {
    out.push(
      `<line x1="${m.l}" y1="${f(py(y))}" x2="${W - m.r}" y2="${f(py(y))}" stroke="#ddd"/>`,
      `<text x="${m.l - 6}" y="${f(py(y) + 4)}" text-anchor="end">${y.toFixed(yStep < 1 ? 1 : 0)}</text>`,
    );
  }
  out.push(
    `<text x="${(m.l + W - m.r) / 2}" y="${H - 12}" text-anchor="middle">utilisation (share of user capacity filled)</text>`,
    `<text transform="translate(16 ${(m.t + H - m.b) / 2}) rotate(-90)" text-anchor="middle">GC data WAF</text>`,
  );
  // the series and the legend
  series.forEach((s, i) => {
    const c = COLOURS[i % COLOURS.length]!;
    const p = s.points.filter((q) => Number.isFinite(q.x) && Number.isFinite(q.y)).sort((a, b) => a.x - b.x);
    const dash = s.bound ? ' stroke-dasharray="6 4"' : '';
    if (p.length > 1) out.push(`<polyline fill="none" stroke="${c}" stroke-width="2"${dash} points="${p.map((q) => `${f(px(q.x))},${f(py(q.y))}`).join(' ')}"/>`);
    for (const q of p) out.push(`<circle cx="${f(px(q.x))}" cy="${f(py(q.y))}" r="3" fill="${c}"><title>${esc(`${s.name} ${q.x}%: ${q.y.toFixed(3)}`)}</title></circle>`);
    const ly = m.t + 10 + i * 20;
    out.push(
      `<line x1="${W - m.r + 15}" y1="${ly}" x2="${W - m.r + 45}" y2="${ly}" stroke="${c}" stroke-width="2"${dash}/>`,
      `<text x="${W - m.r + 52}" y="${ly + 4}">${esc(s.name)}</text>`,
    );
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
