/* global document, fetch, setTimeout, clearTimeout, localStorage */
// The llmrec serving demo (docs/SERVING.md, "Web demo"): talks to the same
// server's /v1 API; no framework, no CDN. Text from the data is always set with
// textContent (never as HTML).
'use strict';

const $ = (id) => document.getElementById(id);
const state = { models: [], lm: null, rerankers: [], history: [], user: null, nextItem: null, seq: 0 };

function headers(json) {
  const h = json ? { 'content-type': 'application/json' } : {};
  const t = $('token').value.trim();
  if (t) h.authorization = `Bearer ${t}`;
  return h;
}

async function api(path, body) {
  const r = await fetch(path, body === undefined ? { headers: headers(false) } : { method: 'POST', headers: headers(true), body: JSON.stringify(body) });
  const j = await r.json().catch(() => ({ error: { message: `HTTP ${r.status}` } }));
  if (!r.ok) throw new Error(j.error ? j.error.message : `HTTP ${r.status}`);
  return j;
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

function showError(e) {
  $('error').hidden = !e;
  $('error').textContent = e ? String(e.message || e) : '';
}

async function init() {
  try {
    const m = await api('/v1/models');
    state.models = m.models;
    state.lm = m.lm;
    // Re-rankers: the --lm LM (when it can re-rank) and every LLM recipe of the served method runs.
    state.rerankers = [
      ...(m.lm && m.lm.rerank ? [{ id: m.lm.id, label: `LM ${m.lm.id}`, template: m.lm.templates[0] }] : []),
      ...(m.recipes || []).map((r) => ({ id: r.id, label: `${r.label} (recipe ${r.id})`, template: r.templates[0] })),
    ];
    const sel = $('reranker');
    sel.replaceChildren();
    for (const r of state.rerankers) {
      const o = el('option', r.label);
      o.value = r.id;
      sel.appendChild(o);
    }
    $('status').textContent = `${m.dataset}: ${m.users} users, ${m.items} items · models ${m.models.map((x) => x.label).join(', ')}` + (m.lm ? ` · LM ${m.lm.id}` : '')
      + ((m.recipes || []).length ? ` · LLM recipes ${m.recipes.map((r) => r.label).join(', ')}` : '');
    const users = await api('/v1/users?limit=100');
    for (const u of users.users) {
      const o = el('option', `${u.id} (${u.history.length} items)`);
      o.value = u.id;
      $('users').appendChild(o);
    }
    state.userInfo = new Map(users.users.map((u) => [u.id, u]));
    showError(null);
    await search();
    render();
  } catch (e) {
    showError(e);
  }
}

let searchTimer = null;
async function search() {
  const q = $('search').value;
  try {
    const r = await api(`/v1/items?q=${encodeURIComponent(q)}&limit=20`);
    const ul = $('results');
    ul.replaceChildren();
    for (const it of r.items) {
      const li = el('li');
      li.appendChild(el('span', it.title));
      const b = el('button', 'add');
      b.type = 'button';
      b.dataset.id = it.id;
      b.addEventListener('click', () => addItem(it));
      li.appendChild(b);
      ul.appendChild(li);
    }
    if (r.items.length === 0) ul.appendChild(el('li', 'no item matches', 'note'));
  } catch (e) {
    showError(e);
  }
}

function addItem(it) {
  if (state.user) { state.user = null; state.nextItem = null; $('users').value = ''; }
  state.history.push({ id: it.id, title: it.title });
  render();
}

function renderHistory() {
  const ol = $('history');
  ol.replaceChildren();
  state.history.forEach((h, i) => {
    const li = el('li');
    li.appendChild(el('span', h.title));
    if (!state.user) {
      const b = el('button', '×');
      b.type = 'button';
      b.title = 'remove';
      b.addEventListener('click', () => { state.history.splice(i, 1); render(); });
      li.appendChild(b);
    }
    ol.appendChild(li);
  });
  if (state.history.length === 0) ol.appendChild(el('li', 'empty: add items from the search, or pick a test user', 'note'));
  $('truth').hidden = !state.nextItem;
  $('truth').textContent = state.nextItem ? `True next item (held out): ${state.nextItem.title}` : '';
}

async function render() {
  renderHistory();
  const seq = ++state.seq;
  const box = $('models');
  box.replaceChildren();
  if (!state.user && state.history.length === 0) { $('rerank-section').hidden = true; return; }
  const cols = state.models.map((m) => {
    const div = el('div', undefined, 'model');
    div.dataset.model = m.label;
    const h = el('h3', m.label);
    h.appendChild(el('small', ` (${m.name})`));
    div.appendChild(h);
    box.appendChild(div);
    return div;
  });
  const body = (m) => (state.user ? { model: m.label, user: state.user, k: 10 } : { model: m.label, history: state.history.map((x) => x.id), k: 10 });
  const results = await Promise.all(state.models.map((m) => api('/v1/recommend', body(m)).catch((e) => ({ error: e }))));
  if (seq !== state.seq) return;
  results.forEach((r, i) => {
    if (r.error) { cols[i].appendChild(el('p', r.error.message, 'note')); return; }
    const ol = el('ol');
    for (const it of r.items) {
      const li = el('li', undefined, state.nextItem && it.id === state.nextItem.id ? 'hit' : '');
      li.appendChild(el('span', it.title));
      li.appendChild(el('span', it.score.toFixed(3), 'score'));
      ol.appendChild(li);
    }
    cols[i].appendChild(ol);
  });
  await renderRerank(results, seq);
}

async function renderRerank(results, seq) {
  const sec = $('rerank-section');
  // Re-rank a learned model's list when there is one (Pop and Random are baselines).
  const usable = (r) => !r.error && r.items.length > 0;
  let i = results.findIndex((r, j) => usable(r) && !['pop', 'random'].includes(state.models[j].name));
  if (i < 0) i = results.findIndex(usable);
  const rr = state.rerankers.find((x) => x.id === $('reranker').value) || state.rerankers[0];
  if (!rr || i < 0) { sec.hidden = true; return; }
  sec.hidden = false;
  $('rerank-source').textContent = state.models[i].label;
  $('rerank-lm').textContent = `(template ${rr.template})`;
  const tbody = $('rerank').querySelector('tbody');
  tbody.replaceChildren();
  tbody.appendChild(el('tr')).appendChild(el('td', 'scoring…'));
  try {
    const r = await api('/v1/rerank', { model: rr.id, ...(state.user ? { user: state.user } : {}), history: state.history.map((x) => x.id), candidates: results[i].items.map((x) => x.id), prompt: true });
    if (seq !== state.seq) return;
    tbody.replaceChildren();
    for (const it of r.items) {
      const tr = el('tr', undefined, state.nextItem && it.id === state.nextItem.id ? 'hit' : '');
      tr.appendChild(el('td', String(it.rank)));
      tr.appendChild(el('td', it.title));
      tr.appendChild(el('td', it.pYes.toFixed(3), 'num'));
      tr.appendChild(el('td', it.score.toFixed(3), 'num'));
      const td = el('td');
      const d = el('details');
      d.appendChild(el('summary', 'show'));
      d.appendChild(el('pre', it.prompt));
      td.appendChild(d);
      tr.appendChild(td);
      tbody.appendChild(tr);
    }
  } catch (e) {
    tbody.replaceChildren();
    tbody.appendChild(el('tr')).appendChild(el('td', e.message, 'note'));
  }
}

$('search').addEventListener('input', () => { clearTimeout(searchTimer); searchTimer = setTimeout(search, 150); });
$('clear').addEventListener('click', () => { state.history = []; state.user = null; state.nextItem = null; $('users').value = ''; render(); });
$('users').addEventListener('change', () => {
  const id = $('users').value;
  const u = state.userInfo && state.userInfo.get(id);
  if (!u) { state.user = null; state.nextItem = null; state.history = []; render(); return; }
  state.user = u.id;
  state.history = u.history.map((h) => ({ id: h.id, title: h.title }));
  state.nextItem = u.nextItem;
  render();
});
$('reranker').addEventListener('change', () => render());
$('token').value = localStorage.getItem('llmrec-token') || '';
$('token').addEventListener('change', () => { localStorage.setItem('llmrec-token', $('token').value); init(); });
init();
