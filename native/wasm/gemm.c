/*
 * llmrec pure-wasm SIMD GEMM (docs/PERF.md "Pure-wasm batched GEMM").
 *
 * Compiled to native/wasm/gemm.wasm by native/wasm/build.mjs (clang, wasm32,
 * SIMD128) and embedded in src/engine/kernels/gemm_wasm.ts, so installs need
 * no compiler. The module imports the tfjs wasm backend's memory and works on
 * tensors in place: it has no data, no stack use and never grows the memory
 * (the build checks that), so it cannot disturb the Emscripten heap it shares.
 *
 * For b in [0, batch): C_b = op(A_b) @ op(B_b), op = transpose when transX,
 * A_b = A + b * strideA (elements; 0 broadcasts), row-major with lda = transA ? M : K,
 * ldb = transB ? K : N, ldc = N. `scratch` must hold
 * gemm_scratch_floats(M, N, K) floats.
 *
 * Method: B is packed once per batch item into NR-column panels (k-major),
 * A into MR-row blocks (k-major), and a 4x8 register-tile kernel (8 f32x4
 * accumulators, splat(A) * B-panel) runs over the whole K for each tile;
 * edge tiles are computed on zero-padded packs and stored element-wise.
 */
#include <wasm_simd128.h>
#include <stdint.h>

#define MR 4
#define NR 8

#define EXPORT(name) __attribute__((export_name(#name)))

static inline int round_up(int x, int m) { return (x + m - 1) / m * m; }

EXPORT(gemm_scratch_floats)
int gemm_scratch_floats(int M, int N, int K) {
  (void)M;
  return K * round_up(N > 0 ? N : 1, NR) + K * MR + MR * NR;
}

static void pack_b(const float *B, int transB, int N, int K, float *pb) {
  for (int j0 = 0; j0 < N; j0 += NR) {
    int nr = N - j0 < NR ? N - j0 : NR;
    float *dst = pb + (int64_t)j0 * K;
    if (!transB && nr == NR) {
      for (int k = 0; k < K; k++) {
        const float *src = B + (int64_t)k * N + j0;
        wasm_v128_store(dst + k * NR, wasm_v128_load(src));
        wasm_v128_store(dst + k * NR + 4, wasm_v128_load(src + 4));
      }
    } else if (!transB) {
      for (int k = 0; k < K; k++) {
        const float *src = B + (int64_t)k * N + j0;
        int jj = 0;
        for (; jj < nr; jj++) dst[k * NR + jj] = src[jj];
        for (; jj < NR; jj++) dst[k * NR + jj] = 0.f;
      }
    } else {
      int jj = 0;
      for (; jj < nr; jj++) {
        const float *src = B + (int64_t)(j0 + jj) * K;
        for (int k = 0; k < K; k++) dst[k * NR + jj] = src[k];
      }
      for (; jj < NR; jj++)
        for (int k = 0; k < K; k++) dst[k * NR + jj] = 0.f;
    }
  }
}

static void pack_a(const float *A, int transA, int M, int K, int i0, int mr, float *pa) {
  if (!transA) {
    int ii = 0;
    for (; ii < mr; ii++) {
      const float *src = A + (int64_t)(i0 + ii) * K;
      for (int k = 0; k < K; k++) pa[k * MR + ii] = src[k];
    }
    for (; ii < MR; ii++)
      for (int k = 0; k < K; k++) pa[k * MR + ii] = 0.f;
  } else if (mr == MR) {
    for (int k = 0; k < K; k++) wasm_v128_store(pa + k * MR, wasm_v128_load(A + (int64_t)k * M + i0));
  } else {
    for (int k = 0; k < K; k++) {
      const float *src = A + (int64_t)k * M + i0;
      int ii = 0;
      for (; ii < mr; ii++) pa[k * MR + ii] = src[ii];
      for (; ii < MR; ii++) pa[k * MR + ii] = 0.f;
    }
  }
}

/* 4x8 tile over the whole K: c (ldc) gets the full tile, or `tmp` when it is an edge tile. */
static inline void tile(const float *pa, const float *pb, int K, float *c, int ldc) {
  v128_t c00 = wasm_f32x4_splat(0.f), c01 = c00, c10 = c00, c11 = c00;
  v128_t c20 = c00, c21 = c00, c30 = c00, c31 = c00;
  for (int k = 0; k < K; k++) {
    v128_t b0 = wasm_v128_load(pb + k * NR);
    v128_t b1 = wasm_v128_load(pb + k * NR + 4);
    v128_t a0 = wasm_v128_load32_splat(pa + k * MR);
    v128_t a1 = wasm_v128_load32_splat(pa + k * MR + 1);
    v128_t a2 = wasm_v128_load32_splat(pa + k * MR + 2);
    v128_t a3 = wasm_v128_load32_splat(pa + k * MR + 3);
    c00 = wasm_f32x4_add(c00, wasm_f32x4_mul(a0, b0));
    c01 = wasm_f32x4_add(c01, wasm_f32x4_mul(a0, b1));
    c10 = wasm_f32x4_add(c10, wasm_f32x4_mul(a1, b0));
    c11 = wasm_f32x4_add(c11, wasm_f32x4_mul(a1, b1));
    c20 = wasm_f32x4_add(c20, wasm_f32x4_mul(a2, b0));
    c21 = wasm_f32x4_add(c21, wasm_f32x4_mul(a2, b1));
    c30 = wasm_f32x4_add(c30, wasm_f32x4_mul(a3, b0));
    c31 = wasm_f32x4_add(c31, wasm_f32x4_mul(a3, b1));
  }
  wasm_v128_store(c, c00);
  wasm_v128_store(c + 4, c01);
  wasm_v128_store(c + ldc, c10);
  wasm_v128_store(c + ldc + 4, c11);
  wasm_v128_store(c + 2 * ldc, c20);
  wasm_v128_store(c + 2 * ldc + 4, c21);
  wasm_v128_store(c + 3 * ldc, c30);
  wasm_v128_store(c + 3 * ldc + 4, c31);
}

EXPORT(gemm_batched)
void gemm_batched(int transA, int transB, int M, int N, int K, int batch,
                  const float *A, int strideA, const float *B, int strideB,
                  float *C, int strideC, float *scratch) {
  if (M <= 0 || N <= 0 || batch <= 0) return;
  float *pb = scratch;
  float *pa = pb + (int64_t)K * round_up(N, NR);
  float *tmp = pa + K * MR;
  for (int b = 0; b < batch; b++) {
    const float *Ab = A + (int64_t)b * strideA;
    const float *Bb = B + (int64_t)b * strideB;
    float *Cb = C + (int64_t)b * strideC;
    if (K == 0) {
      for (int64_t i = 0; i < (int64_t)M * N; i++) Cb[i] = 0.f;
      continue;
    }
    /* A broadcast B (strideB 0) is packed once. */
    if (b == 0 || strideB != 0) pack_b(Bb, transB, N, K, pb);
    for (int i0 = 0; i0 < M; i0 += MR) {
      int mr = M - i0 < MR ? M - i0 : MR;
      pack_a(Ab, transA, M, K, i0, mr, pa);
      for (int j0 = 0; j0 < N; j0 += NR) {
        int nr = N - j0 < NR ? N - j0 : NR;
        float *c = Cb + (int64_t)i0 * N + j0;
        if (mr == MR && nr == NR) {
          tile(pa, pb + (int64_t)j0 * K, K, c, N);
        } else {
          tile(pa, pb + (int64_t)j0 * K, K, tmp, NR);
          for (int ii = 0; ii < mr; ii++)
            for (int jj = 0; jj < nr; jj++) c[(int64_t)ii * N + jj] = tmp[ii * NR + jj];
        }
      }
    }
  }
}
