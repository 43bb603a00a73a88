/**
 * `medit serve`'s HTTP side, on Node's own `http`: the page's static files (packages/cli/
 * assets/serve, no CDN, no framework) and a small JSON API over a {@link PlaygroundSession}.
 * Bound to 127.0.0.1 only; requests whose Host or Origin is another site are refused (a page
 * elsewhere cannot drive the playground), and one model operation runs at a time.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';

import { MeditError } from '@medit/core';

import { UsageError } from '../args';
import type { CommandContext } from '../common';
import { type EditForm, PlaygroundSession } from './session';

/** The page's files (the same path from src/serve and dist/serve). */
export const ASSETS_DIR = path.resolve(__dirname, '../../assets/serve');

const STATIC: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};

/** The largest request body read (a form of text). */
const MAX_BODY = 1 << 20;

export interface Playground {
  /** `http://127.0.0.1:<port>/` */
  url: string;
  session: PlaygroundSession;
  /** Stops the server and frees the model and its edits. */
  close(): Promise<void>;
}

/** An error the page shows as it is (a bad input), as opposed to a failure of the server. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function readJson(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new HttpError(413, `request body over ${MAX_BODY} bytes`));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => {
      try {
        const v = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {};
        if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('expected a JSON object');
        resolve(v);
      } catch (err) {
        reject(new HttpError(400, `request body: ${(err as Error).message}`));
      }
    });
    req.on('error', reject);
  });
}

const str = (body: Record<string, unknown>, key: string): string => {
  const v = body[key];
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw new HttpError(400, `Expected a string for ${key} but received ${JSON.stringify(v)}`);
  return v;
};

/**
 * Starts the playground on 127.0.0.1:`port` (0: any free port), with `model` loaded if given.
 * @throws IOError / ArgumentError when `model` cannot be loaded; the listen error when the port is taken
 */
export async function startPlayground(ctx: CommandContext, opts: { port: number; model?: string }): Promise<Playground> {
  const session = new PlaygroundSession(ctx);
  if (opts.model) await session.loadModel(opts.model);
  let busy: string | undefined;
  let origin = '';

  /** Runs one model operation, refusing a second while the first runs. */
  async function exclusive<T>(what: string, fn: () => Promise<T> | T): Promise<T> {
    if (busy) throw new HttpError(409, `busy: ${busy} is still running`);
    busy = what;
    try {
      return await fn();
    } finally {
      busy = undefined;
    }
  }

  async function api(route: string, req: http.IncomingMessage): Promise<Record<string, unknown>> {
    if (route === '/api/state' && req.method === 'GET') return { state: session.state() };
    if (req.method !== 'POST') throw new HttpError(405, `${req.method} ${route} is not supported`);
    if (!(req.headers['content-type'] ?? '').startsWith('application/json')) throw new HttpError(415, 'Expected a JSON body (Content-Type: application/json)');
    const body = await readJson(req);
    switch (route) {
      case '/api/model':
        await exclusive('loading a model', () => session.loadModel(str(body, 'dir')));
        return { state: session.state() };
      case '/api/edit': {
        const form: EditForm = {
          method: str(body, 'method'),
          prompt: str(body, 'prompt'),
          subject: str(body, 'subject'),
          target: str(body, 'target'),
          paraphrase: str(body, 'paraphrase'),
          neighbour: str(body, 'neighbour'),
          hparams: str(body, 'hparams'),
        };
        const record = await exclusive('an edit', () => session.edit(form));
        return { record, state: session.state() };
      }
      case '/api/ask':
        return { answer: await exclusive('a generation', () => session.ask(str(body, 'prompt'))) };
      case '/api/undo': {
        const record = await exclusive('an undo', () => session.undo());
        return { record, state: session.state() };
      }
      case '/api/export':
        return { export: await exclusive('an export', () => session.export(str(body, 'format'), str(body, 'out'))), state: session.state() };
      default:
        throw new HttpError(404, `no such API: ${route}`);
    }
  }

  const server = http.createServer((req, res) => {
    const send = (status: number, type: string, data: string | Buffer) => {
      res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' });
      res.end(data);
    };
    const json = (status: number, v: unknown) => send(status, 'application/json; charset=utf-8', JSON.stringify(v));
    const route = new URL(req.url ?? '/', origin).pathname;
    // Only this origin may use the playground: no other site's page, no rebinding of a name to 127.0.0.1.
    const host = req.headers.host ?? '';
    if (host !== new URL(origin).host && host !== `localhost:${new URL(origin).port}`) return json(403, { error: `refused: Host ${JSON.stringify(host)} is not this playground` });
    if (req.headers.origin !== undefined && req.headers.origin !== origin.slice(0, -1) && req.headers.origin !== `http://localhost:${new URL(origin).port}`) {
      return json(403, { error: `refused: a page from ${req.headers.origin} may not use the playground` });
    }
    if (route.startsWith('/api/')) {
      api(route, req).then(
        (v) => json(200, v),
        (err: unknown) => {
          const status = err instanceof HttpError ? err.status : err instanceof MeditError || err instanceof UsageError ? 400 : 500;
          if (status === 500) ctx.out.note(`medit serve: ${route}: ${(err as Error).stack ?? String(err)}`);
          json(status, { error: (err as Error).message ?? String(err) });
        },
      );
      return;
    }
    const asset = req.method === 'GET' ? STATIC[route] : undefined;
    if (!asset) return json(404, { error: `not found: ${route}` });
    send(200, asset.type, fs.readFileSync(path.join(ASSETS_DIR, asset.file)));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, '127.0.0.1', () => resolve());
  });
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  return {
    url: origin,
    session,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          session.dispose();
          resolve();
        });
      }),
  };
}
