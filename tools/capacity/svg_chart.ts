/**
 * Minimal line charts written as SVG text, for the planner's and the experiment's reports (no
 * plotting library: the reports render in any browser or Markdown viewer).
 *
 * @module
 */

/** One line of a chart. */
export interface Series {
  readonly name: string;
  readonly points: ReadonlyArray<readonly [number, number]>;
  /** Draw as steps (value holds until the next point), e.g. a CDF or a bucketed series. */
  readonly step?: boolean;
}

/** What to draw. */
export interface ChartOptions {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly Series[];
  /** Logarithmic x axis (positive x only), e.g. for latencies. */
  readonly logX?: boolean;
  readonly width?: number;
  readonly height?: number;
}

const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"];

const escape = (s: string) =>
  s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");

/** About five round tick values covering `[lo, hi]`. */
function ticks(lo: number, hi: number): number[] {
  if (hi <= lo) return [lo];
  const raw = (hi - lo) / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
    out.push(Number(v.toPrecision(12)));
  }
  return out;
}

const label = (v: number) =>
  Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-2 && v !== 0) ? v.toExponential(0) : String(v);

/**
 * An SVG line chart.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { lineChart } from "./svg_chart.ts";
 * const svg = lineChart({
 *   title: "t", xLabel: "x", yLabel: "y",
 *   series: [{ name: "a", points: [[0, 0], [1, 2]] }],
 * });
 * assert.ok(svg.startsWith("<svg") && svg.includes("<polyline"));
 * ```
 */
export function lineChart(options: ChartOptions): string {
  const width = options.width ?? 760, height = options.height ?? 380;
  const left = 70, right = 20, top = 40, bottom = 50;
  const all = options.series.flatMap((s) => s.points).filter(([x, y]) =>
    Number.isFinite(x) && Number.isFinite(y) && (!options.logX || x > 0)
  );
  const fx = (x: number) => options.logX ? Math.log10(x) : x;
  let xLo = Math.min(...all.map(([x]) => fx(x))), xHi = Math.max(...all.map(([x]) => fx(x)));
  let yLo = Math.min(0, ...all.map(([, y]) => y)), yHi = Math.max(...all.map(([, y]) => y));
  if (!Number.isFinite(xLo)) [xLo, xHi, yLo, yHi] = [0, 1, 0, 1];
  if (xHi === xLo) xHi = xLo + 1;
  if (yHi === yLo) yHi = yLo + 1;
  const px = (x: number) => left + ((fx(x) - xLo) / (xHi - xLo)) * (width - left - right);
  const py = (y: number) => height - bottom - ((y - yLo) / (yHi - yLo)) * (height - top - bottom);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
    `font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14">${
      escape(options.title)
    }</text>`,
    `<text x="${width / 2}" y="${height - 10}" text-anchor="middle">${
      escape(options.xLabel)
    }</text>`,
    `<text x="15" y="${height / 2}" text-anchor="middle" transform="rotate(-90 15 ${height / 2})">${
      escape(options.yLabel)
    }</text>`,
  ];
  const xTicks = options.logX
    ? ticks(Math.floor(xLo), Math.ceil(xHi)).filter((e) => Number.isInteger(e)).map((e) => 10 ** e)
      .filter((v) => fx(v) >= xLo - 1e-9 && fx(v) <= xHi + 1e-9)
    : ticks(xLo, xHi);
  for (const t of xTicks) {
    parts.push(
      `<line x1="${px(t)}" x2="${px(t)}" y1="${top}" y2="${height - bottom}" stroke="#eee"/>`,
      `<text x="${px(t)}" y="${height - bottom + 15}" text-anchor="middle">${label(t)}</text>`,
    );
  }
  for (const t of ticks(yLo, yHi)) {
    parts.push(
      `<line x1="${left}" x2="${width - right}" y1="${py(t)}" y2="${py(t)}" stroke="#eee"/>`,
      `<text x="${left - 5}" y="${py(t) + 4}" text-anchor="end">${label(t)}</text>`,
    );
  }
  parts.push(
    `<rect x="${left}" y="${top}" width="${width - left - right}" ` +
      `height="${height - top - bottom}" fill="none" stroke="#333"/>`,
  );
  options.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const pts = s.points.filter(([x, y]) =>
      Number.isFinite(x) && Number.isFinite(y) && (!options.logX || x > 0)
    );
    const coords: string[] = [];
    pts.forEach(([x, y], k) => {
      if (s.step && k > 0) coords.push(`${px(x).toFixed(1)},${py(pts[k - 1][1]).toFixed(1)}`);
      coords.push(`${px(x).toFixed(1)},${py(y).toFixed(1)}`);
    });
    parts.push(
      `<polyline fill="none" stroke="${color}" stroke-width="1.5" points="${coords.join(" ")}"/>`,
      `<rect x="${left + 10}" y="${top + 8 + i * 16}" width="12" height="3" fill="${color}"/>`,
      `<text x="${left + 26}" y="${top + 13 + i * 16}">${escape(s.name)}</text>`,
    );
  });
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}
