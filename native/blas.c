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
 *   setThreadPolicy(maxThreads, minFlopsForMaxThreads)
 *   info() -> { config, corename, maxThreads, minFlopsForMaxThreads }
 */
#include <node_api.h>
#include <cblas.h>
#include <stdint.h>
#include <stdio.h>
#include <math.h>

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

static napi_status get_i32arr(napi_env env, napi_value v, int32_t **data, size_t *len) {
  napi_typedarray_type type;
  napi_value ab;
  size_t off;
  void *ptr;
  napi_status s = napi_get_typedarray_info(env, v, &type, len, &ptr, &ab, &off);
  if (s != napi_ok) return s;
  if (type != napi_int32_array) return napi_invalid_arg;
  *data = (int32_t *)ptr;
  return napi_ok;
}

static napi_value SoftmaxXent(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  float *logits, *loss, *probs;
  int32_t *labels;
  size_t nl, nlab, nloss, np;
  int64_t N, V;
  if (argc != 6 || get_f32(env, argv[0], &logits, &nl) != napi_ok ||
      get_i32arr(env, argv[1], &labels, &nlab) != napi_ok ||
      get_i64(env, argv[2], &N) != napi_ok || get_i64(env, argv[3], &V) != napi_ok ||
      get_f32(env, argv[4], &loss, &nloss) != napi_ok ||
      get_f32(env, argv[5], &probs, &np) != napi_ok) {
    napi_throw_type_error(env, "LLMREC_BLAS", "softmaxXent(logits: F32, labels: I32, N, V, loss: F32, probs: F32)");
    return NULL;
  }
  if (N < 0 || V <= 0 || nl < (size_t)(N * V) || np < (size_t)(N * V) || nlab < (size_t)N || nloss < (size_t)N) {
    napi_throw_range_error(env, "LLMREC_BLAS", "softmaxXent: arrays too small for N x V");
    return NULL;
  }
  for (int64_t n = 0; n < N; n++) {
    const float *x = logits + n * V;
    float *p = probs + n * V;
    float mx = x[0];
    for (int64_t v = 1; v < V; v++) mx = x[v] > mx ? x[v] : mx;
    float sum = 0.f;
    for (int64_t v = 0; v < V; v++) {
      p[v] = expf(x[v] - mx);
      sum += p[v];
    }
    float inv = 1.f / sum;
    for (int64_t v = 0; v < V; v++) p[v] *= inv;
    int32_t y = labels[n];
    loss[n] = (y >= 0 && y < V) ? (logf(sum) + mx - x[y]) : 0.f;
  }
  return NULL;
}

static napi_value SoftmaxXentGrad(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  float *probs, *dy, *out;
  int32_t *labels;
  size_t np, nlab, ndy, no;
  int64_t N, V;
  if (argc != 6 || get_f32(env, argv[0], &probs, &np) != napi_ok ||
      get_i32arr(env, argv[1], &labels, &nlab) != napi_ok ||
      get_f32(env, argv[2], &dy, &ndy) != napi_ok ||
      get_i64(env, argv[3], &N) != napi_ok || get_i64(env, argv[4], &V) != napi_ok ||
      get_f32(env, argv[5], &out, &no) != napi_ok) {
    napi_throw_type_error(env, "LLMREC_BLAS", "softmaxXentGrad(probs: F32, labels: I32, dy: F32, N, V, out: F32)");
    return NULL;
  }
  if (N < 0 || V <= 0 || np < (size_t)(N * V) || no < (size_t)(N * V) || nlab < (size_t)N || ndy < (size_t)N) {
    napi_throw_range_error(env, "LLMREC_BLAS", "softmaxXentGrad: arrays too small for N x V");
    return NULL;
  }
  for (int64_t n = 0; n < N; n++) {
    const float *p = probs + n * V;
    float *o = out + n * V;
    int32_t y = labels[n];
    float g = (y >= 0 && y < V) ? dy[n] : 0.f;
    for (int64_t v = 0; v < V; v++) o[v] = g * p[v];
    if (y >= 0 && y < V) o[y] -= g;
  }
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

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"sgemmBatched", NULL, SgemmBatched, NULL, NULL, NULL, napi_default, NULL},
      {"setThreadPolicy", NULL, SetThreadPolicy, NULL, NULL, NULL, napi_default, NULL},
      {"info", NULL, Info, NULL, NULL, NULL, napi_default, NULL},
      {"softmaxXent", NULL, SoftmaxXent, NULL, NULL, NULL, napi_default, NULL},
      {"softmaxXentGrad", NULL, SoftmaxXentGrad, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_define_properties(env, exports, 5, props) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
