export { Rng } from './rng.js';
export { ParamStore, type Init } from './params.js';
export { Linear, Embedding, LayerNorm, RMSNorm, silu, ropeTables, applyRope, type LoraConfig, type TorchLayout } from './layers.js';
export { AdamW, type AdamWConfig } from './optim.js';
export { SeededDropout } from './dropout.js';
