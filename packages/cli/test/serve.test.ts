/**
 * `medit serve` without a browser: the command listens on 127.0.0.1 and stops on Ctrl-C; the
 * JSON API refuses other origins and hosts, non-JSON bodies and unknown routes, names what is
 * missing; an edit made through it exports as a checkpoint that answers the new target.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';

import { loadModel } from '@medit/core';
import { scoreTargets } from '@medit/metrics';

import { main } from '../src';
import { ROOT } from './helpers/run';

/** `medit serve --port 0 --json` until `stop` aborts; resolves with the URL once listening. */
function serve(): { url: Promise<string>; stop: () => Promise<number> } {
  const controller = new AbortController();
  let resolveUrl: (u: string) => void;
  const url = new Promise<string>((r) => (resolveUrl = r));
  const done = main(['serve', '--port', '0', '--json'], {
    stdout: {
      write: (s: string) => {
        for (const line of s.split('\n').filter((l) => l.startsWith('{'))) {
          const ev = JSON.parse(line);
          if (ev.type === 'listening') resolveUrl(ev.url);
        }
        return true;
      },
    },
    stderr: { write: () => true },
    env: { HOME: '/nonexistent-home' },
    cwd: ROOT,
    signal: controller.signal,
  });
  return { url, stop: () => (controller.abort(), done) };
}

/** A raw request (fetch cannot set Host). */
function request(url: string, opts: { method?: string; headers?: Record<string, string>; body?: string }): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: opts.method ?? 'GET', headers: opts.headers }, (res) => {
      let data = '';
      res.on('data', (c) => (data += c));
      res.on('end', () => resolve({ status: res.statusCode!, body: res.headers['content-type']?.startsWith('application/json') ? JSON.parse(data) : data }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  request(url, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify(body) });

test('medit serve: the page, the API and its refusals; Ctrl-C stops it', async () => {
  const s = serve();
  const url = await s.url;
  try {
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const page = await request(url, {});
    expect(page.status).toBe(200);
    expect(page.body).toContain('<script src="/app.js"></script>');
    expect((await request(`${url}app.js`, {})).status).toBe(200);

    const state = await request(`${url}api/state`, {});
    expect(state.body.state.model).toBeNull();
    expect(state.body.state.models).toContain('test-fixtures/models/fact-small');
    expect(state.body.state.methods.map((m: { name: string }) => m.name)).toEqual(expect.arrayContaining(['rome', 'memit', 'ft', 'mend', 'serac', 'ike']));

    expect(await post(`${url}api/edit`, { method: 'rome', prompt: 'a', subject: 'a', target: 'b' })).toEqual({ status: 400, body: { error: 'load a model first' } });
    expect(await post(`${url}api/model`, { dir: 'no/such/dir' })).toEqual({ status: 400, body: { error: 'model directory not found: no/such/dir' } });
    expect(await post(`${url}api/undo`, {})).toMatchObject({ status: 400, body: { error: 'no edit to undo' } });
    expect((await post(`${url}api/model`, { dir: 5 })).body.error).toBe('Expected a string for dir but received 5');
    expect((await request(`${url}api/model`, { method: 'POST', body: '{}' })).status).toBe(415);
    expect((await request(`${url}nope`, {})).status).toBe(404);
    expect((await post(`${url}api/nope`, {})).status).toBe(404);

    // Another site's page, or a name rebound to 127.0.0.1, may not drive the playground.
    const foreign = await post(`${url}api/model`, { dir: 'test-fixtures/models/fact-small' }, { Origin: 'http://evil.example' });
    expect(foreign).toEqual({ status: 403, body: { error: 'refused: a page from http://evil.example may not use the playground' } });
    expect((await request(`${url}api/state`, { headers: { Host: 'evil.example' } })).status).toBe(403);

    const load = await post(`${url}api/model`, { dir: 'test-fixtures/models/fact-small' });
    expect(load.body.state.model).toMatchObject({ dir: 'test-fixtures/models/fact-small', type: 'gpt2', layers: 4 });

    const bad = await post(`${url}api/edit`, { method: 'rome', prompt: 'Shohun Castle is in', subject: 'Budra Castle', target: 'X' });
    expect(bad).toEqual({ status: 400, body: { error: 'subject "Budra Castle" does not occur in prompt "Shohun Castle is in"' } });
    expect((await post(`${url}api/export`, { format: 'lora', out: '/tmp/never-written' })).body.error).toBe('no applied edit to export');
  } finally {
    expect(await s.stop()).toBe(0);
  }
});

test('an edit through the API, exported as a Hugging Face checkpoint that answers the new target; undo', async () => {
  const s = serve();
  const url = await s.url;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'medit-serve-hf-'));
  try {
    await post(`${url}api/model`, { dir: 'test-fixtures/models/fact-small' });
    const fact = { prompt: 'The city where Shohun Castle is located is', subject: 'Shohun Castle', target: 'Raifain' };
    const hparams = JSON.stringify({ mom2_adjustment: false, v_num_grad_steps: 20, context_template_length_params: [[5, 1]] });
    const edit = await post(`${url}api/edit`, { method: 'rome', ...fact, hparams });
    expect(edit.status).toBe(200);
    expect(edit.body.record).toMatchObject({ id: 1, method: 'rome', editor: 'ROME', applied: true, probes: [{ kind: 'prompt', text: fact.prompt }] });
    expect(edit.body.record.probes[0].after.startsWith(fact.target)).toBe(true);
    expect((await post(`${url}api/ask`, { prompt: fact.prompt })).body.answer.startsWith(fact.target)).toBe(true);

    const out = path.join(tmp, 'edited');
    const exported = await post(`${url}api/export`, { format: 'hf', out });
    expect(exported.body.export.files).toEqual(expect.arrayContaining(['config.json', 'model.safetensors', 'tokenizer.json']));
    expect((await post(`${url}api/export`, { format: 'hf', out })).body.error).toBe(`${out} already exists; exports are written as a new directory`);
    const edited = await loadModel(out);
    const [sc] = scoreTargets(edited, [{ prompt: fact.prompt, target: fact.target }]);
    expect(sc.predicted).toEqual(sc.targetIds);
    edited.dispose();

    const undo = await post(`${url}api/undo`, {});
    expect(undo.body.record.applied).toBe(false);
    expect((await post(`${url}api/ask`, { prompt: fact.prompt })).body.answer).toBe(edit.body.record.probes[0].before);
    expect((await post(`${url}api/export`, { format: 'lora', out: path.join(tmp, 'lora') })).body.error).toBe('no applied edit to export');
  } finally {
    await s.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
