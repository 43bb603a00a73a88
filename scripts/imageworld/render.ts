/**
 * Deterministic rendering of the image world's scenes into small RGB images. A render is a pure
 * function of (world, content, seed): the seed chooses everything that is not content — where
 * the objects sit inside their region, their exact pixel size within their size class, the
 * arrangement of a group, colour jitter, the background tint and its speckle noise. Two seeds of
 * the same content are MMEdit's "rephrased images": the same scene drawn again.
 *
 * Pixels are painted by coverage tests at pixel centres (no anti-aliasing), so a render is
 * byte-identical on every machine.
 */
import type { RgbImage } from '@medit/core';

import { Rng } from '../factworld/prng';
import { COLOURS, type FlagDesign, type Landmark, type ObjectScene, type SceneContent, type Shape, type World, landmarkOf, nationOf } from './world';

const BACKGROUND = [28, 30, 38];

/** A mutable RGB canvas. @internal */
class Canvas {
  readonly data: Uint8Array;
  constructor(readonly size: number) {
    this.data = new Uint8Array(size * size * 3);
  }

  set(x: number, y: number, rgb: readonly number[]): void {
    if (x < 0 || y < 0 || x >= this.size || y >= this.size) return;
    const i = (y * this.size + x) * 3;
    for (let c = 0; c < 3; c++) this.data[i + c] = Math.max(0, Math.min(255, Math.round(rgb[c])));
  }

  /** Paints every pixel whose centre satisfies `inside` (a predicate on centre coordinates). */
  fill(inside: (px: number, py: number) => boolean, rgb: readonly number[]): void {
    for (let y = 0; y < this.size; y++) for (let x = 0; x < this.size; x++) if (inside(x + 0.5, y + 0.5)) this.set(x, y, rgb);
  }

  image(): RgbImage {
    return { width: this.size, height: this.size, data: this.data };
  }
}

/** The coverage test of a shape of side `s` centred at (cx, cy). */
function shapeTest(shape: Shape, cx: number, cy: number, s: number): (x: number, y: number) => boolean {
  const r = s / 2;
  switch (shape) {
    case 'circle':
      return (x, y) => (x - cx) ** 2 + (y - cy) ** 2 <= r * r;
    case 'square':
      return (x, y) => Math.abs(x - cx) <= r && Math.abs(y - cy) <= r;
    case 'diamond':
      return (x, y) => Math.abs(x - cx) + Math.abs(y - cy) <= r;
    case 'triangle':
      // upright: apex at the top, base at the bottom
      return (x, y) => y >= cy - r && y <= cy + r && Math.abs(x - cx) <= (y - (cy - r)) / 2;
    case 'cross': {
      const arm = Math.max(1, s / 6);
      return (x, y) => (Math.abs(x - cx) <= arm && Math.abs(y - cy) <= r) || (Math.abs(y - cy) <= arm && Math.abs(x - cx) <= r);
    }
  }
}

function jitter(rng: Rng, rgb: readonly number[], amount: number): number[] {
  return rgb.map((v) => v + (rng.next() * 2 - 1) * amount);
}

/** Background: a tinted dark slate with grey speckles. */
function paintBackground(c: Canvas, rng: Rng): void {
  const tint = jitter(rng, BACKGROUND, 6);
  const density = 0.02 + rng.next() * 0.08;
  for (let y = 0; y < c.size; y++)
    for (let x = 0; x < c.size; x++) {
      const d = rng.next() < density ? (rng.next() * 2 - 1) * 40 : 0;
      c.set(x, y, tint.map((v) => v + d));
    }
}

/** Offsets (in units of object pitch) of each arrangement, and the positions that may use it. */
const ARRANGEMENTS: { count: number; offsets: [number, number][]; horizontal: boolean; vertical: boolean }[] = [
  { count: 1, offsets: [[0, 0]], horizontal: true, vertical: true },
  { count: 2, offsets: [[-0.5, 0], [0.5, 0]], horizontal: true, vertical: false },
  { count: 2, offsets: [[0, -0.5], [0, 0.5]], horizontal: false, vertical: true },
  { count: 3, offsets: [[-1, 0], [0, 0], [1, 0]], horizontal: true, vertical: false },
  { count: 3, offsets: [[0, -1], [0, 0], [0, 1]], horizontal: false, vertical: true },
  { count: 3, offsets: [[-0.5, 0.5], [0.5, 0.5], [0, -0.5]], horizontal: true, vertical: true },
  { count: 4, offsets: [[-0.5, -0.5], [0.5, -0.5], [-0.5, 0.5], [0.5, 0.5]], horizontal: true, vertical: true },
];

const ANCHORS: Record<ObjectScene['position'], [number, number]> = { left: [0.25, 0.5], right: [0.75, 0.5], top: [0.5, 0.25], bottom: [0.5, 0.75], center: [0.5, 0.5] };
const COUNT_OF = { one: 1, two: 2, three: 3, four: 4 } as const;

function paintObjects(c: Canvas, s: ObjectScene, rng: Rng): void {
  const n = COUNT_OF[s.count];
  const unit = c.size / 48;
  const side = (s.size === 'small' ? 6 + rng.int(2) : 10 + rng.int(2)) * unit;
  const pitch = side + (2 + rng.int(2)) * unit;
  // left/right groups are stacked vertically, top/bottom ones side by side, so they stay in their region
  const fits = ARRANGEMENTS.filter((a) => a.count === n && (s.position === 'center' || (s.position === 'left' || s.position === 'right' ? a.vertical : a.horizontal)));
  const arrangement = rng.pick(fits);
  const [ax, ay] = ANCHORS[s.position];
  let cx = ax * c.size + (rng.next() * 2 - 1) * 2 * unit;
  let cy = ay * c.size + (rng.next() * 2 - 1) * 2 * unit;
  // keep the whole group inside the image (one pixel margin)
  const xs = arrangement.offsets.map(([dx]) => dx * pitch);
  const ys = arrangement.offsets.map(([, dy]) => dy * pitch);
  const margin = side / 2 + 1;
  cx = Math.min(Math.max(cx, margin - Math.min(...xs)), c.size - margin - Math.max(...xs));
  cy = Math.min(Math.max(cy, margin - Math.min(...ys)), c.size - margin - Math.max(...ys));
  for (const [dx, dy] of arrangement.offsets) c.fill(shapeTest(s.shape, cx + dx * pitch, cy + dy * pitch, side), jitter(rng, COLOURS[s.colour], 12));
}

function paintFlag(c: Canvas, f: FlagDesign, rng: Rng): void {
  const unit = c.size / 48;
  const w = (28 + rng.int(11)) * unit;
  const h = (18 + rng.int(9)) * unit;
  const cx = c.size / 2 + (rng.next() * 2 - 1) * 4 * unit;
  const cy = c.size / 2 + (rng.next() * 2 - 1) * 4 * unit;
  const x0 = Math.max(1, Math.min(cx - w / 2, c.size - 1 - w));
  const y0 = Math.max(1, Math.min(cy - h / 2, c.size - 1 - h));
  const colours = f.stripes.map((s) => jitter(rng, COLOURS[s], 10));
  c.fill((x, y) => x >= x0 && x < x0 + w && y >= y0 && y < y0 + h, colours[0]);
  f.stripes.forEach((_, i) => {
    if (i === 0) return;
    const band = f.orientation === 'horizontal' ? (x: number, y: number) => y >= y0 + (i * h) / 3 && y < y0 + ((i + 1) * h) / 3 : (x: number) => x >= x0 + (i * w) / 3 && x < x0 + ((i + 1) * w) / 3;
    c.fill((x, y) => x >= x0 && x < x0 + w && y >= y0 && y < y0 + h && band(x, y), colours[i]);
  });
  if (f.emblem) c.fill(shapeTest(f.emblem.shape, x0 + w / 2, y0 + h / 2, Math.round(Math.min(w, h) * 0.45)), jitter(rng, COLOURS[f.emblem.colour], 10));
}

/** Landmark silhouettes in a unit box (u right, v down), each part in the body (0) or accent (1) colour. */
const LANDMARK_PARTS: Record<Landmark['type'], { colour: 0 | 1; inside: (u: number, v: number) => boolean }[]> = {
  tower: [
    { colour: 0, inside: (u, v) => u >= 0.35 && u <= 0.65 && v >= 0.3 && v <= 1 },
    { colour: 1, inside: (u, v) => v >= 0.02 && v < 0.3 && Math.abs(u - 0.5) <= ((v - 0.02) / 0.28) * 0.22 },
    { colour: 1, inside: (u, v) => u >= 0.45 && u <= 0.55 && v >= 0.45 && v <= 0.6 },
  ],
  arch: [
    { colour: 0, inside: (u, v) => ((u >= 0.1 && u <= 0.3) || (u >= 0.7 && u <= 0.9)) && v >= 0.3 && v <= 1 },
    { colour: 1, inside: (u, v) => u >= 0.05 && u <= 0.95 && v >= 0.12 && v < 0.32 },
  ],
  bridge: [
    { colour: 1, inside: (u, v) => v >= 0.35 && v < 0.5 },
    { colour: 0, inside: (u, v) => v >= 0.5 && v <= 0.9 && ((u >= 0.1 && u <= 0.22) || (u >= 0.44 && u <= 0.56) || (u >= 0.78 && u <= 0.9)) },
  ],
  dome: [
    { colour: 0, inside: (u, v) => u >= 0.15 && u <= 0.85 && v >= 0.55 && v <= 1 },
    { colour: 1, inside: (u, v) => v < 0.55 && (u - 0.5) ** 2 + (v - 0.55) ** 2 <= 0.35 ** 2 },
  ],
  pyramid: [
    { colour: 0, inside: (u, v) => v >= 0.05 && v <= 1 && Math.abs(u - 0.5) <= ((v - 0.05) / 0.95) * 0.5 },
    { colour: 1, inside: (u, v) => u >= 0.42 && u <= 0.58 && v >= 0.72 && v <= 1 },
  ],
  obelisk: [
    { colour: 0, inside: (u, v) => (u >= 0.4 && u <= 0.6 && v >= 0.15 && v < 0.85) || (v < 0.15 && Math.abs(u - 0.5) <= (v / 0.15) * 0.1) },
    { colour: 1, inside: (u, v) => u >= 0.22 && u <= 0.78 && v >= 0.85 && v <= 1 },
  ],
};

function paintLandmark(c: Canvas, l: Landmark, rng: Rng): void {
  const unit = c.size / 48;
  const box = (30 + rng.int(9)) * unit;
  const x0 = Math.max(1, Math.min(c.size / 2 - box / 2 + (rng.next() * 2 - 1) * 4 * unit, c.size - 1 - box));
  const y0 = Math.max(1, Math.min(c.size / 2 - box / 2 + (rng.next() * 2 - 1) * 4 * unit, c.size - 1 - box));
  const colours: [number[], number[]] = [jitter(rng, COLOURS[l.colours[0]], 10), jitter(rng, COLOURS[l.colours[1]], 10)];
  for (const part of LANDMARK_PARTS[l.type]) c.fill((x, y) => part.inside((x - x0) / box, (y - y0) / box) && x >= x0 && x <= x0 + box && y >= y0 && y <= y0 + box, colours[part.colour]);
}

/**
 * Renders `content` with the rendering choices of `seed`.
 * @example render(world, { kind: 'flag', nation: 'Kesmira' }, 7)
 */
export function render(world: World, content: SceneContent, seed: number): RgbImage {
  const rng = new Rng(seed);
  const c = new Canvas(world.imageSize);
  paintBackground(c, rng);
  if (content.kind === 'objects') paintObjects(c, content, rng);
  else if (content.kind === 'flag') paintFlag(c, nationOf(world, content.nation).flag, rng);
  else paintLandmark(c, landmarkOf(world, content.landmark), rng);
  return c.image();
}
