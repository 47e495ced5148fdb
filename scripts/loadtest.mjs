#!/usr/bin/env node
/* global fetch, setTimeout, clearTimeout, setInterval, clearInterval, URL, performance */
/**
 * Loopback load test of `llmrec serve` (docs/SERVING.md, "Load test").
 *
 *   npm run build && node scripts/loadtest.mjs [--run RUN_DIR] [--lm LM_DIR]
 *     [--duration 30] [--warmup 5] [--connections 8] [--work tmp/loadtest] [--out FILE.json] [--pin]
 *     [--cases healthz,known,history,rerank] [--fit-windows 2000]
 *
 * Without --run it prepares one in --work: amazon-beauty (from
 * LLMREC_DATA_DIR) split by the protocol, SASRec (BCE) fitted for one epoch
 * over the first --fit-windows training windows (default 2,000: a few
 * optimizer steps; serving speed does not depend on model quality); without --lm
 * an LM with the small LM's architecture (src/config/small_lm.ts defaults) and
 * random weights: speed, not quality, is measured. Both are reused when present. It then starts
 * the server as `llmrec serve` runs it (`node dist/cli/main.js serve`: started
 * once more with the serving Node flags, src/serve/node_flags.ts) on
 * 127.0.0.1 as a child process and runs, with
 * autocannon, one case after another for --duration seconds each:
 *   healthz   GET /healthz: the HTTP ceiling of this server and machine
 *   known     SASRec top-10 over every item for random known users (precomputed vectors)
 *   history   SASRec top-10 for random ad-hoc 20-item histories (model forward, micro-batched)
 *   rerank    LLM yes/no re-rank of 20 random candidates after a 10-item history
 * Each case first runs --warmup seconds unmeasured (JIT and heap reach their
 * steady state); request bodies are 2,048 drawn once from the seeded
 * generator and cycled (no body is built during the measurement). It
 * prints requests/s, latency p50/p99/max, errors, the server's RSS
 * before and after each case, each case's requests/s as a fraction of
 * /healthz's in the same run, and the verdict on the issue's goal for
 * `known` (at least half of /healthz's requests/s, p99 < 10 ms, no error,
 * RSS flat: at most 5% or 8 MiB growth). Bounded: loopback only, at most 120 s and 64
 * connections per case. Request bodies come from a seeded generator.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** Distinct request bodies per case (drawn once, cycled). */
const POOL = 2048;
const dist = join(root, 'dist');

function parseArgs(argv) {
  const o = { run: null, lm: null, duration: 30, warmup: 5, connections: 8, work: join(root, 'tmp', 'loadtest'), out: null, cases: ['healthz', 'known', 'history', 'rerank'], fitWindows: 2000, pin: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${a}: missing value`);
      return x;
    };
    if (a === '--run') o.run = resolve(v());
    else if (a === '--lm') o.lm = resolve(v());
    else if (a === '--duration') o.duration = Number(v());
    else if (a === '--warmup') o.warmup = Number(v());
    else if (a === '--connections') o.connections = Number(v());
    else if (a === '--work') o.work = resolve(v());
    else if (a === '--out') o.out = resolve(v());
    else if (a === '--cases') o.cases = v().split(',');
    else if (a === '--fit-windows') o.fitWindows = Number(v());
    else if (a === '--pin') o.pin = true;
    else throw new Error(`unknown option ${a} (see the header of scripts/loadtest.mjs)`);
  }
  if (!(o.duration >= 1 && o.duration <= 120)) throw new Error('--duration: 1..120 seconds');
  if (!(o.warmup >= 0 && o.warmup <= 60)) throw new Error('--warmup: 0..60 seconds');
  if (!(Number.isInteger(o.connections) && o.connections >= 1 && o.connections <= 64)) throw new Error('--connections: 1..64');
  return o;
}

/** Seeded uniform integers (mulberry32), so every run sends the same bodies. */
function rng(seed) {
  let s = seed >>> 0;
  return (n) => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

const PROTOCOL = { ratingThreshold: 3, kCore: 5, maxHistory: 50, numNegatives: 9, seed: 2024, dedupeConsecutive: false };

async function prepareRun(dir, fitWindows, log) {
  if (existsSync(join(dir, 'models', 'sasrec', 'weights.safetensors'))) { log(`run: reusing ${dir}`); return; }
  const { initEngine } = await import(join(dist, 'engine', 'index.js'));
  const { loadDataset } = await import(join(dist, 'data', 'loaders', 'index.js'));
  const { applyProtocol } = await import(join(dist, 'data', 'protocol.js'));
  const { createRecommender } = await import(join(dist, 'models', 'registry.js'));
  await initEngine();
  const data = applyProtocol(await loadDataset('amazon-beauty'), PROTOCOL);
  log(`run: amazon-beauty ${data.numUsers} users, ${data.numItems} items; fitting SASRec (BCE) for one epoch`);
  mkdirSync(join(dir, 'models'), { recursive: true });
  const cfgTmp = join(dir, `config.json.tmp-${process.pid}`);
  writeFileSync(cfgTmp, JSON.stringify({ data: { name: 'amazon-beauty' }, protocol: PROTOCOL, models: ['sasrec'] }, null, 2) + '\n');
  renameSync(cfgTmp, join(dir, 'config.json'));
  // BCE with one sampled negative: an epoch costs seconds, not the full-softmax
  // minutes; serving cost is the same (d = 64, 12k items).
  const m = createRecommender('sasrec', { loss: 'bce' });
  // One epoch over the first `fitWindows` training windows, validated on 1,000
  // users: the weights are real SASRec weights of the full item table, and the
  // preparation takes minutes on a shared machine.
  const n = Math.min(fitWindows, data.train.count);
  const L = data.train.L;
  const v = Math.min(1000, data.valid.count);
  const cut = (sp, k, C) => ({ ...sp, count: k, user: sp.user.subarray(0, k), history: sp.history.subarray(0, k * sp.L), target: sp.target.subarray(0, k), ...(C !== undefined ? { negatives: sp.negatives.subarray(0, k * C) } : {}) });
  const small = { ...data, train: { ...data.train, count: n, user: data.train.user.subarray(0, n), history: data.train.history.subarray(0, n * L), target: data.train.target.subarray(0, n) }, valid: cut(data.valid, v, data.valid.numNegatives) };
  log(`run: fitting on ${n} of ${data.train.count} training windows, validating on ${v} users`);
  await m.fit(small, { epochs: 1, batchSize: 256, lr: 1e-3, patience: 1, validMetric: 'auc', validProtocol: 'sampled', seed: 2024 });
  await m.save(join(dir, 'models', 'sasrec'));
  m.dispose();
}

async function prepareLm(dir, runDir, log) {
  if (existsSync(join(dir, 'model.safetensors'))) { log(`LM: reusing ${dir}`); return; }
  const { initEngine } = await import(join(dist, 'engine', 'index.js'));
  const { loadDataset } = await import(join(dist, 'data', 'loaders', 'index.js'));
  const { applyProtocol } = await import(join(dist, 'data', 'protocol.js'));
  const { itemSentence } = await import(join(dist, 'data', 'item_text.js'));
  const { trainBpe, withRecSpecialTokens } = await import(join(dist, 'lm', 'tokenizer', 'index.js'));
  const { LlamaForCausalLM, parseLlamaConfig } = await import(join(dist, 'lm', 'families', 'llama.js'));
  const { savePretrained } = await import(join(dist, 'lm', 'checkpoint.js'));
  const { DEFAULT_SMALL_LM: o } = await import(join(dist, 'config', 'small_lm.js'));
  const { loadTemplates } = await import(join(dist, 'methods', 'prompts.js'));
  await initEngine();
  const cfg = JSON.parse(readFileSync(join(runDir, 'config.json'), 'utf8'));
  const data = applyProtocol(await loadDataset(cfg.data.name), cfg.protocol);
  const t = loadTemplates();
  const docs = [...data.itemMeta.values()].map((m) => itemSentence(m)).concat([...t.seen, ...t.unseen].map((x) => `${x.text} ${x.instruction} ${x.answers.yes} ${x.answers.no}`));
  // The small LM's architecture (src/config/small_lm.ts defaults) with random
  // weights: generation and scoring cost the same as a trained one.
  log(`LM: BPE tokenizer (${o.vocabSize} tokens) over ${docs.length} item sentences, LLaMA-style d=${o.hiddenSize}, ${o.layers} layers, random weights`);
  const tok = trainBpe(docs, { vocabSize: o.vocabSize });
  withRecSpecialTokens(tok);
  const lm = new LlamaForCausalLM(parseLlamaConfig({
    model_type: 'llama', vocab_size: tok.vocabSize, hidden_size: o.hiddenSize, intermediate_size: o.intermediateSize, num_hidden_layers: o.layers,
    num_attention_heads: o.heads, num_key_value_heads: o.kvHeads, max_position_embeddings: 1024, tie_word_embeddings: true, rms_norm_eps: 1e-6,
    eos_token_id: tok.specialTokens.eos?.id ?? null,
  }), { seed: 2024 });
  mkdirSync(dir, { recursive: true });
  tok.save(dir);
  savePretrained(lm, dir);
  lm.dispose();
}

/** The serving process: the one main.js relaunched with the Node flags, else main.js itself (flags already given). */
function serverPid(pid) {
  const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
  return kids.length > 0 ? Number(kids[0]) : pid;
}

/** CPU seconds (user + system) a process has used: /proc/PID/stat fields 14 and 15, in clock ticks (100 per second on Linux). */
function cpuSecondsOf(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

function rssOf(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : NaN;
}

async function startServer(run, lm, log, pin) {
  // --pin: the server (and every thread it starts) on CPU 0, this process (the load generator) on CPU 1.
  const [cmd, pre] = pin ? ['taskset', ['-c', '0', process.execPath]] : [process.execPath, []];
  const child = spawn(cmd, [...pre, join(dist, 'cli', 'main.js'), 'serve', '--run', run, ...(lm ? ['--lm', lm] : []), '--host', '127.0.0.1', '--port', '0', '--max-queue', '4096'], {
    cwd: root, env: { ...process.env, LLMREC_BLAS_THREADS: process.env.LLMREC_BLAS_THREADS ?? '1' }, stdio: ['ignore', 'ignore', 'pipe'],
  });
  let text = '';
  child.stderr.on('data', (d) => { text += d.toString(); });
  const base = await new Promise((res, rej) => {
    const t = setTimeout(() => rej(new Error(`server did not start:\n${text}`)), 600_000);
    const check = () => {
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(text);
      if (m) { clearTimeout(t); res(m[1]); } else if (child.exitCode !== null) { clearTimeout(t); rej(new Error(`server exited:\n${text}`)); } else setTimeout(check, 200);
    };
    check();
  });
  log(text.trim());
  const pid = serverPid(child.pid);
  log(`server process ${pid}${pid === child.pid ? '' : ` (started by ${child.pid}, RSS ${rssOf(child.pid)} MiB)`}`);
  return { child, pid, base, log: () => text };
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const log = (l) => console.error(l);
  if (!existsSync(join(dist, 'cli', 'main.js'))) throw new Error('dist/cli/main.js not found: run `npm run build` first');
  const runDir = o.run ?? join(o.work, 'run');
  const t0 = performance.now();
  if (!o.run) await prepareRun(runDir, o.fitWindows, log);
  const lmDir = o.lm ?? (o.cases.includes('rerank') ? join(o.work, 'lm') : null);
  if (lmDir && !o.lm) await prepareLm(lmDir, runDir, log);
  const prepSeconds = (performance.now() - t0) / 1000;
  log(`preparation: ${prepSeconds.toFixed(1)} s`);
  const t1 = performance.now();
  if (o.pin) {
    // Linux only: two CPUs at least; the load generator keeps CPU 1 to itself.
    const r = spawnSync('taskset', ['-cp', '1', String(process.pid)], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`--pin: taskset failed: ${r.stderr || r.error?.message}`);
  }
  const srv = await startServer(runDir, lmDir, log, o.pin);
  const startSeconds = (performance.now() - t1) / 1000;
  const scoring = /scoring: (\w+) GEMM/.exec(srv.log())?.[1] ?? 'unknown';
  const url = new URL(srv.base);
  if (url.hostname !== '127.0.0.1') throw new Error('the load test only targets 127.0.0.1');
  const models = await (await fetch(`${srv.base}/v1/models`)).json();
  const users = await (await fetch(`${srv.base}/v1/users?limit=100&offset=0`)).json();
  const total = users.total;
  // Item ids come from the search endpoint (every item, page by page is slow: the first 100 pages of 100 suffice).
  const itemIds = [];
  for (const q of 'abcdefghijklmnopqrstuvwxyz') {
    const r = await (await fetch(`${srv.base}/v1/items?q=${q}&limit=100`)).json();
    for (const it of r.items) itemIds.push(it.id);
  }
  const ids = [...new Set(itemIds)];
  const userIds = [];
  for (let off = 0; off < Math.min(total, 2000); off += 100) {
    const r = await (await fetch(`${srv.base}/v1/users?limit=100&offset=${off}`)).json();
    for (const u of r.users) userIds.push(u.id);
  }
  const label = models.models.find((m) => m.name === 'sasrec')?.label ?? models.models[0].label;
  const pick = rng(2024);
  const sample = (n) => Array.from({ length: n }, () => ids[pick(ids.length)]);
  const cases = {
    healthz: { method: 'GET', path: '/healthz', connections: o.connections },
    known: { method: 'POST', path: '/v1/recommend', connections: o.connections, body: () => ({ model: label, user: userIds[pick(userIds.length)], k: 10 }) },
    history: { method: 'POST', path: '/v1/recommend', connections: o.connections, body: () => ({ model: label, history: sample(20), k: 10 }) },
    rerank: { method: 'POST', path: '/v1/rerank', connections: Math.min(2, o.connections), body: () => ({ history: sample(10), candidates: [...new Set(sample(20))] }) },
  };
  const rows = [];
  for (const name of o.cases) {
    const c = cases[name];
    if (!c) throw new Error(`unknown case ${name}`);
    if (name === 'rerank' && !models.lm) { log('rerank: no LM loaded, skipped'); continue; }
    // Request bodies drawn once from the seeded generator (POOL of them, cycled by every connection):
    // autocannon then sends prebuilt requests, and the load generator, which shares the machine's
    // cores with the server, spends no time building bodies during the measurement.
    const requests = c.body ? Array.from({ length: POOL }, () => ({ method: c.method, body: JSON.stringify(c.body()) })) : [{ method: c.method }];
    const opts = { url: srv.base + c.path, method: c.method, connections: c.connections, timeout: 30, headers: { 'content-type': 'application/json' }, requests };
    if (o.warmup > 0) {
      // Warm-up, not measured: the server's JIT and heap reach their steady state before RSS and throughput are taken.
      log(`${name}: warm-up ${o.warmup} s ...`);
      await autocannon({ ...opts, duration: o.warmup });
    }
    const rssBefore = rssOf(srv.pid);
    log(`${name}: ${o.duration} s, ${c.connections} connections ...`);
    let rssPeak = rssBefore;
    const sampler = setInterval(() => { rssPeak = Math.max(rssPeak, rssOf(srv.pid)); }, 1000);
    const cpu0 = { server: cpuSecondsOf(srv.pid), self: process.cpuUsage(), t: performance.now() };
    const r = await autocannon({ ...opts, duration: o.duration });
    const wall = (performance.now() - cpu0.t) / 1000;
    const selfCpu = process.cpuUsage(cpu0.self);
    clearInterval(sampler);
    const row = {
      case: name, connections: c.connections, seconds: o.duration, requests: r.requests.total, rps: r.requests.average,
      p50: r.latency.p50, p99: r.latency.p99, max: r.latency.max, errors: r.errors + r.timeouts, non2xx: r.non2xx,
      rssBeforeMiB: rssBefore, rssAfterMiB: rssOf(srv.pid), rssPeakMiB: rssPeak,
      // Busy fraction of one core: which side was the ceiling (the server or this load generator).
      serverCpu: Number(((cpuSecondsOf(srv.pid) - cpu0.server) / wall).toFixed(2)),
      generatorCpu: Number(((selfCpu.user + selfCpu.system) / 1e6 / wall).toFixed(2)),
    };
    rows.push(row);
    log(JSON.stringify(row));
  }
  srv.child.kill('SIGTERM');
  await new Promise((res) => srv.child.on('exit', res));
  const os = await import('node:os');
  const meta = {
    date: new Date().toISOString(), node: process.version, run: runDir, lm: lmDir, items: models.items, users: models.users, model: label,
    pinned: o.pin, serverNodeFlags: /llmrec serve: node (.*)/.exec(srv.log())?.[1] ?? '', cpus: os.cpus().length, loadAverage: os.loadavg().map((x) => Number(x.toFixed(2))), scoring, prepSeconds: Number(prepSeconds.toFixed(1)), serverStartSeconds: Number(startSeconds.toFixed(1)),
  };
  const health = rows.find((x) => x.case === 'healthz');
  for (const x of rows) x.ratioToHealthz = health ? x.rps / health.rps : null;
  const known = rows.find((x) => x.case === 'known');
  const goal = known && health ? {
    ratio: known.ratioToHealthz, ratioOk: known.ratioToHealthz >= 0.5, p99Ok: known.p99 < 10, errorsOk: known.errors === 0 && known.non2xx === 0,
    rssOk: known.rssAfterMiB - known.rssBeforeMiB <= Math.max(8, 0.05 * known.rssBeforeMiB),
  } : null;
  if (goal) goal.met = goal.ratioOk && goal.p99Ok && goal.errorsOk && goal.rssOk;
  const md = ['| case | conn. | requests/s | x /healthz | p50 ms | p99 ms | max ms | errors | non-2xx | RSS before MiB | RSS after MiB | RSS peak MiB | server CPU | generator CPU |', '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map((x) => `| ${x.case} | ${x.connections} | ${x.rps.toFixed(1)} | ${x.ratioToHealthz === null ? '-' : x.ratioToHealthz.toFixed(3)} | ${x.p50} | ${x.p99} | ${x.max} | ${x.errors} | ${x.non2xx} | ${x.rssBeforeMiB} | ${x.rssAfterMiB} | ${x.rssPeakMiB} | ${x.serverCpu} | ${x.generatorCpu} |`)].join('\n');
  console.log(md);
  console.log(`\n${models.items} items, ${models.users} users, model '${label}', scoring: ${scoring} GEMM, server node flags: ${meta.serverNodeFlags || 'none'}${o.pin ? '; server pinned to CPU 0, load generator to CPU 1' : ''}; ${meta.cpus} CPUs, load average ${meta.loadAverage.join(' ')} at the end; preparation ${meta.prepSeconds} s, server start ${meta.serverStartSeconds} s.`);
  if (goal) {
    console.log(`Goal (a) known users: ${goal.met ? 'MET' : 'NOT MET'}: ${(goal.ratio * 100).toFixed(1)}% of /healthz requests/s (>= 50%: ${goal.ratioOk ? 'yes' : 'no'}), p99 ${known.p99} ms (< 10: ${goal.p99Ok ? 'yes' : 'no'}), errors ${known.errors + known.non2xx} (0: ${goal.errorsOk ? 'yes' : 'no'}), RSS ${known.rssBeforeMiB} -> ${known.rssAfterMiB} MiB (flat: ${goal.rssOk ? 'yes' : 'no'}).`);
  }
  if (o.out) {
    const tmp = `${o.out}.tmp-${process.pid}`;
    writeFileSync(tmp, JSON.stringify({ meta, rows, goal }, null, 2) + '\n');
    renameSync(tmp, o.out);
  }
}

main().catch((e) => {
  console.error(`loadtest: ${e.message}`);
  process.exit(1);
});
