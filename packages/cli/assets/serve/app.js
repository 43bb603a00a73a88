// medit playground: the page's side of `medit serve` (packages/cli/src/serve/server.ts's JSON API).
// Plain DOM, no framework; every failure is shown on the page.
'use strict';

const $ = (id) => document.getElementById(id);
let methods = [];
/** the newest edit shown under "What changed" */
let shown = null;

async function call(route, body) {
  const res = await fetch(route, body === undefined ? {} : { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  const data = await res.json();
  if (!res.ok) throw new Error(data.error || `${route}: HTTP ${res.status}`);
  return data;
}

function setStatus(text, kind) {
  const s = $('status');
  s.textContent = text;
  s.className = kind || '';
}

/** Runs `fn` with every button disabled and the status line saying what runs. */
async function busy(label, fn) {
  const buttons = [...document.querySelectorAll('button')];
  buttons.forEach((b) => (b.disabled = true));
  setStatus(label, 'busy');
  try {
    await fn();
    setStatus('');
  } catch (err) {
    setStatus(err.message, 'error');
  } finally {
    buttons.forEach((b) => (b.disabled = false));
    refreshButtons();
  }
}

function cell(row, text, cls) {
  const td = row.insertCell();
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

const startsWithTarget = (answer, target) => answer.trim().startsWith(target.trim());

function renderModel(state) {
  const list = $('model-list');
  list.replaceChildren(...state.models.map((m) => Object.assign(document.createElement('option'), { value: m })));
  if (!$('model-dir').value && state.models.length) $('model-dir').value = state.model ? state.model.dir : state.models.find((m) => m.endsWith('fact-small')) || state.models[0];
  $('model-info').textContent = state.model ? `${state.model.dir}: ${state.model.type}, ${state.model.layers} layers, hidden size ${state.model.hidden}` : 'No model loaded.';
}

function renderMethods(state) {
  if (methods.length) return;
  methods = state.methods.filter((m) => !m.needsTargetTrue);
  $('method').replaceChildren(...methods.map((m) => Object.assign(document.createElement('option'), { value: m.name, textContent: m.name })));
  $('method').value = 'rome';
  describeMethod();
}

function describeMethod() {
  const m = methods.find((x) => x.name === $('method').value);
  $('method-desc').textContent = m ? `${m.description} — the edit ${m.kind === 'weights' ? 'changes weights' : m.kind === 'patch' ? 'adds patch neurons' : 'is a memory beside the model'}.` : '';
}

function renderHistory(state) {
  const body = $('history').tBodies[0];
  body.replaceChildren();
  for (const r of state.history) {
    const row = body.insertRow();
    row.dataset.id = String(r.id);
    cell(row, String(r.id));
    cell(row, r.editor);
    cell(row, `${r.prompt} → ${r.target}`);
    cell(row, `${(r.ms / 1000).toFixed(1)} s`, 'num');
    cell(row, r.applied ? 'applied' : 'undone', r.applied ? 'state-applied' : 'state-undone');
  }
  $('history-empty').hidden = state.history.length > 0;
}

/** the state last rendered */
let lastState = null;

/** Buttons that need a model or an applied edit. */
function refreshButtons() {
  $('edit-button').disabled = !lastState || !lastState.model;
  $('undo').disabled = !lastState || !lastState.history.some((r) => r.applied);
}

function render(state) {
  lastState = state;
  renderModel(state);
  renderMethods(state);
  renderHistory(state);
}

/** Fills "What changed" for `record`, and the "now" column with the model's current answers. */
async function showRecord(record) {
  shown = record;
  $('result-card').hidden = false;
  $('result-title').textContent = `Edit ${record.id} (${record.editor}): ${record.subject} → ${record.target}`;
  const probes = $('probes').tBodies[0];
  probes.replaceChildren();
  for (const p of record.probes) {
    const row = probes.insertRow();
    row.dataset.kind = p.kind;
    cell(row, p.kind, 'kind');
    cell(row, p.text);
    cell(row, p.before, p.kind !== 'neighbour' && startsWithTarget(p.before, record.target) ? 'hit' : '');
    const after = cell(row, p.after, p.kind !== 'neighbour' && startsWithTarget(p.after, record.target) ? 'hit' : '');
    if (p.after !== p.before) after.classList.add('changed');
    cell(row, '…', 'now');
  }
  const evalBody = $('eval').tBodies[0];
  evalBody.replaceChildren();
  for (const e of record.eval) {
    const row = evalBody.insertRow();
    row.title = e.help;
    cell(row, e.metric);
    cell(row, e.before.toFixed(3), 'num');
    cell(row, e.after.toFixed(3), 'num');
  }
  await refreshNow();
}

/** The current model's answer to each prompt of the shown edit. */
async function refreshNow() {
  if (!shown) return;
  const rows = [...$('probes').tBodies[0].rows];
  for (const [i, p] of shown.probes.entries()) {
    const { answer } = await call('/api/ask', { prompt: p.text });
    const td = rows[i].cells[4];
    td.textContent = answer;
    td.className = `now${p.kind !== 'neighbour' && startsWithTarget(answer, shown.target) ? ' hit' : ''}`;
  }
}

$('method').addEventListener('change', describeMethod);

$('model-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  busy('loading the model…', async () => {
    const { state } = await call('/api/model', { dir: $('model-dir').value });
    shown = null;
    $('result-card').hidden = true;
    render(state);
  });
});

$('edit-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  busy(`editing with ${$('method').value}…`, async () => {
    const { record, state } = await call('/api/edit', {
      method: $('method').value,
      prompt: $('prompt').value,
      subject: $('subject').value,
      target: $('target').value,
      paraphrase: $('paraphrase').value,
      neighbour: $('neighbour').value,
      hparams: $('hparams').value,
    });
    render(state);
    await showRecord(record);
  });
});

$('undo').addEventListener('click', () => {
  busy('undoing…', async () => {
    const { state } = await call('/api/undo', {});
    render(state);
    await refreshNow();
  });
});

$('export-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  busy('exporting…', async () => {
    const { export: e } = await call('/api/export', { format: $('export-format').value, out: $('export-out').value });
    $('export-result').textContent = `wrote ${e.out}: ${e.files.join(', ')}`;
  });
});

$('ask-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  busy('answering…', async () => {
    const { answer } = await call('/api/ask', { prompt: $('ask-prompt').value });
    $('ask-answer').textContent = answer;
  });
});

busy('', async () => render((await call('/api/state')).state));
