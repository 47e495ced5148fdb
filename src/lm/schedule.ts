/** Learning-rate schedules: moved to src/train/schedule.ts (one training loop, docs/TRAINING.md); kept as a re-export. */
export { warmupCosine } from '../train/schedule.js';
