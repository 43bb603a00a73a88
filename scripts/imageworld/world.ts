/**
 * The image world: scenes of coloured shapes (shape, colour, size, count, position), and invented
 * named things — nations with flags and capitals, landmarks of a few building types — so that a
 * vision-language model has visual skills to generalise and facts to be edited. Generated
 * deterministically from a seed ({@link generateWorld}).
 *
 * Splits, by content (never by rendering):
 * - object scenes: every (count, size, colour, shape, position) combination belongs to one of
 *   train / val / eval; the VLM trains on train combinations only;
 * - nations and landmarks: each belongs to one group (train / val / eval) and is either *known*
 *   (the VLM sees its flag / picture with its name) or *unknown* (only its text facts are trained:
 *   the model cannot name it from a picture, which is where the edit sets' suboptimal answers
 *   come from). Edit records of a split mention only that split's group.
 */
import { WordMaker } from '../factworld/names';
import { Rng } from '../factworld/prng';

export const SHAPES = ['circle', 'square', 'triangle', 'diamond', 'cross'] as const;
export type Shape = (typeof SHAPES)[number];

/** Palette: name → RGB (renders jitter each channel a little). */
export const COLOURS = {
  red: [220, 40, 40],
  green: [40, 170, 60],
  blue: [50, 90, 235],
  yellow: [235, 215, 40],
  purple: [155, 60, 200],
  orange: [245, 140, 30],
  white: [240, 240, 240],
} as const;
export type Colour = keyof typeof COLOURS;
export const COLOUR_NAMES = Object.keys(COLOURS) as Colour[];

export const SIZES = ['small', 'large'] as const;
export type Size = (typeof SIZES)[number];

export const COUNTS = ['one', 'two', 'three', 'four'] as const;
export type Count = (typeof COUNTS)[number];

export const POSITIONS = ['left', 'right', 'top', 'bottom', 'center'] as const;
export type Position = (typeof POSITIONS)[number];

export const LANDMARK_TYPES = ['tower', 'arch', 'bridge', 'dome', 'pyramid', 'obelisk'] as const;
export type LandmarkType = (typeof LANDMARK_TYPES)[number];

export type Split = 'train' | 'val' | 'eval';
export const SPLITS: readonly Split[] = ['train', 'val', 'eval'];

/** An object scene's content: `count` objects of one shape, colour and size, grouped at `position`. */
export interface ObjectScene {
  kind: 'objects';
  count: Count;
  size: Size;
  colour: Colour;
  shape: Shape;
  position: Position;
}

export interface FlagDesign {
  orientation: 'horizontal' | 'vertical';
  stripes: [Colour, Colour, Colour];
  emblem: { shape: Shape; colour: Colour } | null;
}

export interface Nation {
  name: string;
  capital: string;
  group: Split;
  /** the VLM is trained to name this flag */
  flagKnown: boolean;
  flag: FlagDesign;
}

export interface Landmark {
  name: string;
  type: LandmarkType;
  /** body and accent colours */
  colours: [Colour, Colour];
  /** the nation it stands in (same group) */
  nation: string;
  group: Split;
  /** the VLM is trained to name this landmark */
  known: boolean;
}

/** What an image shows. */
export type SceneContent = ObjectScene | { kind: 'flag'; nation: string } | { kind: 'landmark'; landmark: string };

export interface World {
  format: 'imageworld/1';
  seed: number;
  imageSize: number;
  /** object-scene keys ({@link sceneKey}) per split */
  scenes: Record<Split, string[]>;
  nations: Nation[];
  landmarks: Landmark[];
}

/** Sizes of a world. */
export interface WorldConfig {
  seed: number;
  imageSize: number;
  /** nations per group; half of each group's flags are known */
  nations: Record<Split, number>;
  landmarks: Record<Split, number>;
  /** fraction of object-scene combinations in val and eval (the rest train) */
  sceneVal: number;
  sceneEval: number;
}

export const DEFAULT_WORLD_CONFIG: Readonly<WorldConfig> = {
  seed: 28,
  imageSize: 48,
  nations: { train: 130, val: 60, eval: 90 },
  landmarks: { train: 120, val: 40, eval: 80 },
  sceneVal: 0.1,
  sceneEval: 0.2,
};

/** `three-small-red-circle-left` */
export function sceneKey(s: Omit<ObjectScene, 'kind'>): string {
  return `${s.count}-${s.size}-${s.colour}-${s.shape}-${s.position}`;
}

/** Inverse of {@link sceneKey}. */
export function parseSceneKey(key: string): ObjectScene {
  const [count, size, colour, shape, position] = key.split('-');
  const ok = (COUNTS as readonly string[]).includes(count) && (SIZES as readonly string[]).includes(size) && colour in COLOURS && (SHAPES as readonly string[]).includes(shape) && (POSITIONS as readonly string[]).includes(position);
  if (!ok) throw new Error(`not an object-scene key: ${JSON.stringify(key)}`);
  return { kind: 'objects', count, size, colour, shape, position } as ObjectScene;
}

/** Every object-scene combination, in a fixed order. */
export function allSceneKeys(): string[] {
  const out: string[] = [];
  for (const count of COUNTS) for (const size of SIZES) for (const colour of COLOUR_NAMES) for (const shape of SHAPES) for (const position of POSITIONS) out.push(sceneKey({ count, size, colour, shape, position }));
  return out;
}

/** Words the names must never be (the world's own vocabulary). */
const RESERVED = [...SHAPES, ...COLOUR_NAMES, ...SIZES, ...COUNTS, ...POSITIONS, ...LANDMARK_TYPES, 'flag', 'nation', 'capital', 'city', 'image', 'photo', 'picture'];

function flagKey(f: FlagDesign): string {
  return `${f.orientation}:${f.stripes.join(',')}:${f.emblem ? `${f.emblem.shape}/${f.emblem.colour}` : '-'}`;
}

/** Builds the world. Deterministic in `config`. */
export function generateWorld(config: WorldConfig = DEFAULT_WORLD_CONFIG): World {
  const rng = new Rng(config.seed);
  const words = new WordMaker(rng.fork('names'), RESERVED);
  const keys = rng.fork('scenes').shuffle(allSceneKeys());
  const nVal = Math.round(keys.length * config.sceneVal);
  const nEval = Math.round(keys.length * config.sceneEval);
  const scenes: Record<Split, string[]> = { eval: keys.slice(0, nEval).sort(), val: keys.slice(nEval, nEval + nVal).sort(), train: keys.slice(nEval + nVal).sort() };

  const design = rng.fork('flags');
  const usedFlags = new Set<string>();
  const nations: Nation[] = [];
  for (const group of SPLITS) {
    for (let i = 0; i < config.nations[group]; i++) {
      let flag: FlagDesign;
      do {
        const stripes = design.sample(COLOUR_NAMES, 3) as [Colour, Colour, Colour];
        const emblem = design.chance(0.5) ? { shape: design.pick(SHAPES), colour: design.pick(COLOUR_NAMES.filter((c) => c !== stripes[1])) } : null;
        flag = { orientation: design.chance(0.5) ? 'horizontal' : 'vertical', stripes, emblem };
      } while (usedFlags.has(flagKey(flag)));
      usedFlags.add(flagKey(flag));
      nations.push({ name: words.word(), capital: words.word(), group, flagKnown: i % 2 === 0, flag });
    }
  }

  const look = rng.fork('landmarks');
  const identities = look.shuffle(LANDMARK_TYPES.flatMap((type) => COLOUR_NAMES.flatMap((a) => COLOUR_NAMES.filter((b) => b !== a).map((b) => ({ type, colours: [a, b] as [Colour, Colour] })))));
  const total = SPLITS.reduce((s, g) => s + config.landmarks[g], 0);
  if (total > identities.length) throw new Error(`at most ${identities.length} distinct landmarks, asked for ${total}`);
  const landmarks: Landmark[] = [];
  let next = 0;
  for (const group of SPLITS) {
    const home = nations.filter((n) => n.group === group);
    for (let i = 0; i < config.landmarks[group]; i++) {
      const id = identities[next++];
      landmarks.push({ name: words.word(), type: id.type, colours: id.colours, nation: look.pick(home).name, group, known: i % 2 === 0 });
    }
  }
  return { format: 'imageworld/1', seed: config.seed, imageSize: config.imageSize, scenes, nations, landmarks };
}

/** The nation named `name`; throws naming it when absent. */
export function nationOf(world: World, name: string): Nation {
  const n = world.nations.find((x) => x.name === name);
  if (!n) throw new Error(`the world has no nation ${JSON.stringify(name)}`);
  return n;
}

/** The landmark named `name`; throws naming it when absent. */
export function landmarkOf(world: World, name: string): Landmark {
  const l = world.landmarks.find((x) => x.name === name);
  if (!l) throw new Error(`the world has no landmark ${JSON.stringify(name)}`);
  return l;
}
