/* global document, fetch */
// Chat-Rec panel (docs/LLM.md, "Chat-Rec"): sends each message to POST /v1/chat
// and shows the tool call, the re-ranked items and the explanation. Text is
// inserted with textContent only (titles and model output are untrusted).
const $ = (id) => document.getElementById(id);
const log = $('log');

function line(cls, text) {
  const p = document.createElement('p');
  p.className = cls;
  p.textContent = text;
  log.appendChild(p);
  return p;
}

$('form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const message = $('message').value.trim();
  if (!message) return;
  $('message').value = '';
  line('you', `you: ${message}`);
  const body = { message, k: Number($('k').value) || 10 };
  if ($('user').value.trim()) body.user = $('user').value.trim();
  const headers = { 'content-type': 'application/json' };
  if ($('token').value) headers.authorization = `Bearer ${$('token').value}`;
  const pending = line('wait', '…');
  try {
    const res = await fetch('/v1/chat', { method: 'POST', headers, body: JSON.stringify(body) });
    const j = await res.json();
    pending.remove();
    if (!res.ok) { line('error', `error: ${j.error?.message ?? res.status}`); return; }
    line('tool', `tool call: ${JSON.stringify(j.toolCall.args)}${j.toolCall.problem ? ` (fallback: ${j.toolCall.problem})` : ''}`);
    const ol = document.createElement('ol');
    for (const it of j.ranking) { const li = document.createElement('li'); li.textContent = it.title; ol.appendChild(li); }
    log.appendChild(ol);
    if (j.explanation) line('why', `why: ${j.explanation}`);
  } catch (e) {
    pending.remove();
    line('error', `error: ${e.message}`);
  }
});
