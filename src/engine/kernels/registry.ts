/** Project-defined fused kernels (not overriding any tfjs kernel), registered for wasm and cpu. */
import { adamwConfigs } from './adamw.js';
import { dropoutMaskConfigs } from './dropout.js';
import { gruConfigs } from './gru.js';
import { gruSeqConfigs } from './gru_seq.js';
import { layerNormConfigs } from './layernorm.js';
import { rmsNormConfigs } from './rmsnorm.js';
import { ropeConfigs } from './rope.js';
import { swigluConfigs } from './swiglu.js';

export const fusedConfigs = [...layerNormConfigs, ...adamwConfigs, ...gruConfigs, ...gruSeqConfigs, ...dropoutMaskConfigs, ...rmsNormConfigs, ...ropeConfigs, ...swigluConfigs];
