/**
 * Moved to src/methods/text_lm/corpus.ts (issue 13: lm/ holds the language-model
 * core only). This re-export stays only until src/methods/yesno.ts and
 * src/methods/ganprompt/diversity.ts (owned by the training-loop work of the
 * same issue) import `itemTitle` from the new place; then delete this file.
 */
export { itemTitle } from '../methods/text_lm/corpus.js';
