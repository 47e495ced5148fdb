/*
 * llmrec optional native GEMM addon: OpenBLAS sgemm through N-API.
 *
 * The engine hands this addon Float32Array views that live on the tfjs wasm
 * heap (or anywhere else); napi_get_typedarray_info gives the element pointer
 * already adjusted for the view's byte offset, so sgemm reads the inputs and
 * writes the output in place: no copy in either direction.
 *
 * Threads: fine-grained 2-thread work is slower than 1 thread on small
 * problems on the 2-vCPU machines this project targets, so every call picks
 * its thread count from the size of the work (flops) against a threshold that
 * the caller can set (setThreadPolicy).
 *
 * Exports:
 *   sgemmBatched(transA, transB, M, N, K, batch,
 *                A, offA, strideA, B, offB, strideB, C, offC, strideC,
 *                alpha, beta)
 *     For b in [0, batch): C_b = alpha * op(A_b) @ op(B_b) + beta * C_b, with
 *     X_b starting at element offX + b * strideX (strideX may be 0 to broadcast)
 *     and rows stored densely (lda = transA ? M : K, ldb = transB ? K : N,
 *     ldc = N). Bounds are checked against each array's length.
 *   softmaxXent(logits, labels, N, V, loss, probs)
 *     Row-wise softmax cross-entropy with integer labels: probs = softmax(logits),
 *     loss[n] = logsumexp(logits[n]) - logits[n, labels[n]] (0 for a label
 *     outside [0, V), which is ignored as in ignore_index).
 *   softmaxXentGrad(probs, labels, dy, N, V, out)
 *     out[n, v] = dy[n] * (probs[n, v] - [v == labels[n]]).
 *   layerNorm(x, gamma, beta, N, D, eps, y, mean, rstd)
 *   layerNormGrad(dy, x, mean, rstd, gamma, N, D, dx, dgamma, dbeta)
 *     Fused LayerNorm over rows of D (see src/engine/kernels/layernorm.ts).
 *   reduceMiddle(x, outer, R, inner, out, scale)
 *     out[o, j] = scale * sum_r x[o, r, j] (Sum/Mean without a transpose).
 *   adamw(p, g, m, v, lr, beta1, beta2, eps, weightDecay, bc1, bc2, gradScale, pOut, mOut, vOut)
 *     Fused AdamW step (see src/engine/kernels/adamw.ts).
 *   gruCell(gx, gh, h, B, d, hOut, gates) / gruCellGrad(dhNew, gates, gh, h, B, d, dgx, dgh, dh)
 *     Fused GRU cell (see src/engine/kernels/gru.ts).
 *   segmentSum(x, ids, n, inner, numSegments, out)   (UnsortedSegmentSum, gather's gradient)
 *   gatherRows(x, ids, n, inner, out)   (GatherV2 on axis 0; indices range-checked)
 *   attnSoftmax(s, sOff, batch, Lq, Lk, scale, mask, mOff, base, rowStride, colStride, hasMask)
 *   attnSoftmaxGrad(heap, pOff, dpOff, rows, Lk, scale)
 *     Row softmax and its gradient of the fused attention (src/engine/kernels/attention.ts).
 *   swiglu(g, u, n, y) / swigluGrad(dy, g, u, n, dg, du)
 *     The LLaMA-family MLP gate silu(g) * u (src/engine/kernels/swiglu.ts).
 *   The compute bodies of all but sgemm live in kernels.c.
 *   setThreadPolicy(maxThreads, minFlopsForMaxThreads)
 *   info() -> { config, corename, maxThreads, minFlopsForMaxThreads }
 *   tuneMalloc(mmapThreshold, trimThreshold, topPad) -> boolean (glibc mallopt)
 */
#include <node_api.h>
#include <cblas.h>
#include <stdint.h>
#include <stdio.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include "kernels.h"
#ifdef __GLIBC__
#include <malloc.h>
#endif

extern void openblas_set_num_threads(int num_threads);
extern char *openblas_get_config(void);
extern char *openblas_get_corename(void);

static int g_max_threads = 2;
static double g_min_flops_for_max = 8.0e6;
static int g_current_threads = -1;

#define CHECK(call)                                                            \
  do {                                                                         \
    if ((call) != napi_ok) {                                                   \
      napi_throw_error(env, "LLMREC_BLAS", "N-API call failed: " #call);      \
      return NULL;                                                             \
    }                                                                          \
  } while (0)

static int set_threads_for(double flops) {
  int want = (flops >= g_min_flops_for_max) ? g_max_threads : 1;
  if (want != g_current_threads) {
    openblas_set_num_threads(want);
    g_current_threads = want;
  }
  return want;
}

static napi_status get_f32(napi_env env, napi_value v, float **data,
                           size_t *len) {
  napi_typedarray_type type;
  napi_value ab;
  size_t off;
  void *ptr;
  napi_status s = napi_get_typedarray_info(env, v, &type, len, &ptr, &ab, &off);
  if (s != napi_ok) return s;
  if (type != napi_float32_array) return napi_invalid_arg;
  *data = (float *)ptr;
  return napi_ok;
}

static napi_status get_i64(napi_env env, napi_value v, int64_t *out) {
  return napi_get_value_int64(env, v, out);
}

static napi_value SgemmBatched(napi_env env, napi_callback_info info) {
  size_t argc = 17;
  napi_value argv[17];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 17) {
    napi_throw_type_error(env, "LLMREC_BLAS", "sgemmBatched expects 17 arguments");
    return NULL;
  }
  bool ta, tb;
  CHECK(napi_get_value_bool(env, argv[0], &ta));
  CHECK(napi_get_value_bool(env, argv[1], &tb));
  int64_t M, N, K, batch, offA, strideA, offB, strideB, offC, strideC;
  CHECK(get_i64(env, argv[2], &M));
  CHECK(get_i64(env, argv[3], &N));
  CHECK(get_i64(env, argv[4], &K));
  CHECK(get_i64(env, argv[5], &batch));
  float *A, *B, *C;
  size_t lenA, lenB, lenC;
  if (get_f32(env, argv[6], &A, &lenA) != napi_ok ||
      get_f32(env, argv[9], &B, &lenB) != napi_ok ||
      get_f32(env, argv[12], &C, &lenC) != napi_ok) {
    napi_throw_type_error(env, "LLMREC_BLAS", "A, B and C must be Float32Arrays");
    return NULL;
  }
  CHECK(get_i64(env, argv[7], &offA));
  CHECK(get_i64(env, argv[8], &strideA));
  CHECK(get_i64(env, argv[10], &offB));
  CHECK(get_i64(env, argv[11], &strideB));
  CHECK(get_i64(env, argv[13], &offC));
  CHECK(get_i64(env, argv[14], &strideC));
  double alpha, beta;
  CHECK(napi_get_value_double(env, argv[15], &alpha));
  CHECK(napi_get_value_double(env, argv[16], &beta));

  if (M < 0 || N < 0 || K < 0 || batch < 0 || offA < 0 || offB < 0 ||
      offC < 0 || strideA < 0 || strideB < 0 || strideC < 0) {
    napi_throw_range_error(env, "LLMREC_BLAS", "negative size, offset or stride");
    return NULL;
  }
  if (M == 0 || N == 0 || batch == 0) return NULL;
  /* Bounds: the last matrix of each operand must fit in its array. */
  int64_t last = batch - 1;
  if ((K > 0 && (uint64_t)(offA + last * strideA + M * K) > lenA) ||
      (K > 0 && (uint64_t)(offB + last * strideB + K * N) > lenB) ||
      (uint64_t)(offC + last * strideC + M * N) > lenC) {
    napi_throw_range_error(env, "LLMREC_BLAS", "operand too small for the requested GEMM");
    return NULL;
  }
  if (K == 0) {
    /* cblas would leave C untouched for beta=1; define C = beta*C exactly. */
    for (int64_t b = 0; b < batch; b++) {
      float *c = C + offC + b * strideC;
      for (int64_t i = 0; i < M * N; i++) c[i] = (float)(beta * c[i]);
    }
    return NULL;
  }
  set_threads_for(2.0 * (double)M * (double)N * (double)K);
  int lda = ta ? (int)M : (int)K;
  int ldb = tb ? (int)K : (int)N;
  for (int64_t b = 0; b < batch; b++) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
                tb ? CblasTrans : CblasNoTrans, (int)M, (int)N, (int)K,
                (float)alpha, A + offA + b * strideA, lda,
                B + offB + b * strideB, ldb, (float)beta,
                C + offC + b * strideC, (int)N);
  }
  return NULL;
}

/*
 * Parses a call's arguments by signature: 'f' Float32Array (float **, size_t *len),
 * 'i' Int32Array (int32_t **, size_t *len), 'n' integer (int64_t *), 'd' number
 * (double *). On any mismatch throws a TypeError with `usage` and returns 0.
 */
static int parse_args(napi_env env, napi_callback_info info, const char *sig, const char *usage, ...) {
  napi_value argv[24];
  size_t argc = 24, want = strlen(sig);
  va_list ap;
  int ok = want <= 24 && napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && argc == want;
  va_start(ap, usage);
  for (size_t k = 0; ok && k < want; k++) {
    napi_typedarray_type type;
    napi_value ab;
    size_t off;
    void *ptr;
    switch (sig[k]) {
      case 'f':
      case 'i': {
        void **data = va_arg(ap, void **);
        size_t *len = va_arg(ap, size_t *);
        ok = napi_get_typedarray_info(env, argv[k], &type, len, &ptr, &ab, &off) == napi_ok &&
             type == (sig[k] == 'f' ? napi_float32_array : napi_int32_array);
        *data = ptr;
        break;
      }
      case 'n':
        ok = napi_get_value_int64(env, argv[k], va_arg(ap, int64_t *)) == napi_ok;
        break;
      case 'd':
        ok = napi_get_value_double(env, argv[k], va_arg(ap, double *)) == napi_ok;
        break;
      default:
        ok = 0;
    }
  }
  va_end(ap);
  if (!ok) napi_throw_type_error(env, "LLMREC_BLAS", usage);
  return ok;
}

static napi_value range_error(napi_env env, const char *msg) {
  napi_throw_range_error(env, "LLMREC_BLAS", msg);
  return NULL;
}

static napi_value SoftmaxXent(napi_env env, napi_callback_info info) {
  float *logits, *loss, *probs;
  int32_t *labels;
  size_t nx, nl, nloss, np;
  int64_t N, V;
  if (!parse_args(env, info, "finnff", "softmaxXent(logits: F32, labels: I32, N, V, loss: F32, probs: F32)",
                  &logits, &nx, &labels, &nl, &N, &V, &loss, &nloss, &probs, &np)) return NULL;
  if (N < 0 || V <= 0 || nx < (size_t)(N * V) || np < (size_t)(N * V) || nl < (size_t)N || nloss < (size_t)N)
    return range_error(env, "softmaxXent: arrays too small for N x V");
  llmrec_softmax_xent(logits, labels, N, V, loss, probs);
  return NULL;
}

static napi_value SoftmaxXentGrad(napi_env env, napi_callback_info info) {
  float *probs, *dy, *out;
  int32_t *labels;
  size_t np, nl, ndy, no;
  int64_t N, V;
  if (!parse_args(env, info, "fifnnf", "softmaxXentGrad(probs: F32, labels: I32, dy: F32, N, V, out: F32)",
                  &probs, &np, &labels, &nl, &dy, &ndy, &N, &V, &out, &no)) return NULL;
  if (N < 0 || V <= 0 || np < (size_t)(N * V) || no < (size_t)(N * V) || nl < (size_t)N || ndy < (size_t)N)
    return range_error(env, "softmaxXentGrad: arrays too small for N x V");
  llmrec_softmax_xent_grad(probs, labels, dy, N, V, out);
  return NULL;
}

static napi_value SwiGlu(napi_env env, napi_callback_info info) {
  float *g, *u, *y;
  size_t ng, nu, ny;
  int64_t n;
  if (!parse_args(env, info, "ffnf", "swiglu(g: F32, u: F32, n, y: F32)", &g, &ng, &u, &nu, &n, &y, &ny)) return NULL;
  if (n < 0 || ng < (size_t)n || nu < (size_t)n || ny < (size_t)n) return range_error(env, "swiglu: arrays shorter than n");
  llmrec_swiglu(g, u, n, y);
  return NULL;
}

static napi_value SwiGluGrad(napi_env env, napi_callback_info info) {
  float *dy, *g, *u, *dg, *du;
  size_t ndy, ng, nu, ndg, ndu;
  int64_t n;
  if (!parse_args(env, info, "fffnff", "swigluGrad(dy: F32, g: F32, u: F32, n, dg: F32, du: F32)",
                  &dy, &ndy, &g, &ng, &u, &nu, &n, &dg, &ndg, &du, &ndu)) return NULL;
  if (n < 0 || ndy < (size_t)n || ng < (size_t)n || nu < (size_t)n || ndg < (size_t)n || ndu < (size_t)n)
    return range_error(env, "swigluGrad: arrays shorter than n");
  llmrec_swiglu_grad(dy, g, u, n, dg, du);
  return NULL;
}

static napi_value LayerNorm(napi_env env, napi_callback_info info) {
  float *x, *gamma, *beta, *y, *mean, *rstd;
  size_t nx, ng, nb, ny, nm, nr;
  int64_t N, D;
  double eps;
  if (!parse_args(env, info, "fffnndfff", "layerNorm(x, gamma, beta: F32, N, D, eps, y, mean, rstd: F32)",
                  &x, &nx, &gamma, &ng, &beta, &nb, &N, &D, &eps, &y, &ny, &mean, &nm, &rstd, &nr)) return NULL;
  if (N < 0 || D < 0 || nx < (size_t)(N * D) || ny < (size_t)(N * D) || ng < (size_t)D || nb < (size_t)D ||
      nm < (size_t)N || nr < (size_t)N)
    return range_error(env, "layerNorm: arrays too small for N x D");
  llmrec_layer_norm(x, gamma, beta, N, D, eps, y, mean, rstd);
  return NULL;
}

static napi_value LayerNormGrad(napi_env env, napi_callback_info info) {
  float *dy, *x, *mean, *rstd, *gamma, *dx, *dgamma, *dbeta;
  size_t ndy, nx, nm, nr, ng, ndx, ndg, ndb;
  int64_t N, D;
  if (!parse_args(env, info, "fffffnnfff", "layerNormGrad(dy, x, mean, rstd, gamma: F32, N, D, dx, dgamma, dbeta: F32)",
                  &dy, &ndy, &x, &nx, &mean, &nm, &rstd, &nr, &gamma, &ng, &N, &D, &dx, &ndx, &dgamma, &ndg, &dbeta, &ndb))
    return NULL;
  if (N < 0 || D < 0 || ndy < (size_t)(N * D) || nx < (size_t)(N * D) || ndx < (size_t)(N * D) || nm < (size_t)N ||
      nr < (size_t)N || ng < (size_t)D || ndg < (size_t)D || ndb < (size_t)D)
    return range_error(env, "layerNormGrad: arrays too small for N x D");
  llmrec_layer_norm_grad(dy, x, mean, rstd, gamma, N, D, dx, dgamma, dbeta);
  return NULL;
}

static napi_value ReduceMiddle(napi_env env, napi_callback_info info) {
  float *x, *out;
  size_t nx, no;
  int64_t outer, R, inner;
  double scale;
  if (!parse_args(env, info, "fnnnfd", "reduceMiddle(x: F32, outer, R, inner, out: F32, scale)",
                  &x, &nx, &outer, &R, &inner, &out, &no, &scale)) return NULL;
  if (outer < 0 || R < 0 || inner < 0 || nx < (size_t)(outer * R * inner) || no < (size_t)(outer * inner))
    return range_error(env, "reduceMiddle: arrays too small for outer x R x inner");
  llmrec_reduce_middle(x, outer, R, inner, out, scale);
  return NULL;
}

static napi_value GruCell(napi_env env, napi_callback_info info) {
  float *gx, *gh, *h, *ho, *gates;
  size_t ngx, ngh, nh, nho, ng;
  int64_t B, d;
  if (!parse_args(env, info, "fffnnff", "gruCell(gx, gh, h: F32, B, d, hOut, gates: F32)",
                  &gx, &ngx, &gh, &ngh, &h, &nh, &B, &d, &ho, &nho, &gates, &ng)) return NULL;
  if (B < 0 || d < 0 || ngx < (size_t)(3 * B * d) || ngh < (size_t)(3 * B * d) || ng < (size_t)(3 * B * d) ||
      nh < (size_t)(B * d) || nho < (size_t)(B * d))
    return range_error(env, "gruCell: arrays too small for B x d");
  llmrec_gru_cell(gx, gh, h, B, d, ho, gates);
  return NULL;
}

static napi_value GruCellGrad(napi_env env, napi_callback_info info) {
  float *dhn, *gates, *gh, *h, *dgx, *dgh, *dh;
  size_t ndhn, ng, ngh, nh, ndgx, ndgh, ndh;
  int64_t B, d;
  if (!parse_args(env, info, "ffffnnfff", "gruCellGrad(dhNew, gates, gh, h: F32, B, d, dgx, dgh, dh: F32)",
                  &dhn, &ndhn, &gates, &ng, &gh, &ngh, &h, &nh, &B, &d, &dgx, &ndgx, &dgh, &ndgh, &dh, &ndh)) return NULL;
  size_t n1 = (size_t)(B * d), n3 = 3 * n1;
  if (B < 0 || d < 0 || ndhn < n1 || nh < n1 || ndh < n1 || ng < n3 || ngh < n3 || ndgx < n3 || ndgh < n3)
    return range_error(env, "gruCellGrad: arrays too small for B x d");
  llmrec_gru_cell_grad(dhn, gates, gh, h, B, d, dgx, dgh, dh);
  return NULL;
}

static napi_value SegmentSum(napi_env env, napi_callback_info info) {
  float *x, *out;
  int32_t *ids;
  size_t nx, nids, no;
  int64_t n, inner, segs;
  if (!parse_args(env, info, "finnnf", "segmentSum(x: F32, ids: I32, n, inner, numSegments, out: F32)",
                  &x, &nx, &ids, &nids, &n, &inner, &segs, &out, &no)) return NULL;
  if (n < 0 || inner < 0 || segs < 0 || nids < (size_t)n || nx < (size_t)(n * inner) || no < (size_t)(segs * inner))
    return range_error(env, "segmentSum: arrays too small");
  llmrec_segment_sum(x, ids, n, inner, segs, out);
  return NULL;
}

static napi_value GatherRows(napi_env env, napi_callback_info info) {
  float *x, *out;
  int32_t *ids;
  size_t nx, nids, no;
  int64_t n, inner;
  if (!parse_args(env, info, "finnf", "gatherRows(x: F32, ids: I32, n, inner, out: F32)", &x, &nx, &ids, &nids, &n, &inner,
                  &out, &no)) return NULL;
  if (n < 0 || inner < 0 || nids < (size_t)n || no < (size_t)(n * inner)) return range_error(env, "gatherRows: arrays too small");
  int64_t rows = inner > 0 ? (int64_t)nx / inner : 0;
  for (int64_t i = 0; i < n; i++)
    if (ids[i] < 0 || ids[i] >= rows) return range_error(env, "gatherRows: index out of range");
  llmrec_gather_rows(x, ids, n, inner, out);
  return NULL;
}

static napi_value AdamW(napi_env env, napi_callback_info info) {
  float *p, *g, *m, *v, *po, *mo, *vo;
  size_t np, ng, nm, nv, npo, nmo, nvo;
  double lr, b1, b2, eps, wd, bc1, bc2, gs;
  if (!parse_args(env, info, "ffffddddddddfff",
                  "adamw(p, g, m, v: F32, lr, beta1, beta2, eps, weightDecay, bc1, bc2, gradScale, pOut, mOut, vOut: F32)",
                  &p, &np, &g, &ng, &m, &nm, &v, &nv, &lr, &b1, &b2, &eps, &wd, &bc1, &bc2, &gs, &po, &npo, &mo, &nmo, &vo, &nvo))
    return NULL;
  if (ng < np || nm < np || nv < np || npo < np || nmo < np || nvo < np)
    return range_error(env, "adamw: arrays shorter than p");
  llmrec_adamw(p, g, m, v, (int64_t)np, lr, b1, b2, eps, wd, bc1, bc2, gs, po, mo, vo);
  return NULL;
}

static napi_value AttnSoftmax(napi_env env, napi_callback_info info) {
  float *s, *mask;
  int32_t *base;
  size_t ns, nm, nb;
  int64_t sOff, batch, Lq, Lk, mOff, rowStride, colStride, hasMask;
  double scale;
  if (!parse_args(env, info, "fnnnndfninnn",
                  "attnSoftmax(s: F32, sOff, batch, Lq, Lk, scale, mask: F32, mOff, base: I32, rowStride, colStride, hasMask)",
                  &s, &ns, &sOff, &batch, &Lq, &Lk, &scale, &mask, &nm, &mOff, &base, &nb, &rowStride, &colStride, &hasMask))
    return NULL;
  if (sOff < 0 || batch < 0 || Lq < 0 || Lk < 0 || (uint64_t)(sOff + batch * Lq * Lk) > ns || (size_t)batch > nb)
    return range_error(env, "attnSoftmax: scores or base too small for batch x Lq x Lk");
  if (batch == 0 || Lq == 0 || Lk == 0) return NULL;
  if (hasMask) {
    if (mOff < 0 || rowStride < 0 || colStride < 0) return range_error(env, "attnSoftmax: negative mask offset or stride");
    int64_t span = (Lq > 0 ? (Lq - 1) * rowStride : 0) + (Lk > 0 ? (Lk - 1) * colStride : 0);
    for (int64_t b = 0; b < batch; b++)
      if (base[b] < 0 || (uint64_t)(mOff + base[b] + span) >= nm) return range_error(env, "attnSoftmax: mask too small");
  }
  llmrec_attn_softmax(s + sOff, batch, Lq, Lk, (float)scale, hasMask ? mask + mOff : NULL, base, rowStride, colStride);
  return NULL;
}

static napi_value AttnSoftmaxGrad(napi_env env, napi_callback_info info) {
  float *h;
  size_t nh;
  int64_t pOff, dpOff, rows, Lk;
  double scale;
  if (!parse_args(env, info, "fnnnnd", "attnSoftmaxGrad(heap: F32, pOff, dpOff, rows, Lk, scale)",
                  &h, &nh, &pOff, &dpOff, &rows, &Lk, &scale)) return NULL;
  if (pOff < 0 || dpOff < 0 || rows < 0 || Lk < 0 || (uint64_t)(pOff + rows * Lk) > nh || (uint64_t)(dpOff + rows * Lk) > nh)
    return range_error(env, "attnSoftmaxGrad: arrays too small for rows x Lk");
  llmrec_attn_softmax_grad(h + pOff, h + dpOff, rows, Lk, (float)scale);
  return NULL;
}

static napi_value SetThreadPolicy(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 2) {
    napi_throw_type_error(env, "LLMREC_BLAS", "setThreadPolicy expects 2 arguments");
    return NULL;
  }
  int32_t maxThreads;
  double minFlops;
  CHECK(napi_get_value_int32(env, argv[0], &maxThreads));
  CHECK(napi_get_value_double(env, argv[1], &minFlops));
  if (maxThreads < 1) {
    napi_throw_range_error(env, "LLMREC_BLAS", "maxThreads must be >= 1");
    return NULL;
  }
  g_max_threads = maxThreads;
  g_min_flops_for_max = minFlops;
  g_current_threads = -1;
  return NULL;
}

static napi_value Info(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value obj, v;
  CHECK(napi_create_object(env, &obj));
  CHECK(napi_create_string_utf8(env, openblas_get_config(), NAPI_AUTO_LENGTH, &v));
  CHECK(napi_set_named_property(env, obj, "config", v));
  CHECK(napi_create_string_utf8(env, openblas_get_corename(), NAPI_AUTO_LENGTH, &v));
  CHECK(napi_set_named_property(env, obj, "corename", v));
  CHECK(napi_create_int32(env, g_max_threads, &v));
  CHECK(napi_set_named_property(env, obj, "maxThreads", v));
  CHECK(napi_create_double(env, g_min_flops_for_max, &v));
  CHECK(napi_set_named_property(env, obj, "minFlopsForMaxThreads", v));
  return obj;
}

/*
 * tuneMalloc(mmapThreshold, trimThreshold, topPad) -> boolean: glibc's mallopt
 * (docs/PERF.md, "Fresh memory"). With glibc's defaults every large ArrayBuffer
 * JavaScript allocates and frees (a mask, a read-back, a copy) is a fresh mmap
 * or a heap that is trimmed back to the system, so its pages fault in again on
 * each use: about 3 ms per MiB on the machines measured. Returns false where
 * there is no glibc (nothing changed).
 */
static napi_value TuneMalloc(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], out;
  double v[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 3) { napi_throw_type_error(env, NULL, "tuneMalloc(mmapThreshold, trimThreshold, topPad): 3 numbers expected"); return NULL; }
  for (int k = 0; k < 3; k++) {
    if (napi_get_value_double(env, argv[k], &v[k]) != napi_ok || !(v[k] >= 0 && v[k] <= 1073741824.0)) {
      napi_throw_range_error(env, NULL, "tuneMalloc: each argument must be a number of bytes in [0, 1 GiB]");
      return NULL;
    }
  }
  int ok = 0;
#ifdef __GLIBC__
  ok = mallopt(M_MMAP_THRESHOLD, (int)v[0]) == 1 && mallopt(M_TRIM_THRESHOLD, (int)v[1]) == 1 && mallopt(M_TOP_PAD, (int)v[2]) == 1;
#endif
  CHECK(napi_get_boolean(env, ok != 0, &out));
  return out;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"sgemmBatched", NULL, SgemmBatched, NULL, NULL, NULL, napi_default, NULL},
      {"setThreadPolicy", NULL, SetThreadPolicy, NULL, NULL, NULL, napi_default, NULL},
      {"info", NULL, Info, NULL, NULL, NULL, napi_default, NULL},
      {"tuneMalloc", NULL, TuneMalloc, NULL, NULL, NULL, napi_default, NULL},
      {"softmaxXent", NULL, SoftmaxXent, NULL, NULL, NULL, napi_default, NULL},
      {"swiglu", NULL, SwiGlu, NULL, NULL, NULL, napi_default, NULL},
      {"swigluGrad", NULL, SwiGluGrad, NULL, NULL, NULL, napi_default, NULL},
      {"softmaxXentGrad", NULL, SoftmaxXentGrad, NULL, NULL, NULL, napi_default, NULL},
      {"layerNorm", NULL, LayerNorm, NULL, NULL, NULL, napi_default, NULL},
      {"layerNormGrad", NULL, LayerNormGrad, NULL, NULL, NULL, napi_default, NULL},
      {"reduceMiddle", NULL, ReduceMiddle, NULL, NULL, NULL, napi_default, NULL},
      {"adamw", NULL, AdamW, NULL, NULL, NULL, napi_default, NULL},
      {"segmentSum", NULL, SegmentSum, NULL, NULL, NULL, napi_default, NULL},
      {"gatherRows", NULL, GatherRows, NULL, NULL, NULL, napi_default, NULL},
      {"gruCell", NULL, GruCell, NULL, NULL, NULL, napi_default, NULL},
      {"gruCellGrad", NULL, GruCellGrad, NULL, NULL, NULL, napi_default, NULL},
      {"attnSoftmax", NULL, AttnSoftmax, NULL, NULL, NULL, napi_default, NULL},
      {"attnSoftmaxGrad", NULL, AttnSoftmaxGrad, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
