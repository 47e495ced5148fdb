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

  it('help lists the experiment commands and resume options', () => {
    const top = cli('--help');
    for (const c of ['data', 'train', 'benchmark', 'eval', 'report', 'doctor', 'bench']) assert.match(top.stdout, new RegExp(`\\b${c}\\b`));
    const train = cli('train', '--help');
    for (const o of ['--resume', '--config', '--isolate', '--only', '--epochs']) assert.ok(train.stdout.includes(o), o);
  });
});
