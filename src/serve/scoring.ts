/**
 * Batched dot-product scoring for serving (docs/SERVING.md, "Scoring"): the
 * scores of B user vectors against every item of a precomputed item matrix
 * as ONE [B x dim] x [dim x (n + 1)] GEMM, on the fastest path available:
 *   - 'blas': the OpenBLAS addon's sgemm (engine's blasAddon(), JS memory; the
 *     item matrix kept transposed, [dim x rows], a plain right operand);
 *   - 'wasm': the project's SIMD GEMM on the tfjs wasm heap (the item matrix
 *     is copied onto the heap once, transposed; the user and score buffers
 *     are allocated there once, at the largest batch);
 *   - 'js': a plain loop, when neither is usable.
 * No tensor and no buffer is allocated per request or per batch.
 */
import { blasAddon } from '../engine/index.js';
import { type BackendWasm, heapF32, wasmBackend } from '../engine/backend.js';
import { wasmGemm, wasmGemmBatched } from '../engine/kernels/wasm_gemm.js';

export type ScorePath = 'blas' | 'wasm' | 'js';

interface WasmModule { _malloc(bytes: number): number; _free(ptr: number): void }

export class DotScorer {
  readonly path: ScorePath;
  /** Items 0..n (row 0 is padding): the score row of a user has n + 1 entries. */
  readonly rows: number;
  private users: Float32Array | null = null;
  private out: Float32Array | null = null;
  /** [dim x rows] item matrix for the OpenBLAS path. */
  private itemsT: Float32Array | null = null;
  private wasm: { backend: BackendWasm; module: WasmModule; items: number; users: number; out: number } | null = null;

  /**
   * @param items [(n + 1) * dim] item vectors (row 0 padding)
   * @param maxBatch largest number of users scored at once
   * @param prefer force a path (tests); default: blas, else wasm, else js
   */
  constructor(private readonly items: Float32Array, readonly dim: number, readonly maxBatch: number, prefer?: ScorePath) {
    this.rows = items.length / dim;
    if (!Number.isInteger(this.rows)) throw new Error(`scorer: ${items.length} item floats are not a multiple of dim ${dim}`);
    const blas = blasAddon();
    let path: ScorePath = prefer ?? (blas ? 'blas' : 'wasm');
    if (path === 'blas' && !blas) throw new Error('scorer: the OpenBLAS addon is not loaded');
    if (path === 'wasm') {
      const backend = wasmBackend();
      const module = backend.wasm as unknown as WasmModule;
      if (!wasmGemm(backend)) {
        if (prefer === 'wasm') throw new Error('scorer: the wasm GEMM is unavailable');
        path = 'js';
      } else {
        const items = module._malloc(this.items.length * 4);
        const users = module._malloc(maxBatch * dim * 4);
        const out = module._malloc(maxBatch * this.rows * 4);
        if (!items || !users || !out) {
          for (const p of [items, users, out]) if (p) module._free(p);
          throw new Error(`scorer: could not allocate ${((this.items.length + maxBatch * (dim + this.rows)) * 4 / 2 ** 20).toFixed(1)} MiB on the wasm heap`);
        }
        // Stored transposed, [dim x rows]: the GEMM then reads the item matrix as a plain
        // (untransposed) right operand, measured about 3x faster for one user than the
        // transposed operand (which is repacked on every call) and no slower for eight.
        const heap = heapF32(backend);
        const base = items >>> 2;
        for (let i = 0; i < this.rows; i++) for (let d = 0; d < dim; d++) heap[base + d * this.rows + i] = this.items[i * dim + d];
        this.wasm = { backend, module, items, users, out };
      }
    }
    if (path !== 'wasm') {
      this.users = new Float32Array(maxBatch * dim);
      this.out = new Float32Array(maxBatch * this.rows);
    }
    if (path === 'blas') {
      // Transposed, [dim x rows], as on the wasm path: the plain right operand was faster for OpenBLAS too.
      const t = new Float32Array(this.items.length);
      for (let i = 0; i < this.rows; i++) for (let d = 0; d < dim; d++) t[d * this.rows + i] = this.items[i * dim + d];
      this.itemsT = t;
    }
    this.path = path;
  }

  /**
   * Scores of B users (vectors read by `userRow(b)`: a Float32Array and the
   * offset of user b's dim floats) against every item; `done(row, off)` gets
   * the buffer and the offset of user b's score row (item i at off + i),
   * valid only during the call.
   */
  score(B: number, userRow: (b: number) => [Float32Array, number], done: (b: number, row: Float32Array, off: number) => void): void {
    if (B < 1 || B > this.maxBatch) throw new Error(`scorer: batch ${B} outside 1..${this.maxBatch}`);
    const { dim, rows } = this;
    if (this.wasm) {
      const w = this.wasm;
      let heap = heapF32(w.backend);
      for (let b = 0; b < B; b++) { const [src, off] = userRow(b); heap.set(src.subarray(off, off + dim), (w.users >>> 2) + b * dim); }
      // C[B x rows] = U[B x dim] . ItemsT[dim x rows]
      wasmGemmBatched(w.backend, false, false, B, rows, dim, 1, w.users >>> 2, 0, w.items >>> 2, 0, w.out >>> 2, 0);
      heap = heapF32(w.backend); // the GEMM's scratch may have grown the heap
      for (let b = 0; b < B; b++) done(b, heap, (w.out >>> 2) + b * rows);
      return;
    }
    const U = this.users!;
    const C = this.out!;
    for (let b = 0; b < B; b++) { const [src, off] = userRow(b); U.set(src.subarray(off, off + dim), b * dim); }
    if (this.path === 'blas') {
      // C[B x rows] = U[B x dim] . ItemsT[dim x rows]
      blasAddon()!.sgemmBatched(false, false, B, rows, dim, 1, U, 0, 0, this.itemsT!, 0, 0, C, 0, 0, 1, 0);
    } else {
      const X = this.items;
      for (let i = 0; i < rows; i++) {
        const xo = i * dim;
        for (let b = 0; b < B; b++) {
          const uo = b * dim;
          let acc = 0;
          for (let d = 0; d < dim; d++) acc += U[uo + d] * X[xo + d];
          C[b * rows + i] = acc;
        }
      }
    }
    for (let b = 0; b < B; b++) done(b, C, b * rows);
  }

  dispose(): void {
    if (this.wasm) {
      const w = this.wasm;
      w.module._free(w.items); w.module._free(w.users); w.module._free(w.out);
      this.wasm = null;
    }
    this.users = null;
    this.out = null;
    this.itemsT = null;
  }
}
