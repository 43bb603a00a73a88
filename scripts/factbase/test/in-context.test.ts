/** In-context probes: whose facts they edit in context, and whose facts the demonstrations state. */
import { Rng } from '../../factworld/prng';
import { inContextProbes } from '../recall';
import { FactIndex, SMALL_CONFIG, generateWorld } from '../world';

const world = generateWorld(SMALL_CONFIG);
const index = new FactIndex(world);

describe.each(['validation', 'eval'] as const)('in-context probes about %s subjects', (split) => {
  const probes = inContextProbes(world, { facts: 40, rng: new Rng(3), split });

  it('edit a fact of a subject of that split, and ask the retain question about a neighbour of the same split', () => {
    expect(probes.copy).toHaveLength(40);
    expect(probes.update).toHaveLength(40);
    expect(probes.retain.length).toBeGreaterThan(0);
    for (const p of [...probes.copy, ...probes.update, ...probes.retain]) {
      expect(index.split(p.subject)).toBe(split);
      // the last statement in the context is about the edited subject
      expect(p.prompt.lastIndexOf(index.name(p.subject))).toBeGreaterThan(0);
    }
    for (const p of probes.retain) {
      expect(p.neighbour).not.toBe(p.subject);
      expect(index.split(p.neighbour!)).toBe(split);
      // the question after the edited subject's statement is about the neighbour
      expect(p.prompt.lastIndexOf(index.name(p.neighbour!))).toBeGreaterThan(p.prompt.lastIndexOf(index.name(p.subject)));
    }
  });

  it('name no subject of the other held-out split (the demonstrations are about train subjects)', () => {
    const other = split === 'eval' ? 'validation' : 'eval';
    const names = world.entities.slice(0, world.subjectCount).filter((e) => index.split(e.id) === other).map((e) => e.name);
    for (const p of probes.copy) for (const n of names) expect(p.prompt.includes(`${n} `)).toBe(false);
  });
});

test('the default split is validation', () => {
  const a = inContextProbes(world, { facts: 5, rng: new Rng(3) });
  const b = inContextProbes(world, { facts: 5, rng: new Rng(3), split: 'validation' });
  expect(a).toEqual(b);
});
