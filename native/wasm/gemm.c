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

/*
 * Attention row softmax and its gradient (src/engine/kernels/attention.ts),
 * for the pure-wasm path: exp is the Cephes polynomial of native/kernels.c
 * (vexpf) on f32x4 lanes.
 */
static inline v128_t vexp4(v128_t x) {
  x = wasm_f32x4_min(x, wasm_f32x4_splat(88.0f));
  x = wasm_f32x4_max(x, wasm_f32x4_splat(-87.33654475f));
  v128_t big = wasm_f32x4_splat(12582912.0f);
  v128_t n = wasm_f32x4_sub(wasm_f32x4_add(wasm_f32x4_mul(x, wasm_f32x4_splat(1.44269504088896341f)), big), big);
  v128_t r = wasm_f32x4_add(wasm_f32x4_sub(x, wasm_f32x4_mul(n, wasm_f32x4_splat(0.693359375f))),
                            wasm_f32x4_mul(n, wasm_f32x4_splat(2.12194440e-4f)));
  v128_t p = wasm_f32x4_splat(1.9875691500e-4f);
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(1.3981999507e-3f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(8.3334519073e-3f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(4.1665795894e-2f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(1.6666665459e-1f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(5.0000001201e-1f));
  p = wasm_f32x4_add(wasm_f32x4_add(wasm_f32x4_mul(wasm_f32x4_mul(p, r), r), r), wasm_f32x4_splat(1.0f));
  v128_t e = wasm_i32x4_shl(wasm_i32x4_add(wasm_i32x4_trunc_sat_f32x4(n), wasm_i32x4_splat(127)), 23);
  return wasm_f32x4_mul(p, e);
}

static inline float vexp1(float x) {
  return wasm_f32x4_extract_lane(vexp4(wasm_f32x4_splat(x)), 0);
}

/*
 * In place on the [Lq, Lk] scores of one batch item: s = softmax(scale * s + mask)
 * by rows; the mask element of (i, j) is mask[i * row_stride + j * col_stride]
 * (mask may be 0: none).
 */
EXPORT(attn_softmax_rows)
void attn_softmax_rows(float *s, int Lq, int Lk, float scale, const float *mask, int row_stride, int col_stride) {
  if (Lk <= 0) return;
  v128_t vs = wasm_f32x4_splat(scale);
  for (int i = 0; i < Lq; i++) {
    float *x = s + (int64_t)i * Lk;
    if (mask) {
      const float *m = mask + (int64_t)i * row_stride;
      if (col_stride == 1) {
        int j = 0;
        for (; j + 4 <= Lk; j += 4)
          wasm_v128_store(x + j, wasm_f32x4_add(wasm_f32x4_mul(vs, wasm_v128_load(x + j)), wasm_v128_load(m + j)));
        for (; j < Lk; j++) x[j] = scale * x[j] + m[j];
      } else {
        for (int j = 0; j < Lk; j++) x[j] = scale * x[j] + m[(int64_t)j * col_stride];
      }
    } else {
      for (int j = 0; j < Lk; j++) x[j] = scale * x[j];
    }
    float mx = x[0];
    for (int j = 1; j < Lk; j++) mx = x[j] > mx ? x[j] : mx;
    v128_t vmx = wasm_f32x4_splat(mx);
    v128_t vsum = wasm_f32x4_splat(0.f);
    int j = 0;
    for (; j + 4 <= Lk; j += 4) {
      v128_t e = vexp4(wasm_f32x4_sub(wasm_v128_load(x + j), vmx));
      wasm_v128_store(x + j, e);
      vsum = wasm_f32x4_add(vsum, e);
    }
    float sum = wasm_f32x4_extract_lane(vsum, 0) + wasm_f32x4_extract_lane(vsum, 1) +
                wasm_f32x4_extract_lane(vsum, 2) + wasm_f32x4_extract_lane(vsum, 3);
    for (; j < Lk; j++) {
      x[j] = vexp1(x[j] - mx);
      sum += x[j];
    }
    v128_t inv = wasm_f32x4_splat(1.f / sum);
    j = 0;
    for (; j + 4 <= Lk; j += 4) wasm_v128_store(x + j, wasm_f32x4_mul(wasm_v128_load(x + j), inv));
    for (; j < Lk; j++) x[j] *= 1.f / sum;
  }
}

/* In place on dp: dS = scale * P (dP - rowsum(dP P)), rows of Lk. */
EXPORT(attn_softmax_grad)
void attn_softmax_grad(const float *p, float *dp, int rows, int Lk, float scale) {
  for (int r = 0; r < rows; r++) {
    const float *pr = p + (int64_t)r * Lk;
    float *g = dp + (int64_t)r * Lk;
    v128_t vdot = wasm_f32x4_splat(0.f);
    int j = 0;
    for (; j + 4 <= Lk; j += 4) vdot = wasm_f32x4_add(vdot, wasm_f32x4_mul(wasm_v128_load(pr + j), wasm_v128_load(g + j)));
    float dot = wasm_f32x4_extract_lane(vdot, 0) + wasm_f32x4_extract_lane(vdot, 1) +
                wasm_f32x4_extract_lane(vdot, 2) + wasm_f32x4_extract_lane(vdot, 3);
    for (; j < Lk; j++) dot += pr[j] * g[j];
    v128_t vd = wasm_f32x4_splat(dot), vs = wasm_f32x4_splat(scale);
    j = 0;
    for (; j + 4 <= Lk; j += 4)
      wasm_v128_store(g + j, wasm_f32x4_mul(wasm_f32x4_mul(vs, wasm_v128_load(pr + j)), wasm_f32x4_sub(wasm_v128_load(g + j), vd)));
    for (; j < Lk; j++) g[j] = scale * pr[j] * (g[j] - dot);
  }
}

/*
 * Fused GRU cell and its gradient (src/engine/kernels/gru.ts), for the
 * pure-wasm path: the same formulas as llmrec_gru_cell in native/kernels.c,
 * sigmoid(x) = 1 / (1 + exp(-x)), tanh(x) = 2 sigmoid(2x) - 1, exp as vexp4.
 * gx, gh, gates: [B, 3d] (r, z, n blocks per row); h, h_out: [B, d].
 */
static inline v128_t vsigmoid4(v128_t x) {
  v128_t one = wasm_f32x4_splat(1.f);
  return wasm_f32x4_div(one, wasm_f32x4_add(one, vexp4(wasm_f32x4_neg(x))));
}

static inline v128_t vtanh4(v128_t x) {
  v128_t one = wasm_f32x4_splat(1.f);
  return wasm_f32x4_sub(wasm_f32x4_div(wasm_f32x4_splat(2.f), wasm_f32x4_add(one, vexp4(wasm_f32x4_mul(x, wasm_f32x4_splat(-2.f)))) ), one);
}

static inline float sigmoid1(float x) { return wasm_f32x4_extract_lane(vsigmoid4(wasm_f32x4_splat(x)), 0); }
static inline float tanh1(float x) { return wasm_f32x4_extract_lane(vtanh4(wasm_f32x4_splat(x)), 0); }

EXPORT(gru_cell)
void gru_cell(const float *gx, const float *gh, const float *h, int B, int d, float *h_out, float *gates) {
  v128_t one = wasm_f32x4_splat(1.f);
  for (int b = 0; b < B; b++) {
    const float *xr = gx + (int64_t)b * 3 * d, *xz = xr + d, *xn = xz + d;
    const float *hr = gh + (int64_t)b * 3 * d, *hz = hr + d, *hn = hz + d;
    const float *hp = h + (int64_t)b * d;
    float *gr = gates + (int64_t)b * 3 * d, *gz = gr + d, *gn = gz + d;
    float *ho = h_out + (int64_t)b * d;
    int j = 0;
    for (; j + 4 <= d; j += 4) {
      v128_t r = vsigmoid4(wasm_f32x4_add(wasm_v128_load(xr + j), wasm_v128_load(hr + j)));
      v128_t z = vsigmoid4(wasm_f32x4_add(wasm_v128_load(xz + j), wasm_v128_load(hz + j)));
      v128_t n = vtanh4(wasm_f32x4_add(wasm_v128_load(xn + j), wasm_f32x4_mul(r, wasm_v128_load(hn + j))));
      wasm_v128_store(gr + j, r);
      wasm_v128_store(gz + j, z);
      wasm_v128_store(gn + j, n);
      wasm_v128_store(ho + j, wasm_f32x4_add(wasm_f32x4_mul(wasm_f32x4_sub(one, z), n), wasm_f32x4_mul(z, wasm_v128_load(hp + j))));
    }
    for (; j < d; j++) {
      float r = sigmoid1(xr[j] + hr[j]);
      float z = sigmoid1(xz[j] + hz[j]);
      float n = tanh1(xn[j] + r * hn[j]);
      gr[j] = r;
      gz[j] = z;
      gn[j] = n;
      ho[j] = (1.f - z) * n + z * hp[j];
    }
  }
}

EXPORT(gru_cell_grad)
void gru_cell_grad(const float *dh_new, const float *gates, const float *gh, const float *h, int B, int d,
                   float *dgx, float *dgh, float *dh) {
  v128_t one = wasm_f32x4_splat(1.f);
  for (int b = 0; b < B; b++) {
    const float *gr = gates + (int64_t)b * 3 * d, *gz = gr + d, *gn = gz + d;
    const float *hn = gh + (int64_t)b * 3 * d + 2 * d;
    const float *hp = h + (int64_t)b * d, *dy = dh_new + (int64_t)b * d;
    float *dxr = dgx + (int64_t)b * 3 * d, *dxz = dxr + d, *dxn = dxz + d;
    float *dhr = dgh + (int64_t)b * 3 * d, *dhz = dhr + d, *dhn = dhz + d;
    float *dho = dh + (int64_t)b * d;
    int j = 0;
    for (; j + 4 <= d; j += 4) {
      v128_t r = wasm_v128_load(gr + j), z = wasm_v128_load(gz + j), n = wasm_v128_load(gn + j), g = wasm_v128_load(dy + j);
      v128_t dn = wasm_f32x4_mul(wasm_f32x4_mul(g, wasm_f32x4_sub(one, z)), wasm_f32x4_sub(one, wasm_f32x4_mul(n, n)));
      v128_t dz = wasm_f32x4_mul(wasm_f32x4_mul(wasm_f32x4_mul(g, wasm_f32x4_sub(wasm_v128_load(hp + j), n)), z), wasm_f32x4_sub(one, z));
      v128_t dr = wasm_f32x4_mul(wasm_f32x4_mul(wasm_f32x4_mul(dn, wasm_v128_load(hn + j)), r), wasm_f32x4_sub(one, r));
      wasm_v128_store(dxr + j, dr);
      wasm_v128_store(dxz + j, dz);
      wasm_v128_store(dxn + j, dn);
      wasm_v128_store(dhr + j, dr);
      wasm_v128_store(dhz + j, dz);
      wasm_v128_store(dhn + j, wasm_f32x4_mul(dn, r));
      wasm_v128_store(dho + j, wasm_f32x4_mul(g, z));
    }
    for (; j < d; j++) {
      float r = gr[j], z = gz[j], n = gn[j], g = dy[j];
      float dn = g * (1.f - z) * (1.f - n * n);
      float dz = g * (hp[j] - n) * z * (1.f - z);
      float dr = dn * hn[j] * r * (1.f - r);
      dxr[j] = dr;
      dxz[j] = dz;
      dxn[j] = dn;
      dhr[j] = dr;
      dhz[j] = dz;
      dhn[j] = dn * r;
      dho[j] = g * z;
    }
  }
}

/*
 * Broadcast element-wise add / sub / mul (src/engine/kernels/binary.ts):
 * `big` has outer * inner elements, `small` is indexed by
 *   mode 0 (trailing): small[j] for element (r, j), j < inner (a bias row, a
 *           positional table, a same-shape operand with outer = 1, a scalar);
 *   mode 1 (row):      small[r] for element (r, j) (a per-row scale or mask).
 * op 0 add, 1 sub, 2 mul; swap != 0 computes small (op) big.
 */
static inline v128_t vop(int op, v128_t x, v128_t y) {
  return op == 0 ? wasm_f32x4_add(x, y) : op == 1 ? wasm_f32x4_sub(x, y) : wasm_f32x4_mul(x, y);
}
static inline float sop(int op, float x, float y) { return op == 0 ? x + y : op == 1 ? x - y : x * y; }

EXPORT(binary_bcast)
void binary_bcast(int op, int swap, int mode, const float *big, const float *small, float *out, int outer, int inner) {
  for (int r = 0; r < outer; r++) {
    const float *x = big + (int64_t)r * inner;
    float *o = out + (int64_t)r * inner;
    int j = 0;
    if (mode == 1) {
      float s = small[r];
      v128_t vs = wasm_f32x4_splat(s);
      if (swap) {
        for (; j + 4 <= inner; j += 4) wasm_v128_store(o + j, vop(op, vs, wasm_v128_load(x + j)));
        for (; j < inner; j++) o[j] = sop(op, s, x[j]);
      } else {
        for (; j + 4 <= inner; j += 4) wasm_v128_store(o + j, vop(op, wasm_v128_load(x + j), vs));
        for (; j < inner; j++) o[j] = sop(op, x[j], s);
      }
    } else if (swap) {
      for (; j + 4 <= inner; j += 4) wasm_v128_store(o + j, vop(op, wasm_v128_load(small + j), wasm_v128_load(x + j)));
      for (; j < inner; j++) o[j] = sop(op, small[j], x[j]);
    } else {
      for (; j + 4 <= inner; j += 4) wasm_v128_store(o + j, vop(op, wasm_v128_load(x + j), wasm_v128_load(small + j)));
      for (; j < inner; j++) o[j] = sop(op, x[j], small[j]);
    }
  }
}

/*
 * Softmax cross-entropy with integer labels (src/engine/kernels/xent.ts) for
 * the pure-wasm path: per row of x [N, V] the softmax p and
 * loss = log(sum exp(x - max)) + max - x[label] (0 when the label is outside
 * [0, V)); the gradient out = dy * (p - onehot). log is Cephes' logf.
 */
static inline float logf1(float x) {
  union { float f; int32_t i; } u = { x };
  int e = ((u.i >> 23) & 0xff) - 126;
  u.i = (u.i & (int32_t)0x807fffff) | 0x3f000000;
  float m = u.f;
  if (m < 0.707106781186547524f) { e -= 1; m = m + m - 1.f; } else { m = m - 1.f; }
  float z = m * m;
  float y = 7.0376836292E-2f;
  y = y * m - 1.1514610310E-1f;
  y = y * m + 1.1676998740E-1f;
  y = y * m - 1.2420140846E-1f;
  y = y * m + 1.4249322787E-1f;
  y = y * m - 1.6668057665E-1f;
  y = y * m + 2.0000714765E-1f;
  y = y * m - 2.4999993993E-1f;
  y = y * m + 3.3333331174E-1f;
  y = y * m * z;
  float fe = (float)e;
  y += -2.12194440e-4f * fe;
  y += -0.5f * z;
  return m + y + 0.693359375f * fe;
}

EXPORT(softmax_xent)
void softmax_xent(const float *x, const int32_t *labels, int N, int V, float *loss, float *p) {
  if (V <= 0) {
    for (int n = 0; n < N; n++) loss[n] = 0.f;
    return;
  }
  for (int n = 0; n < N; n++) {
    const float *xr = x + (int64_t)n * V;
    float *pr = p + (int64_t)n * V;
    v128_t vmx = wasm_f32x4_splat(xr[0]);
    int v = 0;
    for (; v + 4 <= V; v += 4) vmx = wasm_f32x4_max(vmx, wasm_v128_load(xr + v));
    float mx = wasm_f32x4_extract_lane(vmx, 0);
    for (int l = 1; l < 4; l++) {
      float c = l == 1 ? wasm_f32x4_extract_lane(vmx, 1) : l == 2 ? wasm_f32x4_extract_lane(vmx, 2) : wasm_f32x4_extract_lane(vmx, 3);
      mx = c > mx ? c : mx;
    }
    for (; v < V; v++) mx = xr[v] > mx ? xr[v] : mx;
    vmx = wasm_f32x4_splat(mx);
    v128_t vsum = wasm_f32x4_splat(0.f);
    v = 0;
    for (; v + 4 <= V; v += 4) {
      v128_t e = vexp4(wasm_f32x4_sub(wasm_v128_load(xr + v), vmx));
      wasm_v128_store(pr + v, e);
      vsum = wasm_f32x4_add(vsum, e);
    }
    float sum = wasm_f32x4_extract_lane(vsum, 0) + wasm_f32x4_extract_lane(vsum, 1) +
                wasm_f32x4_extract_lane(vsum, 2) + wasm_f32x4_extract_lane(vsum, 3);
    for (; v < V; v++) {
      pr[v] = vexp1(xr[v] - mx);
      sum += pr[v];
    }
    float inv = 1.f / sum;
    v128_t vinv = wasm_f32x4_splat(inv);
    v = 0;
    for (; v + 4 <= V; v += 4) wasm_v128_store(pr + v, wasm_f32x4_mul(wasm_v128_load(pr + v), vinv));
    for (; v < V; v++) pr[v] *= inv;
    int t = labels[n];
    loss[n] = t >= 0 && t < V ? logf1(sum) + mx - xr[t] : 0.f;
  }
}

EXPORT(softmax_xent_grad)
void softmax_xent_grad(const float *p, const int32_t *labels, const float *dy, int N, int V, float *out) {
  for (int n = 0; n < N; n++) {
    const float *pr = p + (int64_t)n * V;
    float *o = out + (int64_t)n * V;
    int t = labels[n];
    float g = t >= 0 && t < V ? dy[n] : 0.f;
    v128_t vg = wasm_f32x4_splat(g);
    int v = 0;
    for (; v + 4 <= V; v += 4) wasm_v128_store(o + v, wasm_f32x4_mul(vg, wasm_v128_load(pr + v)));
    for (; v < V; v++) o[v] = g * pr[v];
    if (t >= 0 && t < V) o[t] -= g;
  }
}

/*
 * LayerNorm over the last axis and its gradient (src/engine/kernels/layernorm.ts),
 * and the middle-axis reduction of Sum/Mean (src/engine/kernels/reduce.ts), for
 * the pure-wasm path. Row statistics in f32x4 lanes; sums over rows (dgamma,
 * dbeta, Sum/Mean) accumulate in float64 in `acc`, caller-provided scratch of
 * 2 * D (LayerNorm) or `inner` (reduce) doubles.
 */
static inline float hsum4(v128_t v) {
  return (wasm_f32x4_extract_lane(v, 0) + wasm_f32x4_extract_lane(v, 1)) +
         (wasm_f32x4_extract_lane(v, 2) + wasm_f32x4_extract_lane(v, 3));
}

static inline void acc_f64(double *acc, v128_t v) {
  v128_t lo = wasm_f64x2_promote_low_f32x4(v);
  v128_t hi = wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(v, v, 2, 3, 0, 1));
  wasm_v128_store(acc, wasm_f64x2_add(wasm_v128_load(acc), lo));
  wasm_v128_store(acc + 2, wasm_f64x2_add(wasm_v128_load(acc + 2), hi));
}

EXPORT(layer_norm)
void layer_norm(const float *x, const float *gamma, const float *beta, int N, int D, float eps, float *y, float *mean, float *rstd) {
  for (int n = 0; n < N; n++) {
    const float *xr = x + (int64_t)n * D;
    float *yr = y + (int64_t)n * D;
    v128_t vs = wasm_f32x4_splat(0.f);
    int j = 0;
    for (; j + 4 <= D; j += 4) vs = wasm_f32x4_add(vs, wasm_v128_load(xr + j));
    float s = hsum4(vs);
    for (; j < D; j++) s += xr[j];
    float mu = s / (float)D;
    v128_t vmu = wasm_f32x4_splat(mu);
    v128_t vv = wasm_f32x4_splat(0.f);
    j = 0;
    for (; j + 4 <= D; j += 4) {
      v128_t c = wasm_f32x4_sub(wasm_v128_load(xr + j), vmu);
      vv = wasm_f32x4_add(vv, wasm_f32x4_mul(c, c));
    }
    float v = hsum4(vv);
    for (; j < D; j++) { float c = xr[j] - mu; v += c * c; }
    float r = 1.f / wasm_f32x4_extract_lane(wasm_f32x4_sqrt(wasm_f32x4_splat(v / (float)D + eps)), 0);
    mean[n] = mu;
    rstd[n] = r;
    v128_t vr = wasm_f32x4_splat(r);
    j = 0;
    for (; j + 4 <= D; j += 4) {
      v128_t xh = wasm_f32x4_mul(wasm_f32x4_sub(wasm_v128_load(xr + j), vmu), vr);
      wasm_v128_store(yr + j, wasm_f32x4_add(wasm_f32x4_mul(xh, wasm_v128_load(gamma + j)), wasm_v128_load(beta + j)));
    }
    for (; j < D; j++) yr[j] = (xr[j] - mu) * r * gamma[j] + beta[j];
  }
}

EXPORT(layer_norm_grad)
void layer_norm_grad(const float *dy, const float *x, const float *mean, const float *rstd, const float *gamma, int N, int D,
                     float *dx, float *dgamma, float *dbeta, double *acc) {
  double *dg = acc, *db = acc + D;
  for (int j = 0; j < 2 * D; j++) acc[j] = 0.0;
  for (int n = 0; n < N; n++) {
    const float *xr = x + (int64_t)n * D, *dr = dy + (int64_t)n * D;
    float *dxr = dx + (int64_t)n * D;
    float mu = mean[n], r = rstd[n];
    v128_t vmu = wasm_f32x4_splat(mu), vr = wasm_f32x4_splat(r);
    v128_t vsg = wasm_f32x4_splat(0.f), vsgx = wasm_f32x4_splat(0.f);
    int j = 0;
    for (; j + 4 <= D; j += 4) {
      v128_t xh = wasm_f32x4_mul(wasm_f32x4_sub(wasm_v128_load(xr + j), vmu), vr);
      v128_t d = wasm_v128_load(dr + j);
      v128_t g = wasm_f32x4_mul(d, wasm_v128_load(gamma + j));
      vsg = wasm_f32x4_add(vsg, g);
      vsgx = wasm_f32x4_add(vsgx, wasm_f32x4_mul(g, xh));
      acc_f64(dg + j, wasm_f32x4_mul(d, xh));
      acc_f64(db + j, d);
    }
    float sg = hsum4(vsg), sgx = hsum4(vsgx);
    for (; j < D; j++) {
      float xh = (xr[j] - mu) * r, d = dr[j], g = d * gamma[j];
      sg += g;
      sgx += g * xh;
      dg[j] += (double)(d * xh);
      db[j] += (double)d;
    }
    float mg = sg / (float)D, mgx = sgx / (float)D;
    v128_t vmg = wasm_f32x4_splat(mg), vmgx = wasm_f32x4_splat(mgx);
    j = 0;
    for (; j + 4 <= D; j += 4) {
      v128_t xh = wasm_f32x4_mul(wasm_f32x4_sub(wasm_v128_load(xr + j), vmu), vr);
      v128_t g = wasm_f32x4_mul(wasm_v128_load(dr + j), wasm_v128_load(gamma + j));
      wasm_v128_store(dxr + j, wasm_f32x4_mul(vr, wasm_f32x4_sub(wasm_f32x4_sub(g, vmg), wasm_f32x4_mul(xh, vmgx))));
    }
    for (; j < D; j++) {
      float xh = (xr[j] - mu) * r;
      dxr[j] = r * (dr[j] * gamma[j] - mg - xh * mgx);
    }
  }
  for (int j = 0; j < D; j++) { dgamma[j] = (float)dg[j]; dbeta[j] = (float)db[j]; }
}

/*
 * RMSNorm over the last axis (src/engine/kernels/rmsnorm.ts):
 * rstd = 1 / sqrt(mean(x^2) + eps), y = x * rstd * gamma; the gradient
 * dx = rstd * (g - x * rstd^2 * mean(g * x)) with g = dy * gamma, and
 * dgamma = sum over rows of dy * x * rstd (float64 in `acc`, D doubles).
 */
EXPORT(rms_norm)
void rms_norm(const float *x, const float *gamma, int N, int D, float eps, float *y, float *rstd) {
  for (int n = 0; n < N; n++) {
    const float *xr = x + (int64_t)n * D;
    float *yr = y + (int64_t)n * D;
    v128_t vv = wasm_f32x4_splat(0.f);
    int j = 0;
    for (; j + 4 <= D; j += 4) { v128_t c = wasm_v128_load(xr + j); vv = wasm_f32x4_add(vv, wasm_f32x4_mul(c, c)); }
    float v = hsum4(vv);
    for (; j < D; j++) v += xr[j] * xr[j];
    float r = 1.f / wasm_f32x4_extract_lane(wasm_f32x4_sqrt(wasm_f32x4_splat(v / (float)D + eps)), 0);
    rstd[n] = r;
    v128_t vr = wasm_f32x4_splat(r);
    j = 0;
    for (; j + 4 <= D; j += 4) wasm_v128_store(yr + j, wasm_f32x4_mul(wasm_f32x4_mul(wasm_v128_load(xr + j), vr), wasm_v128_load(gamma + j)));
    for (; j < D; j++) yr[j] = xr[j] * r * gamma[j];
  }
}

EXPORT(rms_norm_grad)
void rms_norm_grad(const float *dy, const float *x, const float *rstd, const float *gamma, int N, int D,
                   float *dx, float *dgamma, double *acc) {
  for (int j = 0; j < D; j++) acc[j] = 0.0;
  for (int n = 0; n < N; n++) {
    const float *xr = x + (int64_t)n * D, *dr = dy + (int64_t)n * D;
    float *dxr = dx + (int64_t)n * D;
    float r = rstd[n];
    v128_t vr = wasm_f32x4_splat(r);
    v128_t vs = wasm_f32x4_splat(0.f);
    int j = 0;
    for (; j + 4 <= D; j += 4) {
      v128_t xv = wasm_v128_load(xr + j), d = wasm_v128_load(dr + j);
      vs = wasm_f32x4_add(vs, wasm_f32x4_mul(wasm_f32x4_mul(d, wasm_v128_load(gamma + j)), xv));
      acc_f64(acc + j, wasm_f32x4_mul(wasm_f32x4_mul(d, xv), vr));
    }
    float sgx = hsum4(vs);
    for (; j < D; j++) {
      float d = dr[j];
      sgx += d * gamma[j] * xr[j];
      acc[j] += (double)(d * xr[j] * r);
    }
    float c = r * r * sgx / (float)D;
    v128_t vc = wasm_f32x4_splat(c);
    j = 0;
    for (; j + 4 <= D; j += 4) {
      v128_t g = wasm_f32x4_mul(wasm_v128_load(dr + j), wasm_v128_load(gamma + j));
      wasm_v128_store(dxr + j, wasm_f32x4_mul(vr, wasm_f32x4_sub(g, wasm_f32x4_mul(wasm_v128_load(xr + j), vc))));
    }
    for (; j < D; j++) dxr[j] = r * (dr[j] * gamma[j] - xr[j] * c);
  }
  for (int j = 0; j < D; j++) dgamma[j] = (float)acc[j];
}

/* out[o, j] = scale * sum_r x[o, r, j], x viewed as [outer, R, inner]; acc: inner doubles. */
EXPORT(reduce_middle)
void reduce_middle(const float *x, int outer, int R, int inner, float *out, float scale, double *acc) {
  for (int o = 0; o < outer; o++) {
    const float *xo = x + (int64_t)o * R * inner;
    if (inner == 1) {
      v128_t a0 = wasm_f64x2_splat(0.0), a1 = wasm_f64x2_splat(0.0);
      int r = 0;
      for (; r + 4 <= R; r += 4) {
        v128_t v = wasm_v128_load(xo + r);
        a0 = wasm_f64x2_add(a0, wasm_f64x2_promote_low_f32x4(v));
        a1 = wasm_f64x2_add(a1, wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(v, v, 2, 3, 0, 1)));
      }
      v128_t a = wasm_f64x2_add(a0, a1);
      double s = wasm_f64x2_extract_lane(a, 0) + wasm_f64x2_extract_lane(a, 1);
      for (; r < R; r++) s += (double)xo[r];
      out[o] = (float)(s * (double)scale);
      continue;
    }
    for (int j = 0; j < inner; j++) acc[j] = 0.0;
    for (int r = 0; r < R; r++) {
      const float *xr = xo + (int64_t)r * inner;
      int j = 0;
      for (; j + 4 <= inner; j += 4) acc_f64(acc + j, wasm_v128_load(xr + j));
      for (; j < inner; j++) acc[j] += (double)xr[j];
    }
    for (int j = 0; j < inner; j++) out[(int64_t)o * inner + j] = (float)(acc[j] * (double)scale);
  }
}

/*
 * Fused AdamW update (src/engine/kernels/adamw.ts) for the pure-wasm path, the
 * arithmetic of llmrec_adamw in native/kernels.c: c1 = 1 - beta1,
 * c2 = 1 - beta2, decay = 1 - lr wd, step = lr / bc1 and inv_bc2 = 1 / bc2
 * computed by the caller in float64 (1.f - 0.999f would lose 1e-5 of c2).
 */
EXPORT(adamw)
void adamw(const float *p, const float *g, const float *m, const float *v, int n,
           float b1, float b2, float c1, float c2, float eps, float decay, float step, float inv_bc2, float gs,
           float *p_out, float *m_out, float *v_out) {
  v128_t vb1 = wasm_f32x4_splat(b1), vb2 = wasm_f32x4_splat(b2), vc1 = wasm_f32x4_splat(c1), vc2 = wasm_f32x4_splat(c2);
  v128_t ve = wasm_f32x4_splat(eps), vd = wasm_f32x4_splat(decay), vs = wasm_f32x4_splat(step), vi = wasm_f32x4_splat(inv_bc2);
  v128_t vgs = wasm_f32x4_splat(gs);
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    v128_t gi = wasm_f32x4_mul(wasm_v128_load(g + i), vgs);
    v128_t mi = wasm_f32x4_add(wasm_f32x4_mul(vb1, wasm_v128_load(m + i)), wasm_f32x4_mul(vc1, gi));
    v128_t vv = wasm_f32x4_add(wasm_f32x4_mul(vb2, wasm_v128_load(v + i)), wasm_f32x4_mul(wasm_f32x4_mul(vc2, gi), gi));
    wasm_v128_store(m_out + i, mi);
    wasm_v128_store(v_out + i, vv);
    v128_t den = wasm_f32x4_add(wasm_f32x4_sqrt(wasm_f32x4_mul(vv, vi)), ve);
    wasm_v128_store(p_out + i, wasm_f32x4_sub(wasm_f32x4_mul(wasm_v128_load(p + i), vd), wasm_f32x4_div(wasm_f32x4_mul(vs, mi), den)));
  }
  for (; i < n; i++) {
    float gi = g[i] * gs;
    float mi = b1 * m[i] + c1 * gi;
    float vv = b2 * v[i] + c2 * gi * gi;
    m_out[i] = mi;
    v_out[i] = vv;
    float den = wasm_f32x4_extract_lane(wasm_f32x4_sqrt(wasm_f32x4_splat(vv * inv_bc2)), 0) + eps;
    p_out[i] = p[i] * decay - step * mi / den;
  }
}

/* rows blocks of row_bytes: dst + r * dst_stride <- src + r * src_stride (bytes; Concat and Pack in slice.ts). */
EXPORT(copy_rows)
void copy_rows(unsigned char *dst, int dst_stride, const unsigned char *src, int src_stride, int rows, int row_bytes) {
  for (int r = 0; r < rows; r++) {
    unsigned char *d = dst + (int64_t)r * dst_stride;
    const unsigned char *s = src + (int64_t)r * src_stride;
    int j = 0;
    for (; j + 16 <= row_bytes; j += 16) wasm_v128_store(d + j, wasm_v128_load(s + j));
    for (; j < row_bytes; j++) d[j] = s[j];
  }
}

/*
 * Inverted-dropout multipliers (src/engine/kernels/dropout.ts), bit for bit
 * the values of dropoutMultipliers in src/util/random.ts: mulberry32 from
 * `seed`, pair j drawn from state seed + (j + 1) * 0x6d2b79f5 (a Weyl
 * sequence, so every pair is computed independently, four pairs per SIMD
 * step); out[2j] uses the low 16 bits, out[2j + 1] the high 16 bits, each 0
 * when below `thr` and `keep` otherwise.
 */
#define MULBERRY_INC 0x6d2b79f5u

static inline uint32_t mulberry_mix(uint32_t t) {
  t = (t ^ (t >> 15)) * (t | 1u);
  t ^= t + (t ^ (t >> 7)) * (t | 61u);
  return t ^ (t >> 14);
}

static inline v128_t vmulberry_mix(v128_t t) {
  v128_t one = wasm_i32x4_splat(1), s61 = wasm_i32x4_splat(61);
  t = wasm_i32x4_mul(wasm_v128_xor(t, wasm_u32x4_shr(t, 15)), wasm_v128_or(t, one));
  t = wasm_v128_xor(t, wasm_i32x4_add(t, wasm_i32x4_mul(wasm_v128_xor(t, wasm_u32x4_shr(t, 7)), wasm_v128_or(t, s61))));
  return wasm_v128_xor(t, wasm_u32x4_shr(t, 14));
}

/* The first four mulberry32 states after `state` (state + (1..4) * inc), one per lane; MULBERRY_STEP4 advances all four. */
#define MULBERRY_STEP4 wasm_i32x4_splat((int32_t)(4u * MULBERRY_INC))
static inline v128_t mulberry_lanes(uint32_t state) {
  return wasm_i32x4_make((int32_t)(state + MULBERRY_INC), (int32_t)(state + 2u * MULBERRY_INC),
                         (int32_t)(state + 3u * MULBERRY_INC), (int32_t)(state + 4u * MULBERRY_INC));
}

EXPORT(dropout_mask)
void dropout_mask(float *out, int n, uint32_t seed, int thr, float keep) {
  int pairs = n / 2;
  v128_t vthr = wasm_i32x4_splat(thr), vkeep = wasm_f32x4_splat(keep), lo16 = wasm_i32x4_splat(0xffff);
  v128_t step = MULBERRY_STEP4;
  v128_t s = mulberry_lanes(seed); /* states of pairs 0..3 */
  int j = 0;
  for (; j + 4 <= pairs; j += 4) {
    v128_t t = vmulberry_mix(s);
    s = wasm_i32x4_add(s, step);
    v128_t lo = wasm_v128_andnot(vkeep, wasm_i32x4_lt(wasm_v128_and(t, lo16), vthr));
    v128_t hi = wasm_v128_andnot(vkeep, wasm_i32x4_lt(wasm_u32x4_shr(t, 16), vthr));
    wasm_v128_store(out + 2 * j, wasm_i32x4_shuffle(lo, hi, 0, 4, 1, 5));
    wasm_v128_store(out + 2 * j + 4, wasm_i32x4_shuffle(lo, hi, 2, 6, 3, 7));
  }
  for (; 2 * j < n; j++) {
    uint32_t t = mulberry_mix(seed + (uint32_t)(j + 1) * MULBERRY_INC);
    out[2 * j] = (int)(t & 0xffffu) < thr ? 0.f : keep;
    if (2 * j + 1 < n) out[2 * j + 1] = (int)(t >> 16) < thr ? 0.f : keep;
  }
}

/*
 * Dropout multipliers of the seeded streams of the LM families (src/nn/dropout.ts,
 * src/engine/kernels/dropout.ts, draw 'single32'), bit for bit the values of
 * fillDropoutMultipliers32 in src/util/random.ts: one mulberry32 draw per
 * element, element i from state + (i + 1) * 0x6d2b79f5, 0 when the draw is
 * below `thr` (a uint32 threshold) and `keep` otherwise; four elements per
 * SIMD step.
 */
EXPORT(dropout_mask32)
void dropout_mask32(float *out, int n, uint32_t state, uint32_t thr, float keep) {
  v128_t vthr = wasm_i32x4_splat((int32_t)thr), vkeep = wasm_f32x4_splat(keep);
  v128_t step = MULBERRY_STEP4;
  v128_t s = mulberry_lanes(state); /* states of elements 0..3 */
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    v128_t t = vmulberry_mix(s);
    s = wasm_i32x4_add(s, step);
    wasm_v128_store(out + i, wasm_v128_andnot(vkeep, wasm_u32x4_lt(t, vthr)));
  }
  for (; i < n; i++) out[i] = mulberry_mix(state + (uint32_t)(i + 1) * MULBERRY_INC) < thr ? 0.f : keep;
}

/*
 * Rotary position embedding (src/engine/kernels/rope.ts), forward and
 * backward, for both engine paths. x, y: [P, T, D]; cos, sin: one [T, D]
 * table per `per` consecutive blocks of x. h = D / 2:
 *   forward   y[i] = x[i] c[i] - x[i + h] s[i],  y[i + h] = x[i + h] c[i + h] + x[i] s[i + h]
 *   backward  y[j] = x[j] c[j] + x[j + h] s[j + h],  y[j + h] = x[j + h] c[j + h] - x[j] s[j]
 * Each product and the sum in float64 (two f64x2 lanes), rounded once to
 * float32: bit for bit what the JS loop computes.
 */
static inline v128_t ld2(const float *p) { return wasm_f64x2_promote_low_f32x4(wasm_v128_load64_zero(p)); }
static inline void st2(float *p, v128_t v) { wasm_v128_store64_lane(p, wasm_f32x4_demote_f64x2_zero(v), 0); }

EXPORT(rope)
void rope(const float *x, const float *cos, const float *sin, int P, int T, int D, int per, int backward, float *y) {
  int h = D / 2;
  int64_t TD = (int64_t)T * D;
  for (int p = 0; p < P; p++) {
    const float *cb = cos + (int64_t)(p / per) * TD;
    const float *sb = sin + (int64_t)(p / per) * TD;
    for (int t = 0; t < T; t++) {
      const float *xr = x + (int64_t)p * TD + (int64_t)t * D;
      float *yr = y + (int64_t)p * TD + (int64_t)t * D;
      const float *c = cb + (int64_t)t * D;
      const float *s = sb + (int64_t)t * D;
      /* lo reads s[i] (forward) or s[i + h] (backward); hi the other one. */
      const float *slo = backward ? s + h : s;
      const float *shi = backward ? s : s + h;
      /* y_lo = x_lo c_lo + sign (x_hi s_lo), y_hi = x_hi c_hi - sign (x_lo s_hi):
         sign -1 forward, +1 backward; negating a product is exact, so x + (-y)
         rounds as x - y did. */
      double sg = backward ? 1.0 : -1.0;
      v128_t vsg = wasm_f64x2_splat(sg);
      int i = 0;
      for (; i + 2 <= h; i += 2) {
        v128_t a = ld2(xr + i), b = ld2(xr + i + h);
        st2(yr + i, wasm_f64x2_add(wasm_f64x2_mul(a, ld2(c + i)), wasm_f64x2_mul(vsg, wasm_f64x2_mul(b, ld2(slo + i)))));
        st2(yr + i + h, wasm_f64x2_sub(wasm_f64x2_mul(b, ld2(c + i + h)), wasm_f64x2_mul(vsg, wasm_f64x2_mul(a, ld2(shi + i)))));
      }
      for (; i < h; i++) {
        double a = xr[i], b = xr[i + h];
        yr[i] = (float)(a * c[i] + sg * (b * slo[i]));
        yr[i + h] = (float)(b * c[i + h] - sg * (a * shi[i]));
      }
    }
  }
}
