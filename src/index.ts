/** llmrec public API. */
export * as engine from './engine/index.js';
export { tf, initEngine, engineInfo } from './engine/index.js';
export * as nn from './nn/index.js';
export { writeFileAtomic } from './util/fs.js';
