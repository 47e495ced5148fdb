/**
 * Model names in configurations: every name that will be handed to the
 * models registry (src/models/registry.ts) is checked against it when the
 * configuration is parsed, so a typo (`--baselines bogus`, `--collab bogus`,
 * `--models bogus`) stops the command before any data is loaded or model
 * trained (docs/HOSTILE.md, "Flags and config files").
 */
import { z } from 'zod';
import { modelNames } from '../models/registry.js';

export const ModelNameSchema = z.string().superRefine((v, ctx) => {
  const known = modelNames();
  if (!known.includes(v)) ctx.addIssue({ code: 'custom', message: `unknown model '${v}' (known: ${known.join(', ')})` });
});
