/**
 * A contact sheet of renders, for looking at the world:
 *
 *   node scripts/dist/imageworld/preview.js --out /tmp/sheet.png [--world test-fixtures/imageworld/world.json]
 *
 * Rows: object scenes, flags, landmarks; each drawn with several seeds (the "rephrased images"),
 * scaled ×4 without smoothing.
 */
import * as fs from 'node:fs';

import { type RgbImage, writePng } from '@medit/core';

import { arg } from '../args';
import { render } from './render';
import { type SceneContent, type World, generateWorld, parseSceneKey } from './world';

/** Tiles images into rows (each row a list), scaled by `scale`, with a 1-pixel gap. */
export function contactSheet(rows: RgbImage[][], scale: number): RgbImage {
  const size = rows[0][0].width * scale;
  const cols = Math.max(...rows.map((r) => r.length));
  const width = cols * (size + 1);
  const height = rows.length * (size + 1);
  const data = new Uint8Array(width * height * 3).fill(255);
  rows.forEach((row, r) =>
    row.forEach((img, c) => {
      for (let y = 0; y < size; y++)
        for (let x = 0; x < size; x++) {
          const src = (Math.floor(y / scale) * img.width + Math.floor(x / scale)) * 3;
          const dst = ((r * (size + 1) + y) * width + c * (size + 1) + x) * 3;
          data.set(img.data.subarray(src, src + 3), dst);
        }
    }),
  );
  return { width, height, data };
}

function main(): void {
  const worldFile = arg('world', '');
  const world: World = worldFile ? JSON.parse(fs.readFileSync(worldFile, 'utf8')) : generateWorld();
  const contents: SceneContent[] = [
    ...world.scenes.train.slice(0, 6).map(parseSceneKey),
    ...world.nations.slice(0, 3).map((n) => ({ kind: 'flag' as const, nation: n.name })),
    ...['tower', 'arch', 'bridge', 'dome', 'pyramid', 'obelisk'].map((t) => ({ kind: 'landmark' as const, landmark: world.landmarks.find((l) => l.type === t)!.name })),
  ];
  writePng(arg('out'), contactSheet(contents.map((c) => [1, 2, 3, 4, 5].map((seed) => render(world, c, seed))), 4));
}

if (require.main === module) main();
