/**
 * RGB images for vision-language models: the in-memory type every image input uses, and PNG
 * files in and out (through `pngjs`; 8-bit RGB written, any PNG colour type read and flattened to
 * RGB — an alpha channel is dropped, not blended).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { PNG } from 'pngjs';

import { ArgumentError, IOError } from '../errors';

/** An 8-bit RGB image, row-major, 3 bytes per pixel (`data.length === width · height · 3`). */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** Throws an ArgumentError naming `param` when `image` is not a well-formed {@link RgbImage}. */
export function checkRgbImage(image: RgbImage, param = 'image'): void {
  if (!image || typeof image !== 'object') throw new ArgumentError(`Expected an RgbImage for ${param} but received ${String(image)}`);
  const { width, height, data } = image;
  if (!Number.isInteger(width) || width < 1 || !Number.isInteger(height) || height < 1) {
    throw new ArgumentError(`Expected positive integer width and height for ${param} but received ${width}×${height}`);
  }
  if (!(data instanceof Uint8Array) || data.length !== width * height * 3) {
    throw new ArgumentError(`Expected ${width * height * 3} bytes (${width}×${height}×3) of RGB data for ${param} but received ${data instanceof Uint8Array ? data.length : typeof data}`);
  }
}

/** Decodes PNG bytes into an {@link RgbImage}. `where` names the source in errors. */
export function decodePng(bytes: Uint8Array, where = 'PNG data'): RgbImage {
  let png: PNG;
  try {
    png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (err) {
    throw new IOError(`${where}: not a readable PNG (${(err as Error).message})`);
  }
  const { width, height } = png;
  const rgba = png.data;
  const data = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; i < width * height; i++, j += 4) {
    data[i * 3] = rgba[j];
    data[i * 3 + 1] = rgba[j + 1];
    data[i * 3 + 2] = rgba[j + 2];
  }
  return { width, height, data };
}

/** Encodes an {@link RgbImage} as an 8-bit RGB PNG (deterministic bytes for equal images). */
export function encodePng(image: RgbImage): Buffer {
  checkRgbImage(image);
  const png = new PNG({ width: image.width, height: image.height, colorType: 2, inputColorType: 2, inputHasAlpha: false });
  png.data = Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength);
  return PNG.sync.write(png, { colorType: 2, inputColorType: 2, inputHasAlpha: false });
}

/**
 * Reads a PNG file.
 * @throws IOError naming the file when it is missing or not a PNG
 * @example const image = readPng('test-fixtures/imageworld/edits/images/eval/flag-3-a.png');
 */
export function readPng(file: string): RgbImage {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (err) {
    throw new IOError(`${file}: cannot read the image (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  return decodePng(bytes, file);
}

/** Writes an image as PNG through a temporary file and a rename (never a half-written file). */
export function writePng(file: string, image: RgbImage): void {
  const bytes = encodePng(image);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, bytes);
  fs.renameSync(tmp, file);
}

/** A `data:image/png;base64,…` URL of an image (for HTML reports). */
export function pngDataUrl(image: RgbImage): string {
  return `data:image/png;base64,${encodePng(image).toString('base64')}`;
}
