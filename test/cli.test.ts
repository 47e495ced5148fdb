/**
 * The llmrec command line, run as a child process (the same entry as the
 * installed bin, through tsx): wiring of the experiment subcommands, JSON
 * output, and clear errors with a non-zero exit for bad configs and data.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fatalLines } from '../src/cli/fatal.js';

const root = join(import.meta.dirname, '..');
const cli = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', join(root, 'src', 'cli', 'main.ts'), ...args], { cwd: root, encoding: 'utf8' });

describe('llmrec CLI', () => {
  it('data stats --json on a local file', () => {
    const r = cli('data', 'stats', '--data', join(root, 'test', 'fixtures', 'loaders', 'ml-100k'), '--k-core', '0', '--rating-threshold', 'none', '--json');
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { raw: { interactions: number; users: number }; split: null; protocolError: string };
    assert.equal(out.raw.interactions, 5);
    assert.equal(out.raw.users, 3);
    // Too few interactions per user to split: raw stats still shown, with the reason.
    assert.equal(out.split, null);
    assert.match(out.protocolError, /3 or more interactions/);
  });

  it("the wasm engine's bare abort or trap is explained (out of its 4 GiB heap); other errors print as they are", () => {
    const abort = fatalLines(new Error('Aborted(). Build with -sASSERTIONS for more info.'));
    assert.equal(abort.length, 2);
    assert.equal(abort[0], 'llmrec: Aborted(). Build with -sASSERTIONS for more info.');
    assert.match(abort[1], /most likely out of memory: its heap holds at most 4 GiB.*loraStage\.batchSize/);
    assert.equal(fatalLines(new Error('memory access out of bounds'))[1], abort[1]);
    assert.deepEqual(fatalLines(new Error('lm.dir x: no such folder')), ['llmrec: lm.dir x: no such folder']);
    assert.deepEqual(fatalLines('plain'), ['llmrec: plain']);
  });

  it('rejects a bad config file naming the file and key, exit code 1', () => {
    const dir = mkdtempSync(join(tmpdir(), 'llmrec-cli-'));
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ train: { epoch: 3 } }));
    const r = cli('train', '-c', file);
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`invalid configuration \\(${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`));
    assert.match(r.stderr, /train/);
  });

  it('a missing dataset is a clear error', () => {
    const r = cli('data', 'stats', '--data', 'no-such-dataset-xyz');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /no-such-dataset-xyz/);
  });

  it('lm pretrain-mlm trains an item text encoder folder on the embedded shop; bad sizes are a clear error', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'llmrec-cli-')), 'mlm');
    const small = ['--hidden', '16', '--layers', '1', '--ffn', '32', '--block', '32', '--vocab', '300', '--batch-size', '4'];
    const r = cli('lm', 'pretrain-mlm', '--steps', '5', '--out', out, ...small);
    assert.equal(r.status, 0, r.stderr);
    const rep = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as { training: { steps: number }; encoder: string; itemsWithText: number };
    assert.equal(rep.training.steps, 5);
    assert.equal(rep.encoder, `lm:${out}`);
    assert.ok(rep.itemsWithText > 0);
    assert.ok(existsSync(join(out, 'model.safetensors')) && existsSync(join(out, 'tokenizer.json')));
    const bad = cli('lm', 'pretrain-mlm', '--steps', '5', '--out', `${out}-bad`, ...small, '--heads', '3');
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /'hiddenSize' 16 must be a multiple of 'heads' 3/);
  });

  it('run --until stops a staged run after the named stage (resumable); an unknown stage is refused before anything is written', () => {
    const dir = mkdtempSync(join(tmpdir(), 'llmrec-cli-'));
    const cfg = join(dir, 'gp.json');
    writeFileSync(cfg, JSON.stringify({ ganprompt: { collab: { model: 'bprmf', epochs: 1, config: { d: 8 } } } }));
    const bad = cli('run', 'ganprompt', '-c', cfg, '--out', join(dir, 'bad'), '--until', 'lora');
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /--until: no stage 'lora' in this pipeline \(its stages, in order: collab, baselines, lm, diversity, recipes\)/);
    assert.equal(existsSync(join(dir, 'bad')), false, 'nothing written');
    const out = join(dir, 'run');
    const r = cli('run', 'ganprompt', '-c', cfg, '--out', out, '--until', 'collab');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /stopped after stage 'collab' \(--until\); .*continue with: llmrec run ganprompt --resume --out /);
    const rep = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as { stoppedAfter?: string; interrupted: boolean; llm: unknown[] };
    assert.equal(rep.stoppedAfter, 'collab');
    assert.equal(rep.interrupted, false);
    assert.deepEqual(rep.llm, []);
    assert.ok(existsSync(join(out, 'collab', 'config.json')), 'the stage output is written');
    assert.equal(existsSync(join(out, 'lm')), false, 'no later stage ran');
  });

  it('help lists the experiment commands and resume options', () => {
    const top = cli('--help');
    for (const c of ['data', 'train', 'benchmark', 'eval', 'report', 'doctor', 'bench']) assert.match(top.stdout, new RegExp(`\\b${c}\\b`));
    const train = cli('train', '--help');
    for (const o of ['--resume', '--config', '--isolate', '--only', '--epochs']) assert.ok(train.stdout.includes(o), o);
  });
});
