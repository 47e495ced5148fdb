/** Rating-prediction metrics: RMSE and MAE. */
import { checkPair } from './check.js';

/** Root mean squared error: sqrt(mean((pred - truth)^2)). */
export function rmse(pred: ArrayLike<number>, truth: ArrayLike<number>): number {
  checkPair(pred, truth, 'rmse');
  let s = 0;
  for (let i = 0; i < pred.length; i++) {
    const d = pred[i] - truth[i];
    s += d * d;
  }
  return Math.sqrt(s / pred.length);
}

/** Mean absolute error: mean(|pred - truth|). */
export function mae(pred: ArrayLike<number>, truth: ArrayLike<number>): number {
  checkPair(pred, truth, 'mae');
  let s = 0;
  for (let i = 0; i < pred.length; i++) s += Math.abs(pred[i] - truth[i]);
  return s / pred.length;
}
