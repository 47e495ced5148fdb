/**
 * The two training objectives of RecSysLLM, both run by the LM pre-training
 * (lm/pretrain.ts, on the shared step loop src/train/loop.ts: seeded batches,
 * checkpoints in the shared layout, exact resume). Their blocks are
 * references, not tokens; each row's example is built at loss time from a
 * generator seeded by (seed, step, row), so every pass sees new behaviour
 * samples and masks and a resumed run repeats them.
 *
 *   pre-training  block = [user]: sample behaviours from the user's training
 *                 sequence, textualise, mask at a random level, infill
 *   fine-tuning   block = [family, user, position]: a task instance with a
 *                 random seen template, infill its answer
 */
import { tf } from '../../engine/index.js';
import type { SplitDataset } from '../../data/types.js';
import type { Gpt2LMHeadModel } from '../../lm/families/gpt2.js';
import { maskedCrossEntropy } from '../../lm/loss.js';
import { rowRng } from '../../lm/objectives.js';
import type { Objective } from '../../lm/pretrain.js';
import { corruptDocument, type GlmExample, type GlmTokens, type MaskingOptions, padExamples } from './masking.js';
import type { RecSysLM } from './model.js';
import { FAMILIES, pickTemplate, type PromptOptions, renderTask, type TaskData, type TaskTemplates, trainingInstance } from './tasks.js';
import { type BehaviourSampling, fitDocument, sampleBehaviours, type SegmentEncoder, type TextualiseOptions, userDocument } from './text.js';

/** Mean cross-entropy of the Part B labels of a batch of examples. */
export function infillingLoss(model: RecSysLM, exs: readonly GlmExample[], pad: number, training: boolean): tf.Scalar {
  const b = padExamples(exs, pad);
  const out = model.forward({ ids: b.ids, inter: b.inter, intra: b.intra, B: b.B, attention: b.attention, prefix: b.prefix, training });
  return maskedCrossEntropy(out.logits, b.labels);
}

export interface PretrainContext {
  data: SplitDataset;
  enc: SegmentEncoder;
  tokens: GlmTokens;
  masking: MaskingOptions;
  sampling: BehaviourSampling;
  textualise: TextualiseOptions;
  /** Part A budget: documents are cut to this many tokens (whole sentences). */
  maxDocTokens: number;
  /** Optional tabular user features, textualised as a profile sentence. */
  userFeatures?: ReadonlyMap<number, Record<string, string>>;
  seed: number;
}

/** The pre-training document of a user for one draw. */
export function pretrainExample(c: PretrainContext, user: number, rng: { next(): number }): GlmExample {
  const seq = c.data.trainSeqs[user];
  if (!seq) throw new Error(`pre-training block names user ${user}, the data has ${c.data.trainSeqs.length}`);
  const items = sampleBehaviours(seq, c.sampling, rng);
  const features = c.userFeatures?.get(user);
  const doc = fitDocument(userDocument(items, c.data.itemMeta, c.textualise, features), c.enc, c.maxDocTokens, !!features);
  return corruptDocument(doc, c.masking, c.tokens, rng).example;
}

/** Users with a non-empty training sequence, one block each. */
export function pretrainBlocks(data: SplitDataset): Int32Array[] {
  const out: Int32Array[] = [];
  data.trainSeqs.forEach((s, u) => { if (s.length > 0) out.push(Int32Array.of(u)); });
  return out;
}

/** Entity-aware (or plain, per `masking.entityAware`) blank infilling over user documents. */
export function pretrainObjective(model: RecSysLM, c: PretrainContext): Objective<Gpt2LMHeadModel> {
  let last = 0;
  return {
    name: c.masking.entityAware ? 'recsysllm-infilling' : 'glm-infilling',
    lastBatchTokens: () => last,
    loss: (_m, ids, B, T, step, training) => {
      if (T !== 1) throw new Error(`pre-training blocks are [user], got blocks of ${T}`);
      const exs = Array.from({ length: B }, (_, r) => pretrainExample(c, ids[r], rowRng(c.seed, step, r, training)));
      last = exs.reduce((a, e) => a + e.ids.length, 0);
      return infillingLoss(model, exs, c.tokens.pad, training);
    },
  };
}

export interface FinetuneContext {
  tasks: TaskData;
  templates: TaskTemplates;
  enc: SegmentEncoder;
  tokens: GlmTokens;
  prompt: PromptOptions;
  entityAware: boolean;
  seed: number;
}

export const FINETUNE_BLOCK = 3;

/** Multi-task fine-tuning: each block [family, user, position] with a random seen template. */
export function finetuneObjective(model: RecSysLM, c: FinetuneContext): Objective<Gpt2LMHeadModel> {
  let last = 0;
  return {
    name: 'recsysllm-multitask',
    lastBatchTokens: () => last,
    loss: (_m, ids, B, T, step, training) => {
      if (T !== FINETUNE_BLOCK) throw new Error(`fine-tuning blocks are [family, user, position], got blocks of ${T}`);
      const exs = Array.from({ length: B }, (_, r) => {
        const ref = ids.subarray(r * T, (r + 1) * T);
        const inst = trainingInstance(c.tasks, ref);
        const seen = c.templates.families[FAMILIES[ref[0]]].seen;
        const tpl = seen[pickTemplate(seen.length, rowRng(c.seed, step, r, training))];
        return renderTask(inst, tpl, c.enc, c.tasks.data.itemMeta, c.tokens, c.prompt, c.entityAware);
      });
      last = exs.reduce((a, e) => a + e.ids.length, 0);
      return infillingLoss(model, exs, c.tokens.pad, training);
    },
  };
}
